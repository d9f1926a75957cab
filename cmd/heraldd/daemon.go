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
	"sync/atomic"

	"github.com/heraldxmpp/herald/c2s"
	"github.com/heraldxmpp/herald/cmd/internal/config"
	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/blocking"
	"github.com/heraldxmpp/herald/delivery/carbons"
	"github.com/heraldxmpp/herald/delivery/disco"
	"github.com/heraldxmpp/herald/delivery/gate"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/private"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/vcard"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
	"github.com/heraldxmpp/herald/ops"
	rosterservice "github.com/heraldxmpp/herald/roster/service"
	"github.com/heraldxmpp/herald/s2s"
	"github.com/heraldxmpp/herald/s2s/component"
)

// daemon is one heraldd: the pieces newDaemon builds and wires, the
// listeners serve opens, in the order close tears them down.
type daemon struct {
	cfg      config.Config
	log      *slog.Logger
	node     *consensus.Node
	store    *store
	router   *delivery.Router
	roster   *rosterservice.Service
	carbons  *carbons.Service
	blocking *blocking.Service
	private  *private.Service
	vcard    *vcard.Service
	sessions *delivery.Cluster // nil without a cluster port, and so is departed
	departed *departures
	c2s      *c2s.Server
	s2s      *s2s.Server
	// components is nil without a [[component]] (component.go).
	components *component.Server
	resolver   *s2s.Resolver
	tls        *tls.Config
	admin      *http.Server
	metrics    *http.Server
	// gate is in front of every listener (limits.go).
	gate       *gate.Gate
	fileLimit  uint64
	maxClients int
	// addrs are the bound listener addresses by role, for the log, the
	// status call and tests that listen on port 0.
	addrs map[string][]string
	// serving is set once every listener is open and served, and cleared
	// when close begins (health.go).
	serving atomic.Bool
}

// start builds the daemon, then serves: what run does.
func start(cfg config.Config, log *slog.Logger) (*daemon, error) {
	d, err := newDaemon(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := d.serve(); err != nil {
		d.close(context.Background())
		return nil, err
	}
	return d, nil
}

// newDaemon builds every part of the server and wires them together. It
// opens the state store (and with it the cluster port Raft needs) but no
// client, server or admin listener: nothing outside can reach the parts
// before they are all in place. On error it closes what it opened.
func newDaemon(cfg config.Config, log *slog.Logger) (_ *daemon, err error) {
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
	if err := d.createGate(); err != nil {
		return nil, err
	}
	if err := d.createStore(domains); err != nil {
		return nil, err
	}
	if err := d.createTLS(); err != nil {
		return nil, err
	}
	d.createDelivery(domains)
	if err := d.createComponents(); err != nil {
		return nil, err
	}
	if err := d.createC2S(); err != nil {
		return nil, err
	}
	if err := d.createS2S(); err != nil {
		return nil, err
	}
	d.createAdmin()
	return d, nil
}

// serve opens every listener in one step (all or none), serves them, and
// only then joins the cluster's session sharing, which announces this
// node's sessions to the others.
func (d *daemon) serve() error {
	lns, err := d.listen()
	if err != nil {
		return err
	}
	// The addresses are all known before anything is served: the admin
	// API reports them.
	for _, l := range lns {
		d.addrs[l.role] = append(d.addrs[l.role], l.ln.Addr().String())
	}
	for _, l := range lns {
		go func() {
			if err := l.serve(d.gated(l.ln, l.role)); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("listener stopped", "role", l.role, "addr", l.ln.Addr().String(), "err", err)
			}
		}()
	}
	if d.sessions != nil {
		d.departed.start()
		d.node.SetPeerHandler(d.sessions)
	}
	d.serving.Store(true)
	d.log.Info("herald is running",
		"domains", strings.Join(d.cfg.Domains, ","),
		"data", absPath(d.cfg.DataDir),
		"c2s_starttls", strings.Join(d.addrs["c2s"], ","),
		"c2s_directtls", strings.Join(d.addrs["c2s_tls"], ","),
		"s2s_starttls", strings.Join(d.addrs["s2s"], ","),
		"s2s_directtls", strings.Join(d.addrs["s2s_tls"], ","),
		"admin", absPath(d.cfg.Admin.Socket))
	return nil
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
		WrapListener: func(ln net.Listener) net.Listener { return d.gated(ln, "cluster") },
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
		return fmt.Errorf("opening the state store: %w", clusterStartErr(err))
	}
	d.node = node
	d.store = &store{node: node, domains: domains, minPassword: d.cfg.Limits.MinPasswordLength,
		stored: storedLimits(d.cfg), log: d.log}
	return nil
}

