package s2s

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Inbound streams: a remote server connects to send to us (RFC 6120 4 and
// 5 as the receiving entity), authenticates by SASL EXTERNAL (XEP-0178) or
// Server Dialback (XEP-0220, XEP-0344), and sends stanzas; or an
// authoritative-server question (db:verify) arrives on it.

// inPair is a (local, remote) pair authenticated on an inbound stream.
type inPair struct {
	method AuthMethod
	in     uint64 // stanzas received
	since  time.Time
}

// inConn is one inbound stream. Its reader goroutine (run) owns the
// fields above mu; mu guards the authentication state, which dialback
// verifications running on other goroutines complete.
type inConn struct {
	srv       *Server
	raw, nc   net.Conn
	dec       *xmlstream.Decoder
	directTLS bool
	tlsOn     atomic.Bool // TLS is up: writes go through q
	certs     []*x509.Certificate
	chainErr  error // the peer's chain against our roots; errNoCert without one
	id        string
	saslDone  bool
	saslWait  bool // an empty challenge was sent; a <response/> is due
	failures  int  // SASL failures
	tokens    float64
	last      time.Time // of the token bucket
	throttled time.Time // since when the stream has been held back, or zero
	headerOut atomic.Bool
	lastUsed  atomic.Int64

	// q writes once TLS is up; before, the reader writes directly.
	q    xmlstream.Writer[struct{}]
	qcfg xmlstream.WriterConfig[struct{}]

	mu      sync.Mutex
	local   string // the 'to' of the peer's header: one of our domains
	peer    string // the 'from' of the peer's header, prepared; may be ""
	pairs   map[pair]*inPair
	remotes map[string]int // authenticated pairs per remote domain
	pending map[pair]bool  // dialback verifications running
	idle    *time.Timer
	since   time.Time
	ended   bool
}

func newInConn(s *Server, nc net.Conn, directTLS bool) *inConn {
	return &inConn{
		srv: s, raw: nc, nc: nc, directTLS: directTLS,
		tokens: float64(s.cfg.RateBurst), since: s.now(),
		pairs: map[pair]*inPair{}, remotes: map[string]int{}, pending: map[pair]bool{},
	}
}

func (c *inConn) run() {
	s := c.srv
	defer s.streams.Done(c)
	defer c.cleanup()
	// An unauthenticated stream has SetupTimeout to become useful, twice
	// over: a dialback verification we run for it takes up to one.
	c.raw.SetReadDeadline(time.Now().Add(2 * s.cfg.SetupTimeout))
	if c.directTLS && !c.startTLS() {
		return
	}
	c.dec = xmlstream.NewDecoder(c.nc, s.cfg.Limits)
	for {
		ev, err := c.dec.Next()
		if err != nil {
			c.readFailed(err)
			return
		}
		var serr *xmlstream.StreamError
		switch ev.Kind {
		case xmlstream.StreamOpen:
			serr = c.opened(ev.Header)
		case xmlstream.StreamClose:
			// RFC 6120 4.4: answer the closing tag with ours.
			c.write([]byte(xmlstream.StreamCloseTag), true)
			return
		case xmlstream.Element:
			serr = c.element(ev.Element)
		}
		if serr == xmlstream.HangUp {
			return
		}
		if serr != nil {
			c.srv.cfg.Log.Info("s2s: closing an inbound stream with an error", "peer", c.peerName(),
				"condition", string(serr.Condition), "text", serr.Text)
			c.streamError(serr)
			return
		}
	}
}

func (c *inConn) cleanup() {
	c.mu.Lock()
	c.ended = true
	if c.idle != nil {
		c.idle.Stop()
	}
	c.mu.Unlock()
	if c.tlsOn.Load() {
		c.q.ReaderExit()
	} else {
		c.raw.Close()
	}
}

func (c *inConn) readFailed(err error) {
	serr, hungUp := xmlstream.ReadError(err, !c.authenticated())
	switch {
	case serr != nil:
		// Not well-formed, restricted XML, over a limit, too slow to
		// authenticate: RFC 6120 4.9.
		c.srv.cfg.Log.Info("s2s: inbound stream error", "peer", c.peerName(), "condition", string(serr.Condition), "text", serr.Text)
		c.streamError(serr)
	case !hungUp:
		c.srv.cfg.Log.Debug("s2s: inbound read failed", "peer", c.peerName(), "err", err)
	}
}

// write sends protocol bytes: directly before TLS (only the reader
// writes then), through the queue afterwards (dialback answers come from
// other goroutines). last ends the stream.
func (c *inConn) write(b []byte, last bool) {
	if c.tlsOn.Load() {
		c.q.Push(func(dst []byte) []byte { return append(dst, b...) }, last)
		return
	}
	c.raw.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	c.raw.Write(b)
	if last {
		c.raw.Close()
	}
}

// streamError ends the stream with e (RFC 6120 4.9.1.1), after a header
// of ours if we have not sent one (4.9.1.2).
func (c *inConn) streamError(e *xmlstream.StreamError) {
	if e.Err != nil {
		c.srv.cfg.Log.Debug("s2s: stream error", "condition", string(e.Condition), "err", e.Err)
	}
	var b []byte
	if !c.headerOut.Load() {
		c.mu.Lock()
		d := c.local
		c.mu.Unlock()
		if d == "" {
			d = c.srv.cfg.Domains[0]
		}
		b = c.appendHeader(b, d, "")
	}
	b = appendStreamError(e)(b)
	if c.tlsOn.Load() {
		c.q.End(func(dst []byte) []byte { return append(dst, b...) })
		return
	}
	c.write(b, true)
}

// Kick ends the stream from outside the reader (xmlstream.Conn).
func (c *inConn) Kick(e *xmlstream.StreamError) { c.kick(e) }

func (c *inConn) kick(e *xmlstream.StreamError) {
	if !c.tlsOn.Load() || !c.headerOut.Load() {
		c.raw.Close()
		return
	}
	c.q.End(appendStreamError(e))
}

// Abort closes the TCP connection at once.
func (c *inConn) Abort() { c.raw.Close() }

func (c *inConn) appendHeader(b []byte, from, to string) []byte {
	c.id = xmlstream.NewStreamID()
	c.headerOut.Store(true)
	return xmlstream.AppendStreamHeader(b, xmlstream.Header{
		From: from, To: to, ID: c.id, Version: "1.0", DefaultNS: stanza.NSServer,
		// XEP-0220 2.4.1: the namespace declaration says we speak dialback.
		Attr: []stanza.Attr{{Name: stanza.Name{Space: xmlstream.NSXMLNS, Local: "db"}, Value: nsDialback}},
	})
}

// opened answers a stream header (RFC 6120 4.7) with ours and the
// features of the current state.
func (c *inConn) opened(h xmlstream.Header) *xmlstream.StreamError {
	s := c.srv
	to := domainOf(h.To)
	from := domainOf(h.From)
	// RFC 6120 4.7.2: our 'from' is the domain asked for, our 'to' the
	// peer's 'from'; our header goes out first so that any error can
	// follow it (4.9.1.2).
	ours := to
	if !s.domains[to] {
		ours = s.cfg.Domains[0]
	}
	c.restarted()
	hdr := c.appendHeader(nil, ours, from)
	c.mu.Lock()
	prevLocal, prevPeer := c.local, c.peer
	c.mu.Unlock()
	switch {
	case !s.domains[to]:
		// RFC 6120 4.9.3.6: a 'to' we do not serve (or none: 4.7.1, the
		// initiating server MUST include it).
		c.write(hdr, false)
		return xmlstream.NewError(xmlstream.HostUnknown, "this server does not serve that domain")
	case h.DefaultNS != stanza.NSServer:
		// RFC 6120 4.8.2 and 4.9.3.10: server streams are jabber:server.
		c.write(hdr, false)
		return xmlstream.NewError(xmlstream.InvalidNamespace, "server streams use jabber:server")
	case h.Version == "" || h.Version[0] != '1':
		// RFC 6120 4.7.5: we need features, hence 1.0.
		c.write(hdr, false)
		return xmlstream.NewError(xmlstream.UnsupportedVersion, "version 1.0 is required")
	case prevLocal != "" && (to != prevLocal || from != prevPeer):
		// A restarted stream is for the same domains.
		c.write(hdr, false)
		return xmlstream.NewError(xmlstream.HostUnknown, "the stream was restarted for other domains")
	case h.From != "" && from == "":
		c.write(hdr, false)
		return xmlstream.NewError(xmlstream.InvalidFrom, "the 'from' of the header is not a domain")
	}
	c.mu.Lock()
	c.local, c.peer = to, from
	c.mu.Unlock()
	// The features element under the "stream" prefix of our header, as
	// every implementation expects it.
	b := append(hdr, "<stream:features>"...)
	if !c.tlsOn.Load() {
		// RFC 6120 5.3.1: STARTTLS, mandatory-to-negotiate.
		b = append(b, `<starttls xmlns='`+nsTLS+`'><required/></starttls>`...)
	} else {
		if !c.saslDone && from != "" && c.certValidFor(from) {
			// XEP-0178 3 step 9: EXTERNAL when the certificate matches the
			// 'from' of the header (RFC 6120 4.7.1 asks initiating servers
			// to send it, and 13.7.2.1 makes it the reference identifier).
			b = append(b, `<mechanisms xmlns='`+nsSASL+`'><mechanism>EXTERNAL</mechanism></mechanisms>`...)
		}
		// XEP-0220 2.4.2: dialback, with error handling.
		b = append(b, `<dialback xmlns='`+nsDialbackFeature+`'><errors/></dialback>`...)
	}
	c.write(append(b, "</stream:features>"...), false)
	return nil
}

// restarted marks a new stream on the connection (after TLS or SASL): its
// header is not answered yet.
func (c *inConn) restarted() { c.headerOut.Store(false) }

// element dispatches a first-level element.
func (c *inConn) element(el *stanza.Element) *xmlstream.StreamError {
	if !c.tlsOn.Load() {
		if el.Name.Space == nsTLS && el.Name.Local == "starttls" {
			return c.negotiateTLS()
		}
		if isStanza(el) {
			return xmlstream.NewError(xmlstream.NotAuthorized, "authenticate first")
		}
		// RFC 6120 5.3.1: nothing before TLS.
		return xmlstream.NewError(xmlstream.PolicyViolation, "STARTTLS is required")
	}
	if !c.take() {
		c.srv.cfg.Log.Info("s2s: peer over the stanza rate for too long; closing", "peer", c.peerName())
		return xmlstream.NewError(xmlstream.PolicyViolation, "too many stanzas")
	}
	switch {
	case isStanza(el):
		return c.stanza(el)
	case el.Name.Space == nsDialback:
		return c.dialback(el)
	case el.Name.Space == nsSASL:
		return c.sasl(el)
	case el.Name.Space == stanza.NSStream && el.Name.Local == "error":
		if se := xmlstream.ParseStreamError(el); se != nil {
			c.srv.cfg.Log.Info("s2s: stream error from peer", "peer", c.peerName(), "condition", string(se.Condition), "text", se.Text)
		}
		c.write([]byte(xmlstream.StreamCloseTag), true)
		return xmlstream.HangUp
	}
	// RFC 6120 4.9.3.24.
	return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "")
}

