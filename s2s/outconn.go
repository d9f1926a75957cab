package s2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/idna"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Opening a stream to a remote server: RFC 6120 4 (streams), 5 (STARTTLS),
// 6 with XEP-0178 (SASL EXTERNAL), XEP-0220 (dialback), XEP-0368 (direct
// TLS).

const (
	nsTLS  = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// setupError is why an outbound stream could not be set up, with the
// stanza error its queued stanzas are bounced with.
type setupError struct {
	cond stanza.Condition
	msg  string
	err  error
}

func (e *setupError) Error() string {
	if e.err != nil {
		return "s2s: " + e.msg + ": " + e.err.Error()
	}
	return "s2s: " + e.msg
}

func (e *setupError) Unwrap() error { return e.err }

// permanent failures: the remote domain has no server we can use, and
// trying again soon will not change that. RFC 6120 10.4.3: resolution
// failed, <remote-server-not-found/>.
func permanent(msg string, err error) error {
	return &setupError{cond: stanza.RemoteServerNotFound, msg: msg, err: err}
}

// temporary failures: RFC 6120 10.4.3, resolution succeeded but no stream
// could be negotiated, <remote-server-timeout/>.
func temporary(msg string, err error) error {
	return &setupError{cond: stanza.RemoteServerTimeout, msg: msg, err: err}
}

// conditionOf is the stanza error for a setup failure.
func conditionOf(err error) stanza.Condition {
	var se *setupError
	if errors.As(err, &se) {
		return se.cond
	}
	return stanza.RemoteServerTimeout
}

// outConn is the initiating side of one connection: our stream to a
// remote server.
type outConn struct {
	srv           *Server
	local, remote string
	ctx           context.Context // the setup's: bounds the TLS handshake
	raw, nc       net.Conn
	dec           *xmlstream.Decoder
	tls           bool
	hdr           xmlstream.Header // the peer's current response header
	features      *stanza.Element
	dbNS          bool  // the peer's header declares the dialback namespace
	certErr       error // nil when the peer's certificate verifies for remote
	auth          AuthMethod

	link *link
	q    xmlstream.Writer[entry]
	qcfg xmlstream.WriterConfig[entry]
}

// connect resolves remote, tries its targets in order and returns the
// first stream that reaches the point where stanzas may flow: TLS
// negotiated and, when authenticate is set, our domain authenticated.
// Without authenticate (a dialback verification connection) it stops
// after TLS, with the features of the protected stream read.
func (s *Server) connect(ctx context.Context, local, remote string, authenticate bool) (*outConn, error) {
	targets, err := s.cfg.Resolver.Resolve(ctx, remote)
	if err != nil {
		if errors.Is(err, ErrNoService) {
			return nil, permanent("no XMPP service for "+remote, err)
		}
		return nil, temporary("resolving "+remote, err)
	}
	if len(targets) == 0 {
		return nil, permanent("no XMPP service for "+remote, nil)
	}
	var errs []error
	for _, t := range targets {
		addrs, err := s.addresses(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, addr := range addrs {
			c, err := s.try(ctx, local, remote, addr, t.DirectTLS, authenticate)
			if err == nil {
				return c, nil
			}
			s.cfg.Log.Debug("s2s: target failed", "local", local, "remote", remote, "addr", addr, "err", err)
			errs = append(errs, err)
			if ctx.Err() != nil {
				return nil, summarize(append(errs, temporary("setup timed out", ctx.Err())))
			}
		}
	}
	return nil, summarize(errs)
}

// summarize picks the failure that describes a whole setup: a temporary
// one if any target failed for a reason that may pass (trying again can
// help), otherwise the last.
func summarize(errs []error) error {
	for _, err := range errs {
		if conditionOf(err) == stanza.RemoteServerTimeout {
			return err
		}
	}
	return errs[len(errs)-1]
}

// addresses turns a target into host:port strings to dial, through the
// resolver's own host lookup when it has one.
func (s *Server) addresses(ctx context.Context, t Target) ([]string, error) {
	port := strconv.Itoa(int(t.Port))
	hr, ok := s.cfg.Resolver.(hostResolver)
	if _, err := netip.ParseAddr(t.Host); err == nil || !ok {
		return []string{net.JoinHostPort(t.Host, port)}, nil
	}
	ips, err := hr.LookupHost(ctx, t.Host)
	if err != nil {
		if errors.Is(err, ErrNoAddress) {
			return nil, permanent("no address for "+t.Host, err)
		}
		return nil, temporary("resolving "+t.Host, err)
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.String(), port))
	}
	return out, nil
}

