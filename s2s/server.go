package s2s

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Router is the delivery router as s2s sees it: inbound stanzas from
// remote domains, and the bounces of stanzas that could not leave, go
// here. *delivery.Router satisfies it.
type Router interface {
	Route(st *stanza.Element, from, to jid.JID)
}

// resolver finds where a remote domain's server listens. *Resolver is the
// production implementation; tests map domains to loopback listeners.
type resolver interface {
	Resolve(ctx context.Context, domain string) ([]Target, error)
}

// hostResolver is the optional half of a resolver: turning a target's
// host name into addresses through the same DNS client. Without it the
// dialer resolves names itself.
type hostResolver interface {
	LookupHost(ctx context.Context, host string) ([]netip.Addr, error)
}

// Config is everything an s2s server needs; cmd/heraldd builds it.
type Config struct {
	// Domains are the local domains. Required.
	Domains []string
	// TLS carries our certificates: served to peers that connect to us,
	// and presented as the client certificate on connections we open.
	// Required.
	TLS *tls.Config
	// RootCAs are the trust anchors for peer certificates; nil means the
	// system roots.
	RootCAs *x509.CertPool
	// Resolver finds remote servers (*Resolver in production). Required.
	Resolver resolver
	// DialbackSecret is the XEP-0185 key material. Every node of a cluster
	// must share it, so that any node can answer a db:verify for a key
	// another node sent. Empty means a random secret per process, which is
	// only right for a single node.
	DialbackSecret []byte
	// RequireCert refuses Server Dialback as a proof of identity: peers
	// must present a certificate that verifies for their domain (SASL
	// EXTERNAL, XEP-0178, or dialback keys accepted on the strength of the
	// certificate, XEP-0344), and a remote server whose certificate does
	// not verify is not connected to. We still prove our own identity with
	// dialback when a peer asks for it.
	RequireCert bool
	// Router takes inbound stanzas and bounces. Required.
	Router Router
	// Limits bound what a peer may send on one stream.
	Limits xmlstream.Limits

	// ConnectTimeout bounds one TCP connection attempt. Default 10s.
	ConnectTimeout time.Duration
	// SetupTimeout bounds the whole setup of an outbound link: resolution,
	// every target tried, TLS and authentication. Default 30s.
	SetupTimeout time.Duration
	// IdleTimeout closes links (both directions) that carried no stanza
	// for that long. Default 10 minutes.
	IdleTimeout time.Duration
	// WriteTimeout bounds one write to a peer; a peer that does not read
	// for that long loses the connection. Default 30s.
	WriteTimeout time.Duration
	// MaxQueue is the number of stanzas one outbound link holds while it
	// connects or while the peer reads slowly; past it new stanzas are
	// bounced with <resource-constraint/>. Default 1000.
	MaxQueue int
	// SubscriptionRetry is how long presence subscription stanzas
	// (subscribe, subscribed, unsubscribe, unsubscribed) are kept and
	// retried while a remote domain is unreachable. Default 1 hour.
	SubscriptionRetry time.Duration
	// RateLimit and RateBurst are the token bucket of one inbound stream:
	// first-level elements per second, and the burst. A peer over the
	// limit is slowed down (its stream is read more slowly). Defaults
	// 10,000 and 20,000: far above what one domain normally sends another,
	// low enough that one peer cannot monopolize a core.
	RateLimit float64
	RateBurst int
	// MaxThrottle is how long a stream may stay over RateLimit (held back,
	// nothing lost) before it is cut off with policy-violation. Default 30s.
	MaxThrottle time.Duration

	Log *slog.Logger
	// Dial opens TCP connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock for link ages, idle accounting and certificate
	// validity; nil means time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 1000
	}
	if c.SubscriptionRetry <= 0 {
		c.SubscriptionRetry = time.Hour
	}
	if c.RateLimit <= 0 {
		c.RateLimit = 10000
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 20000
	}
	if c.MaxThrottle <= 0 {
		c.MaxThrottle = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Dial == nil {
		d := &net.Dialer{}
		c.Dial = d.DialContext
	}
}

// Errors of New.
var (
	ErrConfig = errors.New("s2s: incomplete configuration")
)

// Server holds the links between our domains and remote ones: outbound
// links it opens to send, inbound streams peers open to send to us.
type Server struct {
	cfg     Config
	domains map[string]bool
	// dbKey is SHA-256(DialbackSecret) in hex, the HMAC key of XEP-0185.
	dbKey []byte
	// certs maps each local domain to the certificate we present for it
	// and whether that certificate names the domain (only then is SASL
	// EXTERNAL worth trying).
	certs map[string]ownCert
	// serverTLS is cfg.TLS for accepted connections: a client certificate
	// is requested but never checked by crypto/tls (we check it).
	serverTLS, serverDirectTLS *tls.Config

	// retryMin and retryMax bound the reconnection backoff.
	retryMin, retryMax time.Duration
	// closeWait is how long we wait for a peer's closing tag.
	closeWait time.Duration
	// verifySlots bounds concurrent dialback verifications.
	verifySlots chan struct{}

	ctx    context.Context
	cancel context.CancelFunc

	// streams holds the inbound streams, the listeners and every
	// goroutine Shutdown waits for.
	streams xmlstream.Streams[*inConn]

	mu  sync.Mutex
	out map[pair]*link
}

// pair is a (local domain, remote domain) association.
type pair struct{ local, remote string }