func isStanza(el *stanza.Element) bool {
	switch el.Name.Local {
	case "message", "presence", "iq":
		return el.Name.Space == stanza.NSServer
	}
	return false
}

// take is the token bucket: RateLimit elements per second, RateBurst at
// once. A peer over the rate is slowed down, not cut off: the reader
// waits for the next token, so TCP pushes back on the peer and nothing it
// sent is lost. Only a peer that stays over the rate for MaxThrottle is
// judged abusive, and take reports false.
func (c *inConn) take() bool {
	cfg := &c.srv.cfg
	now := c.srv.now()
	if !c.last.IsZero() {
		c.tokens = min(float64(cfg.RateBurst), c.tokens+cfg.RateLimit*now.Sub(c.last).Seconds())
	}
	c.last = now
	if c.tokens >= 1 {
		c.tokens--
		c.throttled = time.Time{}
		return true
	}
	if c.throttled.IsZero() {
		c.throttled = now
	} else if now.Sub(c.throttled) > cfg.MaxThrottle {
		return false
	}
	wait := time.Duration((1 - c.tokens) / cfg.RateLimit * float64(time.Second))
	time.Sleep(wait)
	c.last = c.last.Add(wait)
	c.tokens = 0
	return true
}

// negotiateTLS answers <starttls/> (RFC 6120 5.4.2.3) and runs the
// handshake.
func (c *inConn) negotiateTLS() *xmlstream.StreamError {
	c.write([]byte(`<proceed xmlns='`+nsTLS+`'/>`), false)
	if !c.startTLS() {
		return xmlstream.HangUp
	}
	// RFC 6120 5.4.3.3: the stream restarts over TLS; bytes that came in
	// the clear behind <starttls/> must not be read as part of it.
	if err := c.dec.Reset(c.nc); err != nil {
		c.srv.cfg.Log.Debug("s2s: data before the TLS handshake", "remote", c.raw.RemoteAddr().String())
		c.raw.Close()
		return xmlstream.HangUp
	}
	c.restarted()
	return nil
}

