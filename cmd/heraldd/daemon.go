package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldxmpp/herald/c2s"
	"github.com/heraldxmpp/herald/cmd/internal/config"
	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
	"github.com/heraldxmpp/herald/ops"
	"github.com/heraldxmpp/herald/roster"
	"github.com/heraldxmpp/herald/s2s"
)

// daemon is one running heraldd: the pieces start builds, in the order
// close tears them down.
type daemon struct {
	cfg      config.Config
	log      *slog.Logger
	node     *consensus.Node
	store    *store
	router   *delivery.Router
	roster   *roster.Service
	c2s      *c2s.Server
	s2s      *s2s.Server
	resolver *s2s.Resolver
	tls      *tls.Config
	admin    *http.Server
	metrics  *http.Server
	// addrs are the bound listener addresses by role, for the log, the
	// status call and tests that listen on port 0.
	addrs map[string][]string
}

// start builds and starts every component; on error it undoes what it
// started.
func start(cfg config.Config, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: log, addrs: map[string][]string{}}
	defer func() {
		if err != nil {
			d.close(context.Background())
		}
	}()
	domains := map[string]bool{}
	for i, raw := range cfg.Domains {
		j, err := jid.Parse(raw)
		if err != nil || j.Local() != "" || !j.IsBare() {
			return nil, fmt.Errorf("domain %q is not a valid domain name", raw)
		}
		cfg.Domains[i] = j.Domain()
		domains[j.Domain()] = true
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	if err := d.createStore(domains); err != nil {
		return nil, err
	}
	if err := d.createC2S(domains); err != nil {
		return nil, err
	}
	if err := d.createS2S(); err != nil {
		return nil, err
	}
	if err := d.startAdmin(); err != nil {
		return nil, err
	}
	log.Info("herald is running",
		"domains", strings.Join(cfg.Domains, ","),
		"data", absPath(cfg.DataDir),
		"c2s_starttls", strings.Join(d.addrs["c2s"], ","),
		"c2s_directtls", strings.Join(d.addrs["c2s_tls"], ","),
		"s2s_starttls", strings.Join(d.addrs["s2s"], ","),
		"s2s_directtls", strings.Join(d.addrs["s2s_tls"], ","),
		"admin", absPath(cfg.Admin.Socket))
	return d, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func (d *daemon) createStore(domains map[string]bool) error {
	cc := consensus.Config{
		Dir:          filepath.Join(d.cfg.DataDir, "consensus"),
		NodeID:       d.cfg.Cluster.NodeID,
		Bootstrap:    true,
		Logger:       d.log.With("component", "consensus"),
		OfflineLimit: d.cfg.Limits.OfflinePerUser,
	}
	if c := d.cfg.Cluster; c.Bind != "" {
		secret, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return fmt.Errorf("reading cluster.secret_file: %w", err)
		}
		cc.ClusterAddr, cc.AdvertiseAddr, cc.Secret = c.Bind, c.Advertise, bytes.TrimSpace(secret)
		cc.Bootstrap, cc.Join = c.Bootstrap, c.Join
	}
	node, err := consensus.Open(cc)
	if errors.Is(err, consensus.ErrAuth) {
		return fmt.Errorf("the cluster refused this node's secret: every node needs the same cluster.secret_file: %w", err)
	}
	if err != nil {
		return fmt.Errorf("opening the state store: %w", err)
	}
	d.node = node
	d.store = &store{node: node, domains: domains, minPassword: d.cfg.Limits.MinPasswordLength, log: d.log}
	return nil
}