type ownCert struct {
	cert  *tls.Certificate
	names bool // the certificate is valid for the domain by name
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if len(cfg.Domains) == 0 || cfg.TLS == nil || cfg.Router == nil || cfg.Resolver == nil {
		return nil, ErrConfig
	}
	s := &Server{
		cfg:         cfg,
		domains:     map[string]bool{},
		certs:       map[string]ownCert{},
		retryMin:    time.Second,
		retryMax:    5 * time.Minute,
		closeWait:   5 * time.Second,
		verifySlots: make(chan struct{}, 64),
		out:         map[pair]*link{},
	}
	for _, d := range cfg.Domains {
		j, err := jid.Parse(d)
		if err != nil || j.Local() != "" || j.Resource() != "" {
			return nil, errors.Join(ErrConfig, errors.New("s2s: invalid domain "+d))
		}
		s.domains[j.String()] = true
		s.certs[j.String()] = pickCert(cfg.TLS, j.String())
	}
	secret := cfg.DialbackSecret
	if len(secret) == 0 {
		// XEP-0185 2 allows a secret generated at start; right for one
		// node only (see Config.DialbackSecret).
		secret = make([]byte, 32)
		rand.Read(secret)
		cfg.Log.Info("s2s: no dialback secret configured; using a random one (single node only)")
	}
	h := sha256.Sum256(secret)
	s.dbKey = []byte(hex.EncodeToString(h[:]))

	s.serverTLS = cfg.TLS.Clone()
	// RFC 6120 13.7.2 / XEP-0178: ask for the peer's certificate, and
	// judge it ourselves against the 'from' of its stream header; a
	// certificate that does not verify still leaves dialback open.
	s.serverTLS.ClientAuth = tls.RequestClientCert
	s.serverTLS.ClientCAs = nil
	if s.serverTLS.MinVersion < tls.VersionTLS12 {
		s.serverTLS.MinVersion = tls.VersionTLS12
	}
	s.serverDirectTLS = s.serverTLS.Clone()
	// XEP-0368: direct TLS for servers negotiates ALPN "xmpp-server".
	s.serverDirectTLS.NextProtos = []string{alpnServer}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

const alpnServer = "xmpp-server"

// Serve accepts connections on ln until it is closed. With directTLS the
// TLS handshake comes first (XEP-0368, port 5270); otherwise peers use
// STARTTLS (port 5269).
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	return s.streams.Serve(ln, func(nc net.Conn) *inConn {
		return newInConn(s, nc, directTLS)
	}, (*inConn).run)
}

// Direction says who opened a link.
type Direction string

// Directions.
const (
	Outbound Direction = "out" // we opened it, to send
	Inbound  Direction = "in"  // the peer opened it, to send to us
)

// AuthMethod says how a link's remote domain was authenticated.
type AuthMethod string

// Authentication methods.
const (
	AuthNone     AuthMethod = ""
	AuthCert     AuthMethod = "cert"     // SASL EXTERNAL, or a dialback key accepted on a valid certificate (XEP-0344)
	AuthDialback AuthMethod = "dialback" // XEP-0220 verified with the authoritative server
)

// LinkInfo describes one link for the admin API.
type LinkInfo struct {
	State     string // connecting, ready, backoff, closing, negotiating
	Local     string
	Remote    string // for an inbound stream not yet authenticated, the 'from' of its header
	Direction Direction
	Auth      AuthMethod
	In, Out   uint64 // stanzas received and sent
	Queued    int    // stanzas waiting (outbound)
	Failures  int    // failed setups since the link last worked (outbound)
	Since     time.Time
}

// Links returns every link, outbound first, each group sorted by
// (local, remote).
func (s *Server) Links() []LinkInfo {
	s.mu.Lock()
	outs := make([]*link, 0, len(s.out))
	for _, l := range s.out {
		outs = append(outs, l)
	}
	s.mu.Unlock()
	ins := s.streams.List()
	var list []LinkInfo
	for _, l := range outs {
		list = append(list, l.info())
	}
	var inList []LinkInfo
	for _, c := range ins {
		inList = c.info(inList)
	}
	cmp := func(a, b LinkInfo) int {
		if a.Local != b.Local {
			return strings.Compare(a.Local, b.Local)
		}
		return strings.Compare(a.Remote, b.Remote)
	}
	slices.SortFunc(list, cmp)
	slices.SortFunc(inList, cmp)
	return append(list, inList...)
}

// Shutdown stops accepting, bounces what waits on links that are not up,
// closes every stream (</stream:stream> on ours, <system-shutdown/> on the
// peers', RFC 6120 4.9.3.19) and waits for the connections to end or ctx
// to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	var links []*link
	stop := func() {
		s.mu.Lock()
		for _, l := range s.out {
			links = append(links, l)
		}
		s.mu.Unlock()
		s.cancel() // setups and verifications in flight give up
		for _, l := range links {
			l.shutdown()
		}
	}
	abort := func() {
		for _, l := range links {
			l.mu.Lock()
			if l.c != nil {
				l.c.raw.Close()
			}
			l.mu.Unlock()
		}
	}
	return s.streams.Shutdown(ctx, stop, abort)
}

// spawn runs fn on a goroutine that Shutdown waits for, unless the server
// is closed.
func (s *Server) spawn(fn func()) bool { return s.streams.Go(fn) }

func (s *Server) now() time.Time { return s.cfg.Now() }