// createTLS loads the certificate, or makes a self-signed one.
func (d *daemon) createTLS() error {
	cert, path, generated, err := loadCertificate(d.cfg.TLS.Cert, d.cfg.TLS.Key, d.cfg.DataDir, d.cfg.Domains)
	if err != nil {
		return err
	}
	if generated {
		d.log.Info("using a self-signed certificate; clients will ask to trust it", "file", absPath(path), "sha256", fingerprint(cert))
	}
	d.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return nil
}

// createDelivery builds the stanza plane: the registry, the router, the
// services it answers for, the roster service and, in a cluster, the
// session sharing with the other nodes.
func (d *daemon) createDelivery(domains map[string]bool) {
	reg := delivery.NewRegistry()
	mux := delivery.NewMux()
	d.router = &delivery.Router{
		Domains: domains, Registry: reg, Accounts: d.store,
		Offline: d.store, Services: mux, Log: d.log,
	}
	d.createRoster()
	d.carbons = &carbons.Service{Registry: reg}
	d.createBlocking()
	d.createAccountData()
	mux.Add(
		&disco.Disco{Name: "Herald"},
		disco.Ping{},
		disco.Version{Name: "Herald", Version: version},
		d.roster,
		// Hooks run in this order: blocking refuses before carbons copies.
		d.blocking,
		d.carbons,
		d.private,
		d.vcard,
	)
	// XEP-0160: the router keeps messages for accounts with no available
	// resource (d.store).
	mux.Feature(delivery.NSOffline)
	d.createSessions(reg)
}

func (d *daemon) createC2S() error {
	conflict := map[string]delivery.Conflict{
		"rename": delivery.ConflictRename, "refuse": delivery.ConflictRefuse, "replace": delivery.ConflictReplace,
	}[d.cfg.C2S.ResourceConflict]
	srv, err := c2s.New(c2s.Config{
		Domains:        d.cfg.Domains,
		TLS:            d.tls,
		AllowPlaintext: d.cfg.C2S.AllowPlaintext,
		Limits:         streamLimits(d.cfg),
		PreAuthTimeout: d.cfg.C2S.PreAuthTimeout.Duration,
		WriteTimeout:   d.cfg.C2S.WriteTimeout.Duration,
		SMRequestAfter: d.cfg.C2S.SMRequestAfter,
		MaxQueue:       d.cfg.Limits.MaxQueue,
		MaxResources:   d.cfg.Limits.MaxResources,
		Conflict:       conflict,
		Credentials:    d.credentials,
		Router:         d.router,
		Offline:        d.store,
		Presence:       d.roster,
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
	return nil
}

// boundListener is one open listener and what serves it.
type boundListener struct {
	role  string
	ln    net.Listener
	serve func(net.Listener) error
}

// listen opens every configured listener: c2s, s2s, the admin socket and
// the metrics port. On error it closes those it opened and returns none.
func (d *daemon) listen() (lns []boundListener, err error) {
	defer func() {
		if err != nil {
			for _, l := range lns {
				l.ln.Close()
			}
			lns = nil
		}
	}()
	tcp := func(role string, addrs []string, serve func(net.Listener) error) error {
		for _, a := range addrs {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return fmt.Errorf("listening (%s) on %s: %w", role, a, err)
			}
			lns = append(lns, boundListener{role, ln, serve})
		}
		return nil
	}
	direct := func(serve func(net.Listener, bool) error, directTLS bool) func(net.Listener) error {
		return func(ln net.Listener) error { return serve(ln, directTLS) }
	}
	if err := tcp("c2s", d.cfg.C2S.Listen, direct(d.c2s.Serve, false)); err != nil {
		return lns, err
	}
	if err := tcp("c2s_tls", d.cfg.C2S.ListenTLS, direct(d.c2s.Serve, true)); err != nil {
		return lns, err
	}
	if d.s2s != nil {
		if err := tcp("s2s", d.cfg.S2S.Listen, direct(d.s2s.Serve, false)); err != nil {
			return lns, err
		}
		if err := tcp("s2s_tls", d.cfg.S2S.ListenTLS, direct(d.s2s.Serve, true)); err != nil {
			return lns, err
		}
	}
	if d.components != nil {
		if err := tcp("component", []string{d.cfg.ComponentListen.Listen}, d.components.Serve); err != nil {
			return lns, err
		}
	}
	ln, err := d.listenAdmin()
	if err != nil {
		return lns, err
	}
	lns = append(lns, boundListener{"admin", ln, d.admin.Serve})
	if d.metrics != nil {
		if err := tcp("metrics", []string{d.cfg.Admin.Metrics}, d.metrics.Serve); err != nil {
			return lns, fmt.Errorf("metrics listener: %w", err)
		}
	}
	return lns, nil
}

// createS2S builds federation unless it is disabled; the router sends
// stanzas for other domains through it.
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
		Limits:         streamLimits(d.cfg),
		Log:            d.log.With("component", "s2s"),
	})
	if err != nil {
		return err
	}
	d.s2s = srv
	d.router.Remote = srv
	return nil
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