// try sets up a stream over one address.
func (s *Server) try(ctx context.Context, local, remote, addr string, directTLS, authenticate bool) (*outConn, error) {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	raw, err := s.cfg.Dial(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, dialFailure(addr, err)
	}
	c := &outConn{srv: s, local: local, remote: remote, ctx: ctx, raw: raw, nc: raw}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	// Shutdown cancels ctx: wake whatever I/O is blocked.
	stop := context.AfterFunc(ctx, c.wake)
	err = c.open(directTLS)
	if err == nil && authenticate {
		if s.cfg.RequireCert && c.certErr != nil {
			// Our policy: no certificate, no link (RFC 6120 13.7.2 leaves
			// the choice to the local service policy).
			err = permanent("the certificate of "+remote+" does not verify", c.certErr)
		} else {
			err = c.authenticate()
		}
	}
	stop()
	if err != nil {
		c.abandon()
		return nil, err
	}
	if ctx.Err() != nil {
		raw.Close()
		return nil, temporary("setup cancelled", ctx.Err())
	}
	raw.SetDeadline(time.Time{})
	return c, nil
}

// dialFailure classifies a failed TCP connection: refused or unreachable
// is the remote saying no (permanent), anything else may pass.
func dialFailure(addr string, err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return permanent("connecting to "+addr, err)
	}
	return temporary("connecting to "+addr, err)
}

// wake makes any blocked read or write on the connection return.
func (c *outConn) wake() { c.raw.SetDeadline(time.Unix(1, 0)) }

// open negotiates the stream up to TLS: RFC 6120 4.2 and 5.4.
func (c *outConn) open(directTLS bool) error {
	if directTLS {
		if err := c.startTLS(true); err != nil {
			return err
		}
	}
	c.dec = xmlstream.NewDecoder(c.nc, c.srv.cfg.Limits)
	for {
		if err := c.openStream(); err != nil {
			return err
		}
		if c.tls {
			return nil
		}
		if c.features == nil || c.features.Child(nsTLS, "starttls") == nil {
			// RFC 7590 3.1 and our policy: stanzas never travel in the
			// clear, so a server without STARTTLS is not talked to.
			return temporary(c.remote+" does not offer STARTTLS", nil)
		}
		// RFC 6120 5.4.2.
		if err := c.writeNow([]byte(`<starttls xmlns='` + nsTLS + `'/>`)); err != nil {
			return temporary("writing", err)
		}
		el, err := c.readElement()
		if err != nil {
			return err
		}
		if el.Name.Space != nsTLS || el.Name.Local != "proceed" {
			// RFC 6120 5.4.2.2: <failure/>, and the server closes.
			return temporary(c.remote+" refused STARTTLS", nil)
		}
		if err := c.startTLS(false); err != nil {
			return err
		}
		// RFC 6120 5.4.3.3: a new stream over TLS; nothing read in the
		// clear carries over.
		if err := c.dec.Reset(c.nc); err != nil {
			return temporary(c.remote+" sent data before the TLS handshake", err)
		}
	}
}

// openStream sends our header and reads the peer's and, for a version 1.0
// stream, its features (RFC 6120 4.3.2).
func (c *outConn) openStream() error {
	h := xmlstream.Header{
		From: c.local, To: c.remote, Version: "1.0", DefaultNS: stanza.NSServer,
		// XEP-0220 2.4.1: declaring the namespace says we speak dialback.
		Attr: []stanza.Attr{{Name: stanza.Name{Space: xmlstream.NSXMLNS, Local: "db"}, Value: nsDialback}},
	}
	if err := c.writeNow(xmlstream.AppendStreamHeader(nil, h)); err != nil {
		return temporary("writing", err)
	}
	ev, err := c.dec.Next()
	if err != nil {
		return readFailure(err)
	}
	if ev.Kind != xmlstream.StreamOpen {
		return temporary("expected a stream header", nil)
	}
	c.hdr = ev.Header
	c.features = nil
	if c.hdr.DefaultNS != stanza.NSServer {
		return temporary(c.remote+" answered with a wrong content namespace", nil)
	}
	c.dbNS = false
	for _, a := range c.hdr.Attr {
		if a.Name.Space == xmlstream.NSXMLNS && a.Value == nsDialback {
			c.dbNS = true
		}
	}
	if v := c.hdr.Version; v == "" || !strings.HasPrefix(v, "1.") {
		// RFC 6120 4.7.5: a pre-1.0 server sends no features.
		return nil
	}
	el, err := c.readElement()
	if err != nil {
		return err
	}
	if el.Name.Space != stanza.NSStream || el.Name.Local != "features" {
		return temporary("expected stream features", nil)
	}
	c.features = el
	return nil
}

