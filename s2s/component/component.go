package component

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// DefaultAddr is where components connect unless configured otherwise:
// they are local processes.
const DefaultAddr = "127.0.0.1:5347"

// Defaults for Config.
const (
	DefaultSetupTimeout = 30 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	DefaultMaxQueue     = 1 << 20
)

// Router is what the component side needs of the stanza plane.
type Router interface {
	Route(st *stanza.Element, from, to jid.JID)
	Bounce(st *stanza.Element, from jid.JID, err *stanza.Error)
}

// Config is the component listener's configuration.
type Config struct {
	// Domains maps each component domain to its shared secret.
	Domains map[string]string
	// Limits bound what a component may send, as on client streams.
	Limits xmlstream.Limits
	// SetupTimeout bounds the time from connect to a good handshake.
	SetupTimeout time.Duration
	// WriteTimeout bounds one write to a component.
	WriteTimeout time.Duration
	// MaxQueue is the bytes that may wait for a component before it is
	// judged not to read and is cut off.
	MaxQueue int
	Log      *slog.Logger
}

// Server accepts component streams.
type Server struct {
	cfg     Config
	router  Router
	streams xmlstream.Streams[*conn]
	wcfg    xmlstream.WriterConfig[struct{}]

	// counts are per configured domain, over every stream since the
	// server started; the map is fixed at New.
	counts map[string]*counts

	mu   sync.Mutex
	live map[string]*conn
}

type counts struct{ in, out atomic.Uint64 }

// Status is one configured component as the admin API shows it.
type Status struct {
	Domain     string
	Connected  bool
	In, Out    uint64 // stanzas since the server started
	RemoteAddr string
}

// New makes the component side. Domains are prepared as JID domain parts.
func New(cfg Config, r Router) *Server {
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = DefaultSetupTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, router: r, live: map[string]*conn{}, counts: map[string]*counts{}}
	for d := range cfg.Domains {
		s.counts[d] = &counts{}
	}
	s.wcfg = xmlstream.WriterConfig[struct{}]{Timeout: cfg.WriteTimeout, Max: cfg.MaxQueue, Linger: time.Second}
	return s
}

// Endpoint is what the router calls for stanzas to domain and the
// entities on it; the daemon registers it as the domain's component
// (delivery.Mux.Component). Like s2s, this package reaches the plane only
// through interfaces.
func (s *Server) Endpoint(domain string) interface {
	HandleStanza(st *stanza.Element, from, to jid.JID)
} {
	return endpoint{s, domain}
}

// Domains are the configured component domains, sorted.
func (s *Server) Domains() []string {
	ds := make([]string, 0, len(s.cfg.Domains))
	for d := range s.cfg.Domains {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	return ds
}

// Serve accepts component connections on ln until it is closed.
func (s *Server) Serve(ln net.Listener) error {
	return s.streams.Serve(ln, func(nc net.Conn) *conn { return &conn{srv: s, raw: nc} }, (*conn).run)
}

// Shutdown ends every component stream with <system-shutdown/>.
func (s *Server) Shutdown(ctx context.Context) error { return s.streams.Shutdown(ctx, nil, nil) }

// List reports every configured component.
func (s *Server) List() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, d := range s.Domains() {
		st := Status{Domain: d, In: s.counts[d].in.Load(), Out: s.counts[d].out.Load()}
		if c := s.live[d]; c != nil {
			st.Connected = true
			st.RemoteAddr = c.raw.RemoteAddr().String()
		}
		out = append(out, st)
	}
	return out
}

// endpoint is one configured domain as the router sees it.
type endpoint struct {
	s      *Server
	domain string
}

// HandleStanza sends st to the domain's component, or bounces it with
// <service-unavailable/> while none is connected.
func (e endpoint) HandleStanza(st *stanza.Element, from, to jid.JID) {
	e.s.mu.Lock()
	c := e.s.live[e.domain]
	e.s.mu.Unlock()
	if c == nil || !c.send(st) {
		e.s.router.Bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, "the component is not connected"))
	}
}

// conn is one component stream; its reader goroutine (run) owns the
// fields above in.
type conn struct {
	srv    *Server
	raw    net.Conn
	dec    *xmlstream.Decoder
	id     string
	domain string // set once the handshake succeeded
	header bool   // our header was sent
	q      xmlstream.Writer[struct{}]
}

func (c *conn) run() {
	s := c.srv
	defer s.streams.Done(c)
	defer c.cleanup()
	c.q.Init(c.raw, c.raw, &s.wcfg)
	c.raw.SetReadDeadline(time.Now().Add(s.cfg.SetupTimeout))
	c.dec = xmlstream.NewDecoder(c.raw, s.cfg.Limits)
	var want string // the domain of the stream header
	for {
		ev, err := c.dec.Next()
		if err != nil {
			if serr, _ := xmlstream.ReadError(err, c.domain == ""); serr != nil {
				c.fail(serr, want)
			}
			return
		}
		var serr *xmlstream.StreamError
		switch ev.Kind {
		case xmlstream.StreamOpen:
			want, serr = c.opened(ev.Header)
		case xmlstream.StreamClose:
			// RFC 6120 4.4: answer the closing tag with ours.
			c.q.Push(func(b []byte) []byte { return append(b, xmlstream.StreamCloseTag...) }, true)
			return
		case xmlstream.Element:
			if c.domain == "" {
				serr = c.handshake(ev.Element, want)
			} else {
				serr = c.stanza(ev.Element)
			}
		}
		if serr != nil {
			s.cfg.Log.Info("component: closing a stream with an error", "domain", want,
				"condition", string(serr.Condition), "text", serr.Text)
			c.fail(serr, want)
			return
		}
	}
}