// startTLS runs the server side of TLS. On failure the TCP connection is
// closed without a stream error (RFC 6120 5.4.3.2).
func (c *inConn) startTLS() bool {
	s := c.srv
	cfg := s.serverTLS
	if c.directTLS {
		cfg = s.serverDirectTLS
	}
	tc := tls.Server(c.raw, cfg)
	c.raw.SetWriteDeadline(time.Now().Add(s.cfg.SetupTimeout))
	if err := tc.Handshake(); err != nil {
		s.cfg.Log.Debug("s2s: TLS handshake failed", "remote", c.raw.RemoteAddr().String(), "err", err)
		c.raw.Close()
		return false
	}
	c.raw.SetWriteDeadline(time.Time{})
	c.nc = tc
	cs := tc.ConnectionState()
	c.certs = cs.PeerCertificates
	c.chainErr = verifyChain(c.certs, s.cfg.RootCAs, s.now())
	c.qcfg = xmlstream.WriterConfig[struct{}]{Timeout: s.cfg.WriteTimeout, Max: maxCtl, Linger: s.closeWait}
	c.q.Init(tc, c.raw, &c.qcfg)
	c.tlsOn.Store(true)
	return true
}

// certValidFor reports whether the peer's certificate verifies and names
// domain (RFC 6120 13.7.2.1, the receiving entity's reference identifier).
func (c *inConn) certValidFor(domain string) bool {
	return c.chainErr == nil && domain != "" && certNames(c.certs[0], domain)
}

