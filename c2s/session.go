package c2s

import (
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// state is where a stream stands in negotiation (RFC 6120 4.3 and 9).
type state uint8

const (
	stateTLS   state = iota // STARTTLS is still required
	stateAuth               // TLS done (or not required), SASL next
	stateBind               // authenticated, a resource must be bound
	stateReady              // a connected resource: stanzas flow
)

// session is one client stream. Its reader goroutine (run) owns every
// field except q, which the writer side guards, and closeMu's fields.
type session struct {
	srv  *Server
	conn net.Conn
	// raw is the TCP connection under conn. Closing it never blocks,
	// where closing a tls.Conn may try to send close_notify first.
	raw       net.Conn
	directTLS bool
	dec       *xmlstream.Decoder

	state    state
	tls      bool
	domain   string // the local domain this stream is for
	jid      jid.JID
	failures int
	sasl     sasl.Session
	cb       sasl.ChannelBindings
	// mismatches counts refused mechanisms and channel bindings
	// (negotiate.go, maxMismatches).
	mismatches int

	q  xmlstream.Writer[*replay] // used once bound (writer.go)
	sm sm                        // XEP-0198 counts (sm.go)

	closeMu   sync.Mutex
	outHeader bool // our stream header has been written
	bound     bool // registered with the router; writes use the queue
	ended     bool // the reader has ended
}

// run is the reader goroutine: it negotiates the stream and then reads
// stanzas until the stream ends. Negotiation (the TLS handshake, SCRAM)
// grows a goroutine's stack far beyond what reading stanzas needs, so
// once a resource is bound the reading continues on a fresh goroutine
// and the negotiating one exits, taking its large stack with it.
func (s *session) run() {
	cfg := &s.srv.cfg
	s.conn.SetDeadline(time.Now().Add(cfg.PreAuthTimeout))
	if s.directTLS {
		if !s.startTLS() {
			s.end()
			return
		}
		// XEP-0368: TLS is already in place, so SASL comes first.
		s.state = stateAuth
	} else {
		s.state = stateTLS
		if cfg.AllowPlaintext {
			s.state = stateAuth
		}
	}
	if s.dec == nil {
		s.dec = xmlstream.NewDecoder(s.conn, cfg.Limits)
	}
	if s.loop(true) {
		go s.serve()
		return
	}
	s.end()
}

// serve reads stanzas from a bound session until the stream ends.
func (s *session) serve() {
	s.loop(false)
	s.end()
}

func (s *session) end() {
	s.cleanup()
	s.srv.streams.Done(s)
}

// loop reads and handles events. With negotiating set it returns true as
// soon as a resource is bound; otherwise it returns false when the
// stream has ended.
func (s *session) loop(negotiating bool) bool {
	for {
		if negotiating && s.state == stateReady {
			return true
		}
		ev, err := s.dec.Next()
		if err != nil {
			s.readFailed(err)
			return false
		}
		var serr *xmlstream.StreamError
		switch ev.Kind {
		case xmlstream.StreamOpen:
			serr = s.streamOpened(ev.Header)
		case xmlstream.StreamClose:
			// RFC 6120 4.4: answer the closing tag with ours and close.
			s.write(func(b []byte) []byte { return append(b, xmlstream.StreamCloseTag...) }, true)
			return false
		case xmlstream.Element:
			serr = s.element(ev.Element)
		}
		if serr == xmlstream.HangUp {
			return false
		}
		if serr != nil {
			s.streamError(serr)
			return false
		}
	}
}

// restarted marks the start of a new stream on the same connection (after
// STARTTLS or SASL): its header has not been answered yet, so an error
// must again follow a header of ours (RFC 6120 4.9.1.2).
func (s *session) restarted() {
	s.closeMu.Lock()
	s.outHeader = false
	s.closeMu.Unlock()
}

// readFailed turns a read error into what the client is owed.
func (s *session) readFailed(err error) {
	serr, hungUp := xmlstream.ReadError(err, s.state != stateReady)
	switch {
	case serr != nil:
		s.streamError(serr)
	case !hungUp:
		s.srv.cfg.Log.Debug("c2s: read failed", "remote", s.conn.RemoteAddr().String(), "err", err)
	}
}

// streamOpened answers a stream header (RFC 6120 4.7) with ours and the
// features of the current state.
func (s *session) streamOpened(h xmlstream.Header) *xmlstream.StreamError {
	cfg := &s.srv.cfg
	to := h.To
	if to == "" {
		to = cfg.Domains[0]
	}
	if d, err := jid.Parse(to); err == nil {
		to = d.String()
	}
	if s.domain != "" && to != s.domain {
		// A restart must be for the same domain (RFC 6120 4.3.1).
		return xmlstream.NewError(xmlstream.HostUnknown, "the stream was restarted for another domain")
	}
	// Open our side first so that any error can follow it (4.9.1.2).
	s.writeHeader(to)
	if !s.srv.domains[to] {
		return xmlstream.NewError(xmlstream.HostUnknown, "this server does not serve that domain")
	}
	s.domain = to
	// RFC 6120 4.7.5: a missing or 0.x version is refused; we speak 1.0.
	if h.Version == "" || h.Version[0] != '1' {
		return xmlstream.NewError(xmlstream.UnsupportedVersion, "version 1.0 is required")
	}
	// RFC 6120 4.8.2: the content namespace of a client stream.
	if h.DefaultNS != stanza.NSClient {
		return xmlstream.NewError(xmlstream.InvalidNamespace, "client streams use jabber:client")
	}
	if s.state == stateReady {
		// RFC 6120 7.3.3: no restart after binding.
		return xmlstream.NewError(xmlstream.PolicyViolation, "the stream cannot be restarted after binding")
	}
	s.write(func(b []byte) []byte { return s.features().AppendXML(b, stanza.NSClient) }, false)
	return nil
}

func (s *session) writeHeader(domain string) {
	s.write(func(b []byte) []byte {
		return xmlstream.AppendStreamHeader(b, xmlstream.Header{
			From: domain, ID: xmlstream.NewStreamID(), Version: "1.0", Lang: "en", DefaultNS: stanza.NSClient,
		})
	}, false)
	s.closeMu.Lock()
	s.outHeader = true
	s.closeMu.Unlock()
}

// write sends b before binding (the reader goroutine writes directly:
// nothing else writes yet) and queues it afterwards.
func (s *session) write(fn func([]byte) []byte, last bool) {
	s.closeMu.Lock()
	bound := s.bound
	s.closeMu.Unlock()
	if bound {
		s.enqueue(fn, last)
		return
	}
	bp := xmlstream.GetBuf()
	*bp = fn(*bp)
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	s.conn.Write(*bp)
	xmlstream.PutBuf(bp)
	if last {
		xmlstream.Close(s.conn, s.raw)
	}
}

// streamError sends a stream error and closes the stream (RFC 6120 4.9.1).
func (s *session) streamError(e *xmlstream.StreamError) {
	s.closeMu.Lock()
	started := s.outHeader
	s.closeMu.Unlock()
	if !started {
		d := s.domain
		if d == "" {
			d = s.srv.cfg.Domains[0]
		}
		s.writeHeader(d)
	}
	if e.Err != nil {
		s.srv.cfg.Log.Debug("c2s: stream error", "condition", string(e.Condition), "err", e.Err)
	}
	s.write(func(b []byte) []byte {
		b = e.AppendXML(b)
		return append(b, xmlstream.StreamCloseTag...)
	}, true)
}

// features returns the <stream:features/> for the current state.
func (s *session) features() *stanza.Element {
	f := stanza.NewElement(stanza.NSStream, "features")
	switch s.state {
	case stateTLS:
		// RFC 6120 5.3.1: STARTTLS offered as mandatory-to-negotiate.
		f.Append(stanza.NewElement(nsTLS, "starttls").Append(stanza.NewElement(nsTLS, "required")))
	case stateAuth:
		cfg := s.saslConfig()
		m := stanza.NewElement(nsSASL, "mechanisms")
		for _, name := range sasl.Mechanisms(cfg) {
			m.Append(stanza.NewElement(nsSASL, "mechanism").AppendText(name))
		}
		f.Append(m)
		// XEP-0440 2: the channel-binding types this stream supports.
		if types := sasl.BindingTypes(cfg); len(types) > 0 {
			cb := stanza.NewElement(nsSASLCB, "sasl-channel-binding")
			for _, t := range types {
				cb.Append(stanza.NewElement(nsSASLCB, "channel-binding").Set("type", t))
			}
			f.Append(cb)
		}
	case stateBind:
		f.Append(stanza.NewElement(nsBind, "bind"))
		// RFC 3921 session establishment, optional since RFC 6121 (see its
		// Appendix E); some clients still ask for it.
		f.Append(stanza.NewElement(nsSession, "session").Append(stanza.NewElement(nsSession, "optional")))
		// XEP-0198 3: stream management is offered after SASL.
		f.Append(stanza.NewElement(nsSM, "sm"))
		for _, e := range s.srv.cfg.StreamFeatures {
			f.Append(e)
		}
	}
	return f
}

// element dispatches a first-level element by negotiation state.
func (s *session) element(el *stanza.Element) *xmlstream.StreamError {
	switch s.state {
	case stateTLS:
		return s.negotiateTLS(el)
	case stateAuth:
		return s.negotiateSASL(el)
	case stateBind:
		return s.negotiateBind(el)
	default:
		if el.Name.Space == nsSM {
			return s.smElement(el)
		}
		serr := s.stanza(el)
		if serr == nil {
			s.sm.countIn()
		}
		return serr
	}
}

// negotiateTLS handles the only thing allowed before TLS: <starttls/>
// (RFC 6120 5.4.2).
func (s *session) negotiateTLS(el *stanza.Element) *xmlstream.StreamError {
	switch {
	case el.Name.Space == nsTLS && el.Name.Local == "starttls":
		s.write(func(b []byte) []byte { return append(b, `<proceed xmlns='`+nsTLS+`'/>`...) }, false)
		if !s.startTLS() {
			return xmlstream.HangUp
		}
		// RFC 6120 5.4.3.3: the stream restarts over TLS; nothing sent
		// before the handshake may be used. Bytes that arrived in the
		// clear behind <starttls/> (rule 2) make Reset fail: drop the
		// connection rather than read them as part of the new stream.
		if err := s.dec.Reset(s.conn); err != nil {
			s.srv.cfg.Log.Debug("c2s: data before the TLS handshake", "remote", s.conn.RemoteAddr().String())
			s.conn.Close()
			return xmlstream.HangUp
		}
		s.restarted()
		s.state = stateAuth
		return nil
	case el.Name.Space == nsSASL && el.Name.Local == "auth":
		// RFC 6120 6.5.4: the mechanism needs a protected stream.
		s.saslFailure(sasl.EncryptionRequired, "STARTTLS is required first")
		return s.countFailure()
	case isStanza(el):
		return xmlstream.NewError(xmlstream.NotAuthorized, "authenticate first")
	default:
		return xmlstream.NewError(xmlstream.PolicyViolation, "STARTTLS is required")
	}
}

// startTLS runs the server side of the TLS handshake on the connection.
// On failure the connection is closed: RFC 6120 5.4.3.2 says the server
// MUST close the TCP connection without a stream error.
func (s *session) startTLS() bool {
	cfg := s.srv.cfg.TLS
	if s.directTLS {
		cfg = cfg.Clone()
		// XEP-0368 4: direct TLS negotiates ALPN xmpp-client.
		cfg.NextProtos = []string{"xmpp-client"}
	}
	tc := tls.Server(s.conn, cfg)
	if err := tc.Handshake(); err != nil {
		s.srv.cfg.Log.Debug("c2s: TLS handshake failed", "remote", s.conn.RemoteAddr().String(), "err", err)
		s.conn.Close()
		return false
	}
	s.conn = tc
	s.initWriter()
	s.tls = true
	s.cb = s.srv.bindings(tc.ConnectionState())
	return true
}

func isStanza(el *stanza.Element) bool {
	switch el.Name.Local {
	case "message", "presence", "iq":
		return el.Name.Space == stanza.NSClient
	}
	return false
}

// cleanup runs once when the reader ends: the resource leaves the
// registry and its contacts learn it is gone; a replay of stored messages
// stops.
func (s *session) cleanup() {
	s.closeMu.Lock()
	bound := s.bound
	s.closeMu.Unlock()
	if bound {
		s.unbound()
	}
	s.q.ReaderExit()
	s.endReplay()
}
