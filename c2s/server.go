package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Credentials looks up an account's SASL credentials for a local domain.
// It returns sasl.ErrNoSuchUser when there is no such account.
type Credentials func(domain, username string) (sasl.Credentials, error)

// Stored is an offline message waiting for its recipient (XEP-0160).
type Stored struct {
	Seq    uint64
	Stanza *stanza.Element
	At     time.Time
}

// OfflineQueue hands a user's stored messages to the first resource that
// becomes available. Ack removes them up to a sequence number once they
// were written to that resource's connection (stanza.go).
type OfflineQueue interface {
	Pending(bare jid.JID) ([]Stored, error)
	Ack(bare jid.JID, upTo uint64) error
}

// Presence is the roster layer as a client stream sees it (RFC 6121 3-4).
type Presence interface {
	// Outbound takes a subscription stanza the user sends to contact.
	Outbound(user, contact jid.JID, st *stanza.Element)
	// Available follows broadcast available presence from full; initial
	// is true for the resource's first.
	Available(full jid.JID, st *stanza.Element, initial bool)
	// Unavailable follows the end of full's presence.
	Unavailable(full jid.JID, st *stanza.Element)
	// Ended follows the end of a session that was not available: only
	// the entities it sent directed presence to are owed st (RFC 6121
	// 4.6.2 item 3).
	Ended(full jid.JID, st *stanza.Element)
	// Directed routes presence full sends to one entity, and remembers it.
	Directed(full, to jid.JID, st *stanza.Element)
}

// Config is everything a c2s server needs; cmd/heraldd builds it.
type Config struct {
	// Domains served; the first is used when a client names none.
	Domains []string
	// TLS carries the server certificates. Required.
	TLS *tls.Config
	// AllowPlaintext lets clients authenticate without STARTTLS. Off by
	// default: RFC 6120 5.1 makes TLS mandatory-to-implement, and a
	// server SHOULD require it.
	AllowPlaintext bool
	Limits         xmlstream.Limits
	// PreAuthTimeout bounds the time from accept to a bound resource.
	PreAuthTimeout time.Duration
	// WriteTimeout bounds a single write to a client; a client that does
	// not read for that long is disconnected.
	WriteTimeout time.Duration
	// MaxQueue is the number of bytes that may wait for a client that
	// reads slowly; past it the client is disconnected (see writer.go).
	MaxQueue int
	// SMRequestAfter is the number of stanzas a client with XEP-0198
	// enabled may leave unacknowledged before the server sends <r/>.
	SMRequestAfter int
	// MaxResources is the number of resources one account may bind.
	MaxResources int
	// Conflict is the resource conflict policy (RFC 6120 7.7.2.2).
	Conflict delivery.Conflict
	// MaxAuthFailures closes a stream after this many failed SASL attempts.
	MaxAuthFailures int

	Credentials Credentials
	Router      *delivery.Router
	Offline     OfflineQueue
	Presence    Presence
	// StreamFeatures are extra elements advertised after authentication
	// (roster versioning, pre-approval...).
	StreamFeatures []*stanza.Element
	Log            *slog.Logger
}

func (c *Config) defaults() {
	if c.PreAuthTimeout == 0 {
		c.PreAuthTimeout = 60 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.SMRequestAfter == 0 {
		c.SMRequestAfter = 5
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 1 << 20
	}
	if c.MaxResources == 0 {
		c.MaxResources = 32
	}
	if c.MaxAuthFailures == 0 {
		c.MaxAuthFailures = 5
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Server accepts client connections and runs their sessions.
type Server struct {
	cfg     Config
	domains map[string]bool
	certEnd endpoints
	auth    authCounters
	streams xmlstream.Streams[*session]
	// out is the configuration of every session's writer (writer.go).
	out xmlstream.WriterConfig[*replay]

	// replaying holds the accounts whose stored messages a resource is
	// replaying (stanza.go): one resource at a time gets them (XEP-0160).
	replayMu  sync.Mutex
	replaying map[string]bool
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if len(cfg.Domains) == 0 {
		return nil, errors.New("c2s: no domain configured")
	}
	if cfg.TLS == nil {
		return nil, errors.New("c2s: no TLS configuration")
	}
	if cfg.Router == nil || cfg.Credentials == nil {
		return nil, errors.New("c2s: router and credentials are required")
	}
	s := &Server{
		cfg:       cfg,
		domains:   map[string]bool{},
		certEnd:   newEndpoints(cfg.TLS),
		replaying: map[string]bool{},
	}
	s.out = xmlstream.WriterConfig[*replay]{
		Timeout: cfg.WriteTimeout,
		Max:     cfg.MaxQueue,
		Written: written,
		Unsent:  unwritten,
		Lost:    unwritten,
		Full: func(raw net.Conn) {
			cfg.Log.Info("c2s: client not reading, queue full; closing", "remote", raw.RemoteAddr().String())
		},
	}
	for _, d := range cfg.Domains {
		s.domains[d] = true
	}
	return s, nil
}

// Serve accepts connections on ln until it is closed. With directTLS the
// TLS handshake comes first (XEP-0368); otherwise clients use STARTTLS.
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	return s.streams.Serve(ln, func(conn net.Conn) *session {
		sess := &session{srv: s, conn: conn, raw: conn, directTLS: directTLS}
		sess.initWriter()
		return sess
	}, (*session).run)
}

// Sessions returns the number of open client streams, bound or not.
func (s *Server) Sessions() int { return s.streams.Len() }

// Shutdown stops accepting, sends <system-shutdown/> to every client
// (RFC 6120 4.9.3.19) and waits for their sessions to end or ctx to
// expire.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.streams.Shutdown(ctx, nil, nil)
}

// Kick ends every connected resource of the account bare with the stream
// error e (for example when the account is deleted) and returns how many
// it ended.
func (s *Server) Kick(bare jid.JID, e *xmlstream.StreamError) int {
	n := 0
	for _, r := range s.cfg.Router.Registry.Resources(nil, bare) {
		if sess, ok := r.Sink.(*session); ok {
			sess.kick(e)
			n++
		}
	}
	return n
}