func (c *conn) cleanup() {
	if c.domain != "" {
		c.srv.mu.Lock()
		if c.srv.live[c.domain] == c {
			delete(c.srv.live, c.domain)
		}
		c.srv.mu.Unlock()
		c.srv.cfg.Log.Info("component: disconnected", "domain", c.domain)
	}
	c.q.ReaderExit()
}

// fail ends the stream with e, after a header of ours if none was sent
// (RFC 6120 4.9.1.2).
func (c *conn) fail(e *xmlstream.StreamError, from string) {
	var b []byte
	if !c.header {
		b = c.appendHeader(b, from)
	}
	b = e.AppendXML(b)
	b = append(b, xmlstream.StreamCloseTag...)
	c.q.End(func(dst []byte) []byte { return append(dst, b...) })
}

func (c *conn) appendHeader(b []byte, from string) []byte {
	c.header = true
	if c.id == "" {
		c.id = xmlstream.NewStreamID()
	}
	return xmlstream.AppendStreamHeader(b, xmlstream.Header{From: from, ID: c.id, DefaultNS: stanza.NSComponent})
}

// opened answers the component's stream header (XEP-0114 3: 'to' is the
// component's domain; the answer has 'from' set to it and a stream id).
func (c *conn) opened(h xmlstream.Header) (string, *xmlstream.StreamError) {
	if c.header {
		return "", xmlstream.NewError(xmlstream.PolicyViolation, "the stream was already open")
	}
	if h.DefaultNS != stanza.NSComponent {
		return "", xmlstream.NewError(xmlstream.InvalidNamespace, "a component stream is in "+stanza.NSComponent)
	}
	d, err := jid.Parse(h.To)
	if err != nil || d.Local() != "" || d.Resource() != "" {
		return "", xmlstream.NewError(xmlstream.HostUnknown, "no component is configured for that domain")
	}
	if _, ok := c.srv.cfg.Domains[d.Domain()]; !ok {
		return "", xmlstream.NewError(xmlstream.HostUnknown, "no component is configured for that domain")
	}
	c.q.Push(func(b []byte) []byte { return c.appendHeader(b, d.Domain()) }, false)
	return d.Domain(), nil
}

// handshake checks <handshake>hex(SHA-1(stream id + secret))</handshake>
// (XEP-0114 3) and answers an empty <handshake/>.
func (c *conn) handshake(el *stanza.Element, domain string) *xmlstream.StreamError {
	if el.Name != (stanza.Name{Space: stanza.NSComponent, Local: "handshake"}) {
		return xmlstream.NewError(xmlstream.NotAuthorized, "the handshake comes first")
	}
	sum := sha1.Sum([]byte(c.id + c.srv.cfg.Domains[domain]))
	want := hex.EncodeToString(sum[:])
	got := strings.ToLower(strings.TrimSpace(el.Text()))
	if subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return xmlstream.NewError(xmlstream.NotAuthorized, "bad handshake")
	}
	s := c.srv
	s.mu.Lock()
	if s.live[domain] != nil {
		s.mu.Unlock()
		return xmlstream.NewError(xmlstream.Conflict, "a component is already connected for this domain")
	}
	s.live[domain] = c
	c.domain = domain
	s.mu.Unlock()
	c.raw.SetReadDeadline(time.Time{})
	s.cfg.Log.Info("component: connected", "domain", domain, "peer", c.raw.RemoteAddr().String())
	c.q.Push(func(b []byte) []byte { return append(b, "<handshake/>"...) }, false)
	return nil
}

// stanza routes one stanza from the component.
func (c *conn) stanza(el *stanza.Element) *xmlstream.StreamError {
	switch el.Name {
	case stanza.Name{Space: stanza.NSComponent, Local: "message"},
		stanza.Name{Space: stanza.NSComponent, Local: "presence"},
		stanza.Name{Space: stanza.NSComponent, Local: "iq"}:
	default:
		return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "")
	}
	// XEP-0114 3 / RFC 6120 4.9.3.9: the component speaks for its own
	// domain only.
	from, err := jid.Parse(el.Get("from"))
	if err != nil || from.Domain() != c.domain {
		return xmlstream.NewError(xmlstream.InvalidFrom, "'from' must be in the component's domain")
	}
	var to jid.JID
	if t := el.Get("to"); t != "" {
		if to, err = jid.Parse(t); err != nil {
			return xmlstream.NewError(xmlstream.ImproperAddressing, "malformed 'to'")
		}
	} else {
		return xmlstream.NewError(xmlstream.ImproperAddressing, "a component's stanza needs a 'to'")
	}
	c.srv.counts[c.domain].in.Add(1)
	toClient(el)
	c.srv.router.Route(el, from, to)
	return nil
}

// toClient moves a stanza from the component namespace to jabber:client,
// the namespace the rest of the server holds local stanzas in.
func toClient(el *stanza.Element) {
	if el.Name.Space == stanza.NSComponent {
		el.Name.Space = stanza.NSClient
	}
	for _, ch := range el.Elements() {
		toClient(ch)
	}
}

// send queues a stanza for the component. The stanza is serialized with
// its own server-side namespace as parent, so it inherits the stream's
// jabber:component:accept.
func (c *conn) send(st *stanza.Element) bool {
	ok := c.q.Push(func(b []byte) []byte { return st.AppendXML(b, st.Name.Space) }, false)
	if ok {
		c.srv.counts[c.domain].out.Add(1)
	}
	return ok
}

// Kick ends the stream from outside its reader (xmlstream.Conn).
func (c *conn) Kick(e *xmlstream.StreamError) {
	c.q.End(func(b []byte) []byte { return append(e.AppendXML(b), xmlstream.StreamCloseTag...) })
}

// Abort closes the TCP connection at once.
func (c *conn) Abort() { c.raw.Close() }