// createAdmin builds the admin API and, when configured, the metrics
// endpoint for scrapers.
func (d *daemon) createAdmin() {
	d.admin = &http.Server{Handler: ops.Handler(&backend{d}, d.log.With("component", "admin"))}
	if d.cfg.Admin.Metrics != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", ops.Metrics(&backend{d}))
		ops.HealthRoutes(mux, &backend{d})
		d.metrics = &http.Server{Handler: mux}
	}
}

// listenAdmin opens the admin socket so that only its owner can connect:
// whoever can connect is an administrator.
func (d *daemon) listenAdmin() (net.Listener, error) {
	path := d.cfg.Admin.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another heraldd is already serving the admin socket %s", path)
	}
	os.Remove(path) // a stale socket from a crash
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	return ln, nil
}

// close stops everything newDaemon built and serve started, in reverse
// order. It is safe on a daemon that was built but never served.
func (d *daemon) close(ctx context.Context) error {
	var errs []error
	d.serving.Store(false)
	if d.metrics != nil {
		d.metrics.Shutdown(ctx)
	}
	if d.admin != nil {
		d.admin.Shutdown(ctx)
		if len(d.addrs["admin"]) > 0 {
			os.Remove(d.cfg.Admin.Socket)
		}
	}
	if d.departed != nil {
		d.departed.close()
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
	if d.components != nil {
		if err := d.components.Shutdown(ctx); err != nil {
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
		Metrics:  b.d.metricsOfParts(),
	}
	if b.d.c2s != nil {
		a := b.d.c2s.AuthStats()
		st.Auth = ops.AuthCounts{Attempts: a.Attempts, Successes: a.Successes, Failures: a.Failures, Mismatches: a.Mismatches}
	}
	return st, nil
}

// metricsOfParts are the figures of the bounded tables the parts keep.
func (d *daemon) metricsOfParts() []ops.Metric {
	rs := d.roster.Stats()
	cs := d.carbons.Stats()
	bs := d.blocking.Stats()
	ps, vs := d.private.Stats(), d.vcard.Stats()
	return []ops.Metric{
		{Name: "herald_roster_subscribe_buckets", Value: int64(rs.SubscribeBuckets),
			Help: "Per-account subscribe rate buckets held (bounded; least recently used evicted)."},
		{Name: "herald_roster_subscribe_buckets_evicted_total", Counter: true, Value: int64(rs.BucketsEvicted),
			Help: "Subscribe rate buckets evicted at the bound while still limiting their account."},
		{Name: "herald_presence_directed", Value: int64(rs.Directed),
			Help: "Entities remembered as having directed presence from a resource on this node."},
		{Name: "herald_presence_directed_refused_total", Counter: true, Value: int64(rs.DirectedRefused),
			Help: "Directed presence refused because the resource had reached its bound."},
		{Name: "herald_blocking_refused_in_total", Counter: true, Value: int64(bs.RefusedIn),
			Help: "Stanzas from blocked JIDs not delivered to the account (XEP-0191)."},
		{Name: "herald_blocking_refused_out_total", Counter: true, Value: int64(bs.RefusedOut),
			Help: "Stanzas an account sent to JIDs it blocks, not routed (XEP-0191)."},
		{Name: "herald_blocking_read_failures_total", Counter: true, Value: int64(bs.ReadFailures),
			Help: "Blocklist checks that could not read the list; the stanza passed."},
		{Name: "herald_blocking_limit", Value: int64(d.blocking.Limit()),
			Help: "The cap on one account's blocked JIDs (limits.blocked_jids)."},
		{Name: "herald_blocking_full_total", Counter: true, Value: int64(bs.Full),
			Help: "Blocks refused because the account's list would pass limits.blocked_jids."},
		{Name: "herald_carbons_sent_total", Counter: true, Value: int64(cs.Sent),
			Help: "Message Carbons <sent/> copies (XEP-0280) handed to an account's other resources."},
		{Name: "herald_carbons_received_total", Counter: true, Value: int64(cs.Received),
			Help: "Message Carbons <received/> copies (XEP-0280) handed to an account's other resources."},
		{Name: "herald_private_limit_bytes", Value: int64(ps.Limit),
			Help: "Private XML (XEP-0049) one account may keep, all elements together."},
		{Name: "herald_private_refused_total", Counter: true, Value: int64(ps.Refused),
			Help: "Private XML sets refused because the account's limit would be passed."},
		{Name: "herald_vcard_limit_bytes", Value: int64(vs.Limit),
			Help: "Largest serialized vCard (XEP-0054) one account may keep, PHOTO included."},
		{Name: "herald_vcard_refused_total", Counter: true, Value: int64(vs.Refused),
			Help: "vCard sets refused because the vCard was over the limit."},
	}
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