func (d *daemon) createC2S(domains map[string]bool) error {
	cert, path, generated, err := loadCertificate(d.cfg.TLS.Cert, d.cfg.TLS.Key, d.cfg.DataDir, d.cfg.Domains)
	if err != nil {
		return err
	}
	if generated {
		d.log.Info("using a self-signed certificate; clients will ask to trust it", "file", absPath(path), "sha256", fingerprint(cert))
	}
	d.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	reg := delivery.NewRegistry()
	svc := delivery.NewService("Herald", version, d.store)
	d.router = &delivery.Router{
		Domains: domains, Registry: reg, Accounts: d.store,
		Offline: d.store, Server: svc, Log: d.log,
	}
	rs := &roster.Service{
		Store: &rosterStore{node: d.node, log: d.log,
			maxItems: uint32(d.cfg.Limits.RosterItems), maxPending: uint32(d.cfg.Limits.PendingRequests)},
		Send:          &rosterSender{router: d.router, store: d.store},
		Limits:        roster.Limits{MaxItems: d.cfg.Limits.RosterItems},
		Now:           func() int64 { return time.Now().UnixNano() },
		SubscribeRate: d.cfg.Limits.SubscribesPerMinute,
		Log:           d.log.With("component", "roster"),
	}
	d.router.Presence = rs
	d.roster = rs
	d.shareSessions(reg, rs)
	svc.HandleUser(stanza.Name{Space: roster.NSRoster, Local: "query"}, rs.HandleIQ)
	conflict := map[string]delivery.Conflict{
		"rename": delivery.ConflictRename, "refuse": delivery.ConflictRefuse, "replace": delivery.ConflictReplace,
	}[d.cfg.C2S.ResourceConflict]
	srv, err := c2s.New(c2s.Config{
		Domains:        d.cfg.Domains,
		TLS:            d.tls,
		AllowPlaintext: d.cfg.C2S.AllowPlaintext,
		Limits:         xmlstream.Limits{MaxStanza: d.cfg.Limits.MaxStanza, MaxDepth: d.cfg.Limits.MaxDepth},
		PreAuthTimeout: d.cfg.C2S.PreAuthTimeout.Duration,
		WriteTimeout:   d.cfg.C2S.WriteTimeout.Duration,
		MaxQueue:       d.cfg.Limits.MaxQueue,
		MaxResources:   d.cfg.Limits.MaxResources,
		Conflict:       conflict,
		Credentials:    d.store.Credentials,
		Router:         d.router,
		Offline:        d.store,
		Presence:       rs,
		// RFC 6121 2.6.1 and 3.4: roster versioning and pre-approval.
		StreamFeatures: []*stanza.Element{
			stanza.NewElement("urn:xmpp:features:rosterver", "ver"),
			stanza.NewElement("urn:xmpp:features:pre-approval", "sub"),
		},
		Log: d.log.With("component", "c2s"),
	})
	if err != nil {
		return err
	}
	d.c2s = srv
	if err := d.listen("c2s", d.cfg.C2S.Listen, false, srv.Serve); err != nil {
		return err
	}
	return d.listen("c2s_tls", d.cfg.C2S.ListenTLS, true, srv.Serve)
}

// listen opens each address for role and serves it in the background.
func (d *daemon) listen(role string, addrs []string, direct bool, serve func(net.Listener, bool) error) error {
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("listening (%s) on %s: %w", role, a, err)
		}
		d.addrs[role] = append(d.addrs[role], ln.Addr().String())
		go func() {
			if err := serve(ln, direct); err != nil && !errors.Is(err, net.ErrClosed) {
				d.log.Error("listener stopped", "role", role, "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
	return nil
}

// createS2S starts federation unless it is disabled.
func (d *daemon) createS2S() error {
	if d.cfg.S2S.Disable {
		return nil
	}
	var roots *x509.CertPool
	if d.cfg.S2S.CAFile != "" {
		pem, err := os.ReadFile(d.cfg.S2S.CAFile)
		if err != nil {
			return fmt.Errorf("reading s2s.ca_file: %w", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("s2s.ca_file %s holds no PEM certificate", d.cfg.S2S.CAFile)
		}
	}
	secret, err := dialbackSecret(d.cfg)
	if err != nil {
		return err
	}
	d.resolver = &s2s.Resolver{Servers: d.cfg.S2S.Resolvers}
	srv, err := s2s.New(s2s.Config{
		Domains:        d.cfg.Domains,
		TLS:            d.tls,
		RootCAs:        roots,
		Resolver:       d.resolver,
		DialbackSecret: secret,
		RequireCert:    d.cfg.S2S.RequireCert,
		Router:         d.router,
		Limits:         xmlstream.Limits{MaxStanza: d.cfg.Limits.MaxStanza, MaxDepth: d.cfg.Limits.MaxDepth},
		Log:            d.log.With("component", "s2s"),
	})
	if err != nil {
		return err
	}
	d.s2s = srv
	d.router.Remote = srv
	if err := d.listen("s2s", d.cfg.S2S.Listen, false, srv.Serve); err != nil {
		return err
	}
	return d.listen("s2s_tls", d.cfg.S2S.ListenTLS, true, srv.Serve)
}

// dialbackSecret returns the XEP-0185 key secret. In a cluster it is
// derived from the shared cluster secret, so that a key one node sends is
// verified by whichever node the peer reaches; a single node keeps a
// random one in its data directory, made at first start, so that keys
// stay valid across restarts.
func dialbackSecret(cfg config.Config) ([]byte, error) {
	if cfg.Cluster.Bind != "" {
		shared, err := os.ReadFile(cfg.Cluster.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("reading cluster.secret_file: %w", err)
		}
		m := hmac.New(sha256.New, bytes.TrimSpace(shared))
		m.Write([]byte("herald dialback secret"))
		return m.Sum(nil), nil
	}
	path := filepath.Join(cfg.DataDir, "dialback.secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing the dialback secret: %w", err)
	}
	return b, nil
}

// startAdmin serves the admin API on a unix socket only its owner can
// open: whoever can connect is an administrator.
func (d *daemon) startAdmin() error {
	path := d.cfg.Admin.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("another heraldd is already serving the admin socket %s", path)
	}
	os.Remove(path) // a stale socket from a crash
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	d.addrs["admin"] = []string{path}
	d.admin = &http.Server{Handler: ops.Handler(&backend{d}, d.log.With("component", "admin"))}
	go d.admin.Serve(ln)
	if addr := d.cfg.Admin.Metrics; addr != "" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics listener %s: %w", addr, err)
		}
		d.addrs["metrics"] = []string{mln.Addr().String()}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", ops.Metrics(&backend{d}))
		d.metrics = &http.Server{Handler: mux}
		go d.metrics.Serve(mln)
	}
	return nil
}

