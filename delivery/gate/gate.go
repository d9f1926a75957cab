package gate

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Class says which limits a listener's connections are held to.
type Class int

// Listener classes.
const (
	// Client connections (c2s) get every limit.
	Client Class = iota
	// Server connections (s2s, the cluster port) get the rate limit and
	// the ceiling plus the reserve; they never authenticate through the
	// gate.
	Server
	// Unlimited connections (the admin socket, the cluster port whose
	// handshake has its own cap) get no limit, only the
	// accept backoff.
	Unlimited
)

// Defaults used where a Config field is zero.
const (
	DefaultUnauthPerAddr  = 32
	DefaultRatePerAddr    = 10
	DefaultRateBurst      = 40
	DefaultMaxAcceptDelay = 100 * time.Millisecond
)

// Config sets the limits. Zero fields take the defaults above; MaxClients
// zero means no ceiling.
type Config struct {
	// UnauthPerAddr caps connections from one address that have not
	// authenticated yet.
	UnauthPerAddr int
	// RatePerAddr is the sustained number of new connections per second
	// one address may open, RateBurst the number it may open at once.
	RatePerAddr float64
	RateBurst   int
	// MaxClients caps client connections held at once; Reserve more are
	// allowed for Server listeners.
	MaxClients int
	Reserve    int
	// Exempt lists prefixes free of the per-address limits.
	Exempt []netip.Prefix
	// MaxAcceptDelay caps the backoff after a failed accept.
	MaxAcceptDelay time.Duration
	// Auth configures the failed-login guard (auth.go).
	Auth AuthConfig
	Log  *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Refusal reasons, as counted in Stats.Refused.
const (
	ReasonUnauth  = "unauthenticated_per_address"
	ReasonRate    = "rate_per_address"
	ReasonCeiling = "max_connections"
)

// Stats are the gate's counters, for metrics.
type Stats struct {
	Open         int               // connections held, all classes
	Clients      int               // client connections held
	Addresses    int               // addresses with state
	AcceptErrors uint64            // temporary accept failures retried
	Refused      map[string]uint64 // refused connections by reason
	Auth         AuthStats
}

// Gate holds the counters every listener it wraps shares.
type Gate struct {
	cfg Config

	mu        sync.Mutex
	addrs     map[netip.Prefix]*addrState
	open      int
	clients   int
	lastSweep time.Time

	acceptErrors atomic.Uint64
	refused      [3]atomic.Uint64 // by reasonIndex

	auth *authGuard
}

type addrState struct {
	conns  int // open connections from the address
	unauth int // of which not authenticated
	tokens float64
	filled time.Time
}

var reasons = [...]string{ReasonUnauth, ReasonRate, ReasonCeiling}

// New makes a gate.
func New(cfg Config) *Gate {
	if cfg.UnauthPerAddr == 0 {
		cfg.UnauthPerAddr = DefaultUnauthPerAddr
	}
	if cfg.RatePerAddr == 0 {
		cfg.RatePerAddr = DefaultRatePerAddr
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	if cfg.MaxAcceptDelay == 0 {
		cfg.MaxAcceptDelay = DefaultMaxAcceptDelay
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gate{cfg: cfg, addrs: map[netip.Prefix]*addrState{}}
	if cfg.Auth.Exempt == nil {
		cfg.Auth.Exempt = cfg.Exempt
	}
	g.auth = newAuthGuard(cfg.Auth, cfg.Now, cfg.Log)
	return g
}

// Stats returns the current counters.
func (g *Gate) Stats() Stats {
	g.mu.Lock()
	st := Stats{Open: g.open, Clients: g.clients, Addresses: len(g.addrs)}
	g.mu.Unlock()
	st.AcceptErrors = g.acceptErrors.Load()
	st.Refused = map[string]uint64{}
	for i, r := range reasons {
		st.Refused[r] = g.refused[i].Load()
	}
	st.Auth = g.auth.stats()
	return st
}

// Listener wraps ln. Its Accept retries temporary failures and returns
// only connections the limits of class let in, as *Conn.
func (g *Gate) Listener(ln net.Listener, class Class) net.Listener {
	return &listener{Listener: ln, g: g, class: class}
}

type listener struct {
	net.Listener
	g     *Gate
	class Class
}

func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	failures := 0
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !Temporary(err) {
				return nil, err
			}
			l.g.acceptErrors.Add(1)
			if failures == 0 {
				l.g.cfg.Log.Warn("gate: accept failing; retrying with backoff", "addr", l.Addr().String(), "err", err)
			}
			failures++
			delay = min(max(2*delay, 5*time.Millisecond), l.g.cfg.MaxAcceptDelay)
			time.Sleep(delay)
			continue
		}
		if failures > 0 {
			l.g.cfg.Log.Warn("gate: accepting again", "addr", l.Addr().String(), "failed_accepts", failures)
			failures, delay = 0, 0
		}
		if gc := l.g.admit(c, l.class); gc != nil {
			return gc, nil
		}
	}
}