// sasl runs SASL EXTERNAL (RFC 6120 6, XEP-0178 3).
func (c *inConn) sasl(el *stanza.Element) *xmlstream.StreamError {
	if c.saslDone {
		// RFC 6120 6.4.6: no second authentication on a stream.
		return xmlstream.NewError(xmlstream.PolicyViolation, "already authenticated")
	}
	switch el.Name.Local {
	case "auth":
		c.saslWait = false
		if el.Get("mechanism") != "EXTERNAL" {
			return c.saslFailure("invalid-mechanism")
		}
		text := el.Text()
		if text == "" {
			// RFC 6120 6.4.2: no initial response; ask for one.
			c.write([]byte(`<challenge xmlns='`+nsSASL+`'>=</challenge>`), false)
			c.saslWait = true
			return nil
		}
		return c.external(text)
	case "response":
		if !c.saslWait {
			return c.saslFailure("malformed-request")
		}
		c.saslWait = false
		return c.external(el.Text())
	case "abort":
		c.saslWait = false
		return c.saslFailure("aborted")
	}
	return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "")
}

// external decides SASL EXTERNAL: the certificate must verify for the
// 'from' of the header; an authorization identity, if any, must be that
// domain (XEP-0178 3 step 10).
func (c *inConn) external(text string) *xmlstream.StreamError {
	c.mu.Lock()
	peer, local := c.peer, c.local
	c.mu.Unlock()
	if text != "=" && text != "" {
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return c.saslFailure("incorrect-encoding")
		}
		if len(b) > 0 && domainOf(string(b)) != peer {
			return c.saslFailure("invalid-authzid")
		}
	}
	if peer == "" || !c.certValidFor(peer) {
		return c.saslFailure("not-authorized")
	}
	c.saslDone = true
	c.authenticate(local, peer, AuthCert)
	c.write([]byte(`<success xmlns='`+nsSASL+`'/>`), false)
	// RFC 6120 6.4.6: the stream restarts; bytes already read belong to
	// the new stream.
	c.dec.Restart()
	c.restarted()
	return nil
}

// saslFailure answers <failure/>; the stream stays open for dialback
// (XEP-0178 3 step 10b) unless the peer keeps failing.
func (c *inConn) saslFailure(cond string) *xmlstream.StreamError {
	c.write([]byte(`<failure xmlns='`+nsSASL+`'><`+cond+`/></failure>`), false)
	c.failures++
	if c.failures >= 3 {
		return xmlstream.NewError(xmlstream.PolicyViolation, "too many failed authentication attempts")
	}
	return nil
}