// close stops everything start started, in reverse order.
func (d *daemon) close(ctx context.Context) error {
	var errs []error
	if d.metrics != nil {
		d.metrics.Shutdown(ctx)
	}
	if d.admin != nil {
		d.admin.Shutdown(ctx)
		os.Remove(d.cfg.Admin.Socket)
	}
	if d.c2s != nil {
		if err := d.c2s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.s2s != nil {
		if err := d.s2s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.node != nil {
		if err := d.node.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// backend is the daemon as the admin API sees it.
type backend struct{ d *daemon }

func (b *backend) Status(ctx context.Context) (ops.Status, error) {
	listen := map[string]string{}
	for k, v := range b.d.addrs {
		listen[k] = strings.Join(v, ",")
	}
	st := ops.Status{
		Version:  version,
		Domains:  b.d.cfg.Domains,
		DataDir:  absPath(b.d.cfg.DataDir),
		Sessions: b.d.router.Registry.Count(),
		Listen:   listen,
		Raft:     b.d.node.Stats(),
	}
	if b.d.c2s != nil {
		a := b.d.c2s.AuthStats()
		st.Auth = ops.AuthCounts{Attempts: a.Attempts, Successes: a.Successes, Failures: a.Failures, Mismatches: a.Mismatches}
	}
	return st, nil
}

func (b *backend) ListUsers(ctx context.Context, domain string) ([]string, error) {
	return b.d.store.ListUsers(ctx, domain)
}

func (b *backend) CreateUser(ctx context.Context, jid, password string) error {
	return b.d.store.CreateUser(ctx, jid, password)
}

func (b *backend) SetPassword(ctx context.Context, jid, password string) error {
	return b.d.store.SetPassword(ctx, jid, password)
}

func (b *backend) DeleteUser(ctx context.Context, raw string) error {
	j, err := b.d.store.deleteUser(ctx, raw)
	if err != nil {
		return err
	}
	// The account is gone: its sessions end (RFC 6120 4.9.3.12).
	b.d.c2s.Kick(j, xmlstream.NewError(xmlstream.NotAuthorized, "the account was deleted"))
	return nil
}

func (b *backend) Sessions(ctx context.Context) ([]ops.Session, error) {
	var out []ops.Session
	b.d.router.Registry.All(func(r delivery.Resource) bool {
		out = append(out, ops.Session{JID: r.JID.String(), Available: r.Available, Priority: int(r.Priority)})
		return true
	})
	return out, nil
}