// Temporary reports whether an accept error is worth retrying: out of
// file descriptors or buffers, a connection aborted before it was
// accepted, or a timeout.
func Temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// addrKey is the address a limit applies to: an IPv4 address or an IPv6
// /64. ok is false for addresses that are not IP (unix sockets).
func addrKey(a net.Addr) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}, false
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

func (g *Gate) exempt(p netip.Prefix) bool {
	for _, e := range g.cfg.Exempt {
		if e.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// admit applies the limits to c: the connection to hand on, or nil when c
// was refused (and closed).
func (g *Gate) admit(c net.Conn, class Class) *Conn {
	gc := &Conn{Conn: c, g: g, class: class}
	if class == Unlimited {
		return gc
	}
	key, keyed := addrKey(c.RemoteAddr())
	now := g.cfg.Now()
	g.mu.Lock()
	if now.Sub(g.lastSweep) > sweepEvery {
		g.sweepLocked(now)
	}
	reason := -1
	var st *addrState
	switch {
	case g.cfg.MaxClients > 0 && class == Client && g.clients >= g.cfg.MaxClients,
		g.cfg.MaxClients > 0 && g.open >= g.cfg.MaxClients+g.cfg.Reserve:
		reason = 2
	case keyed && !g.exempt(key):
		st = g.addrs[key]
		if st == nil {
			st = &addrState{tokens: float64(g.cfg.RateBurst), filled: now}
			g.addrs[key] = st
		}
		st.tokens = min(float64(g.cfg.RateBurst), st.tokens+now.Sub(st.filled).Seconds()*g.cfg.RatePerAddr)
		st.filled = now
		switch {
		case class == Client && st.unauth >= g.cfg.UnauthPerAddr:
			reason = 0
		case st.tokens < 1:
			reason = 1
		default:
			st.tokens--
		}
	}
	if reason >= 0 {
		if st != nil {
			g.forget(key, st, now)
		}
		g.mu.Unlock()
		g.refused[reason].Add(1)
		g.cfg.Log.Debug("gate: connection refused", "remote", c.RemoteAddr().String(), "reason", reasons[reason])
		c.Close()
		return nil
	}
	g.open++
	if class == Client {
		g.clients++
	}
	if st != nil {
		st.conns++
		gc.key = key
		gc.st = st
		if class == Client {
			st.unauth++
			gc.unauth = true
		}
	}
	g.mu.Unlock()
	return gc
}

// forget drops an address's state once it holds no connection and its
// bucket is full again. g.mu is held.
func (g *Gate) forget(key netip.Prefix, st *addrState, now time.Time) {
	if st.conns == 0 && st.tokens+now.Sub(st.filled).Seconds()*g.cfg.RatePerAddr >= float64(g.cfg.RateBurst) {
		delete(g.addrs, key)
	}
}

// sweepEvery is how often admit drops the state of idle addresses.
const sweepEvery = 10 * time.Second

// sweepLocked drops the state of idle addresses whose buckets have
// refilled. g.mu is held.
func (g *Gate) sweepLocked(now time.Time) {
	g.lastSweep = now
	for k, st := range g.addrs {
		g.forget(k, st, now)
	}
}

// Conn is a connection the gate let in. Close releases its place.
type Conn struct {
	net.Conn
	g      *Gate
	class  Class
	key    netip.Prefix
	st     *addrState
	unauth bool
	closed bool
}

// Authenticated tells the gate the peer proved who it is: the connection
// no longer counts against its address's unauthenticated limit.
func (c *Conn) Authenticated() {
	c.g.mu.Lock()
	if c.unauth && !c.closed {
		c.unauth = false
		c.st.unauth--
	}
	c.g.mu.Unlock()
}

// Close closes the connection and releases its place, once.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	g := c.g
	g.mu.Lock()
	if !c.closed {
		c.closed = true
		g.open--
		if c.class == Client {
			g.clients--
		}
		if c.st != nil {
			c.st.conns--
			if c.unauth {
				c.st.unauth--
			}
			g.forget(c.key, c.st, g.cfg.Now())
		}
	}
	g.mu.Unlock()
	return err
}

// CloseWrite half-closes the connection when the one under it can (TCP),
// so that a server ending a stream politely still can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Authenticated marks c authenticated if it came through a gate; other
// connections are left alone.
func Authenticated(c net.Conn) {
	if gc, ok := c.(*Conn); ok {
		gc.Authenticated()
	}
}