// authenticate records an authenticated pair.
func (c *inConn) authenticate(local, remote string, m AuthMethod) {
	c.mu.Lock()
	p := pair{local, remote}
	first := len(c.pairs) == 0
	if c.pairs[p] == nil {
		c.pairs[p] = &inPair{method: m, since: c.srv.now()}
		c.remotes[remote]++
	}
	if first && !c.ended {
		c.lastUsed.Store(c.srv.now().UnixNano())
		c.idle = time.AfterFunc(c.srv.cfg.IdleTimeout, c.checkIdle)
	}
	c.mu.Unlock()
	if first {
		// Authenticated streams may stay quiet; IdleTimeout ends them.
		c.raw.SetReadDeadline(time.Time{})
	}
	c.srv.cfg.Log.Info("s2s: inbound link authenticated", "local", local, "remote", remote, "auth", string(m))
}

func (c *inConn) authenticated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pairs) > 0
}

// stanza checks a stanza's addresses against what the stream
// authenticated and hands it to the router.
func (c *inConn) stanza(el *stanza.Element) *xmlstream.StreamError {
	fs, ts := el.Get("from"), el.Get("to")
	if fs == "" || ts == "" {
		// RFC 6120 8.1.1.1 and 8.1.2.2: both are required on s2s.
		return xmlstream.NewError(xmlstream.ImproperAddressing, "stanzas need 'from' and 'to'")
	}
	from, err := jid.Parse(fs)
	if err != nil {
		return xmlstream.NewError(xmlstream.ImproperAddressing, "the 'from' address is not a JID")
	}
	to, err := jid.Parse(ts)
	if err != nil {
		return xmlstream.NewError(xmlstream.ImproperAddressing, "the 'to' address is not a JID")
	}
	c.mu.Lock()
	p := c.pairs[pair{to.Domain(), from.Domain()}]
	known := c.remotes[from.Domain()] > 0
	if p != nil {
		p.in++
	}
	c.mu.Unlock()
	switch {
	case !known:
		// RFC 6120 8.1.2.2: 'from' must be a domain this stream
		// authenticated.
		return xmlstream.NewError(xmlstream.InvalidFrom, "the sender's domain is not authenticated on this stream")
	case p == nil:
		// RFC 6120 8.1.1.1: 'to' must be a domain of ours validated on
		// this stream; nothing is relayed elsewhere.
		return xmlstream.NewError(xmlstream.HostUnknown, "this stream is not authorized for that domain")
	}
	c.lastUsed.Store(c.srv.now().UnixNano())
	toClient(el)
	c.srv.cfg.Router.Route(el, from, to)
	return nil
}

// toClient moves a stanza from jabber:server into jabber:client, the
// namespace the rest of the server (and every client stream) works in
// (RFC 6120 4.8.3: the content namespace belongs to the stream).
func toClient(el *stanza.Element) {
	if el.Name.Space == stanza.NSServer {
		el.Name.Space = stanza.NSClient
	}
	for _, n := range el.Children {
		if ch, ok := n.(*stanza.Element); ok {
			toClient(ch)
		}
	}
}

// dialback handles db:result (we are the receiving server) and db:verify
// (we are the authoritative server).
func (c *inConn) dialback(el *stanza.Element) *xmlstream.StreamError {
	d, ok := parseDB(el)
	if !ok {
		return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "")
	}
	if d.typ != "" {
		// XEP-0220 2.2 and 3.1: without XEP-0288 a receiving stream gets
		// requests only; an answer nobody asked for is dropped.
		c.srv.cfg.Log.Debug("s2s: unsolicited dialback answer ignored", "peer", c.peerName())
		return nil
	}
	if d.verify {
		c.answerVerify(d)
		return nil
	}
	return c.result(d)
}

// answerVerify is XEP-0220 2.2.2: recompute the key for the request's
// 'from' (the receiving server), 'to' (us) and 'id', and answer.
func (c *inConn) answerVerify(d dbElem) {
	s := c.srv
	ans := dbElem{verify: true, from: d.to, to: d.from, id: d.id}
	switch {
	case !s.domains[domainOf(d.to)]:
		// Not a domain of ours: a dialback error, not a stream error.
		ans.typ, ans.cond = "error", stanza.ItemNotFound
	case d.from == "" || d.id == "":
		ans.typ, ans.cond = "error", stanza.BadRequest
	case s.checkKey(d.from, domainOf(d.to), d.id, d.key):
		ans.typ = "valid"
	default:
		s.cfg.Log.Info("s2s: dialback key did not verify", "receiving", d.from, "originating", d.to)
		ans.typ = "invalid"
	}
	c.write(appendDB(nil, ans), false)
}