// startTLS runs the client side of TLS. The SNI is the remote XMPP domain
// (XEP-0368 3, RFC 6120 13.7.2.1: the reference identifier is the 'to' of
// our header). The certificate is checked after the handshake.
func (c *outConn) startTLS(direct bool) error {
	s := c.srv
	own := s.clientCert(c.local)
	cfg := s.cfg.TLS.Clone()
	// Only GetClientCertificate (below) chooses what we present; a client
	// never reads the server-side name map a Config may carry.
	cfg.Certificates = nil
	cfg.GetCertificate = nil
	cfg.ServerName = c.remote
	if a, err := idna.Lookup.ToASCII(c.remote); err == nil {
		cfg.ServerName = a
	}
	cfg.InsecureSkipVerify = true // verified below, against the XMPP domain (verify.go)
	cfg.VerifyPeerCertificate = nil
	cfg.VerifyConnection = nil
	cfg.ClientAuth = tls.NoClientCert
	cfg.NextProtos = nil
	if direct {
		// XEP-0368 3: ALPN xmpp-server on direct TLS.
		cfg.NextProtos = []string{alpnServer}
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if own.cert == nil {
			return &tls.Certificate{}, nil
		}
		return own.cert, nil
	}
	tc := tls.Client(c.raw, cfg)
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return temporary("TLS with "+c.remote, err)
	}
	cs := tc.ConnectionState()
	if direct && cs.NegotiatedProtocol != "" && cs.NegotiatedProtocol != alpnServer {
		return temporary(c.remote+" negotiated another application protocol", nil)
	}
	c.nc = tc
	c.tls = true
	c.certErr = verifyPeer(cs.PeerCertificates, c.remote, s.cfg.RootCAs, s.now())
	if c.certErr != nil {
		s.cfg.Log.Debug("s2s: peer certificate does not verify", "remote", c.remote, "err", c.certErr)
	}
	return nil
}

// mechanisms lists the SASL mechanisms the peer offers.
func (c *outConn) mechanisms() []string {
	if c.features == nil {
		return nil
	}
	m := c.features.Child(nsSASL, "mechanisms")
	if m == nil {
		return nil
	}
	var list []string
	for _, e := range m.Elements() {
		if e.Name.Space == nsSASL && e.Name.Local == "mechanism" {
			list = append(list, strings.TrimSpace(e.Text()))
		}
	}
	return list
}

// dialbackOffered: XEP-0220 2.4, the stream feature or, from servers that
// predate it, the namespace declaration on the header.
func (c *outConn) dialbackOffered() bool {
	return c.dbNS || c.features != nil && c.features.Child(nsDialbackFeature, "dialback") != nil
}

// authenticate proves our domain: SASL EXTERNAL when the peer offers it
// and our certificate names our domain (XEP-0178 3), else dialback
// (XEP-0220 2.1.1).
func (c *outConn) authenticate() error {
	s := c.srv
	if slices.Contains(c.mechanisms(), "EXTERNAL") && s.clientCert(c.local).names {
		ok, err := c.external()
		if err != nil {
			return err
		}
		if ok {
			c.auth = AuthCert
			return nil
		}
	}
	if !c.dialbackOffered() {
		return temporary(c.remote+" offers no authentication we can use", nil)
	}
	key := s.dialbackKey(c.remote, c.local, c.hdr.ID)
	if err := c.writeNow(appendDB(nil, dbElem{from: c.local, to: c.remote, key: key})); err != nil {
		return temporary("writing", err)
	}
	for {
		el, err := c.readElement()
		if err != nil {
			return err
		}
		d, ok := parseDB(el)
		// XEP-0220 2.1.1: the answer must correlate with our request.
		if !ok || d.verify || domainOf(d.from) != c.remote || domainOf(d.to) != c.local {
			continue
		}
		switch d.typ {
		case "valid":
			c.auth = AuthDialback
			return nil
		case "invalid":
			// XEP-0220 2.1.1: queued stanzas go back with
			// <internal-server-error/>.
			return &setupError{cond: stanza.InternalServerError, msg: c.remote + " rejected our dialback key"}
		case "error":
			// XEP-0220 2.4: <remote-server-timeout/> to the senders.
			return temporary(c.remote+" answered dialback with an error", errors.New(string(d.cond)))
		}
	}
}

// external runs SASL EXTERNAL (RFC 6120 6.4, XEP-0178 3). The
// authorization identity is our domain: XEP-0178 says a future version
// may drop it, but that a connecting server SHOULD send it for servers
// that still rely on it. false: the peer refused, try dialback.
func (c *outConn) external() (bool, error) {
	auth := `<auth xmlns='` + nsSASL + `' mechanism='EXTERNAL'>` + base64.StdEncoding.EncodeToString([]byte(c.local)) + `</auth>`
	if err := c.writeNow([]byte(auth)); err != nil {
		return false, temporary("writing", err)
	}
	el, err := c.readElement()
	if err != nil {
		return false, err
	}
	if el.Name.Space != nsSASL {
		return false, temporary("unexpected answer to SASL", nil)
	}
	switch el.Name.Local {
	case "success":
		// RFC 6120 6.4.6: the stream restarts, keeping what was read.
		c.dec.Restart()
		if err := c.openStream(); err != nil {
			return false, err
		}
		return true, nil
	case "failure":
		c.srv.cfg.Log.Debug("s2s: SASL EXTERNAL refused", "local", c.local, "remote", c.remote)
		return false, nil
	default:
		// A challenge to an initial response EXTERNAL does not need:
		// abort (RFC 6120 6.4.4) and try dialback.
		if err := c.writeNow([]byte(`<abort xmlns='` + nsSASL + `'/>`)); err != nil {
			return false, temporary("writing", err)
		}
		if _, err := c.readElement(); err != nil {
			return false, err
		}
		return false, nil
	}
}