// result is XEP-0220 2.2.1: an initiating server asks to send from 'from'
// to 'to' on this stream.
func (c *inConn) result(d dbElem) *xmlstream.StreamError {
	s := c.srv
	local, remote := domainOf(d.to), domainOf(d.from)
	if remote == "" {
		return xmlstream.NewError(xmlstream.ImproperAddressing, "db:result needs a 'from' domain")
	}
	if !s.domains[local] {
		c.write(appendDB(nil, dbElem{from: d.to, to: d.from, typ: "error", cond: stanza.ItemNotFound}), false)
		return nil
	}
	p := pair{local, remote}
	c.mu.Lock()
	switch {
	case c.pairs[p] != nil:
		c.mu.Unlock()
		c.write(appendDB(nil, dbElem{from: local, to: remote, typ: "valid"}), false)
		return nil
	case c.pending[p]:
		c.mu.Unlock()
		return nil
	case len(c.pending) >= 8:
		c.mu.Unlock()
		c.write(appendDB(nil, dbElem{from: local, to: remote, typ: "error", cond: stanza.ResourceConstraint}), false)
		return nil
	}
	c.pending[p] = true
	c.mu.Unlock()
	switch {
	case c.certValidFor(remote):
		// XEP-0344 2.3, dialback without dialing back: the certificate
		// already proves the domain.
		c.dialbackDone(p, true, "", AuthCert)
	case s.cfg.RequireCert:
		// XEP-0220 2.4: <not-authorized/>, proof by certificate required.
		c.dialbackDone(p, false, stanza.NotAuthorized, "")
	default:
		id, key := c.id, d.key
		if !s.spawn(func() {
			valid, cond := s.dialBack(local, remote, id, key)
			c.dialbackDone(p, valid, cond, AuthDialback)
		}) {
			c.dialbackDone(p, false, stanza.RemoteServerTimeout, "")
		}
	}
	return nil
}

// dialbackDone reports a dialback outcome to the initiating server
// (XEP-0220 2.2.1, step 4).
func (c *inConn) dialbackDone(p pair, valid bool, cond stanza.Condition, m AuthMethod) {
	c.mu.Lock()
	delete(c.pending, p)
	others := len(c.pairs) > 0
	c.mu.Unlock()
	ans := dbElem{from: p.local, to: p.remote}
	switch {
	case cond != "":
		ans.typ, ans.cond = "error", cond
		c.write(appendDB(nil, ans), false)
	case valid:
		c.authenticate(p.local, p.remote, m)
		ans.typ = "valid"
		c.write(appendDB(nil, ans), false)
	case others:
		// XEP-0220 2.2.1: other pairs are fine on this stream; refuse
		// this one with <forbidden/> rather than lose them.
		c.srv.cfg.Log.Info("s2s: dialback refused", "local", p.local, "remote", p.remote)
		ans.typ, ans.cond = "error", stanza.Forbidden
		c.write(appendDB(nil, ans), false)
	default:
		// XEP-0220 2.2.1: "invalid", and the stream MUST be closed.
		c.srv.cfg.Log.Info("s2s: dialback refused", "local", p.local, "remote", p.remote)
		ans.typ = "invalid"
		c.write(append(appendDB(nil, ans), xmlstream.StreamCloseTag...), true)
	}
}

// checkIdle is the idle timer of an authenticated stream.
func (c *inConn) checkIdle() {
	s := c.srv
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	idleFor := s.now().Sub(time.Unix(0, c.lastUsed.Load()))
	if idleFor < s.cfg.IdleTimeout {
		c.idle.Reset(max(s.cfg.IdleTimeout-idleFor, time.Millisecond))
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	s.cfg.Log.Debug("s2s: idle inbound stream closed", "peer", c.peerName())
	c.q.End(appendCloseTag)
}

func (c *inConn) peerName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peer != "" {
		return c.peer
	}
	return c.raw.RemoteAddr().String()
}

// info appends the stream's LinkInfo: one per authenticated pair, or one
// for the stream while it negotiates.
func (c *inConn) info(list []LinkInfo) []LinkInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pairs) == 0 {
		return append(list, LinkInfo{
			State: "negotiating", Local: c.local, Remote: c.peer, Direction: Inbound, Since: c.since,
		})
	}
	for p, ip := range c.pairs {
		list = append(list, LinkInfo{
			State: "ready", Local: p.local, Remote: p.remote, Direction: Inbound,
			Auth: ip.method, In: ip.in, Since: ip.since,
		})
	}
	return list
}