// writeNow writes during negotiation, when nothing else writes.
func (c *outConn) writeNow(b []byte) error {
	_, err := c.nc.Write(b)
	return err
}

// readElement reads the next first-level element during negotiation. A
// stream error from the peer ends the setup; <host-unknown/> means the
// peer does not serve the domain, a permanent failure (XEP-0220 2.4
// table).
func (c *outConn) readElement() (*stanza.Element, error) {
	ev, err := c.dec.Next()
	if err != nil {
		return nil, readFailure(err)
	}
	switch ev.Kind {
	case xmlstream.StreamClose:
		return nil, temporary(c.remote+" closed the stream", nil)
	case xmlstream.Element:
	default:
		return nil, temporary("unexpected stream header", nil)
	}
	if se := xmlstream.ParseStreamError(ev.Element); se != nil {
		switch se.Condition {
		case xmlstream.HostUnknown, xmlstream.HostGone:
			return nil, permanent(c.remote+" does not serve the domain", se)
		}
		return nil, temporary(c.remote+" sent a stream error", se)
	}
	return ev.Element, nil
}

func readFailure(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return temporary("timed out", err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return temporary("the peer hung up", err)
	}
	return temporary("reading", err)
}

// abandon ends a stream whose setup failed as politely as its state
// allows: a peer whose certificate we refuse is told why with
// <policy-violation/> (RFC 6120 4.9.3.14, 13.7.2), then our closing tag and
// a TLS close_notify before the TCP connection goes (RFC 6120 4.4).
func (c *outConn) abandon() {
	c.raw.SetWriteDeadline(time.Now().Add(time.Second))
	var b []byte
	if c.srv.cfg.RequireCert && c.certErr != nil {
		b = xmlstream.NewError(xmlstream.PolicyViolation, "the certificate of "+c.remote+" does not verify").AppendXML(b)
	}
	c.nc.Write(append(b, xmlstream.StreamCloseTag...)) // best effort
	if c.nc != c.raw {
		c.nc.Close()
	}
	c.raw.Close()
}

// hangUp ends a verification stream: our closing tag, then the
// connection, without waiting for the peer's (RFC 6120 4.4 allows it).
func (c *outConn) hangUp() {
	c.raw.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write([]byte(xmlstream.StreamCloseTag))
	c.raw.Close()
}

// run reads our outbound stream once stanzas flow. Without XEP-0288 the
// peer sends nothing on it but whitespace, dialback answers we did not ask
// for (ignored, XEP-0220 3.1), a stream error or its closing tag.
func (c *outConn) run() {
	s := c.srv
	// Stanzas still queued when the stream ends go back to the link,
	// which sends them on a new connection.
	var unsent []entry
	for {
		ev, err := c.dec.Next()
		if err != nil {
			if se, _ := xmlstream.ReadError(err, false); se != nil {
				unsent = append(unsent, c.q.End(appendStreamError(se))...)
			}
			break
		}
		if ev.Kind == xmlstream.StreamClose {
			// RFC 6120 4.4: answer with our closing tag (a no-op when we
			// closed first).
			unsent = append(unsent, c.q.End(appendCloseTag)...)
			break
		}
		if ev.Kind != xmlstream.Element {
			continue
		}
		el := ev.Element
		if se := xmlstream.ParseStreamError(el); se != nil {
			s.cfg.Log.Info("s2s: stream error from peer", "local", c.local, "remote", c.remote, "condition", string(se.Condition), "text", se.Text)
			unsent = append(unsent, c.q.End(appendCloseTag)...)
			break
		}
		if _, ok := parseDB(el); ok {
			s.cfg.Log.Debug("s2s: unsolicited dialback element ignored", "remote", c.remote)
			continue
		}
		unsent = append(unsent, c.q.End(appendStreamError(xmlstream.NewError(xmlstream.UnsupportedStanzaType, "this stream carries stanzas one way only")))...)
		break
	}
	// A connection that dropped under the reader: what was not written
	// yet goes back to the link (a no-op when the stream already ended).
	unsent = append(unsent, c.q.End(appendCloseTag)...)
	c.q.ReaderExit()
	c.link.connLost(c, unsent)
}
