package c2s

// A minimal XMPP client for the tests: it speaks the wire protocol over
// real TCP and TLS, writes raw strings and reads with the same
// xmlstream.Decoder the server uses. Every read has a deadline, so a test
// waits for the server's answer and never sleeps.

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// ioTimeout bounds every wait for the server. It is generous because -race
// on a small machine is slow; a test only waits this long when it fails.
const ioTimeout = 10 * time.Second

const clientHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' ` +
	`xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>`

type client struct {
	t        testing.TB
	raw      net.Conn // the TCP connection
	conn     net.Conn // raw, or the *tls.Conn over it
	dec      *xmlstream.Decoder
	features *stanza.Element // the last <stream:features/>
	jid      jid.JID         // the bound full JID
	ids      int
}

func (e *env) dial(t testing.TB) *client {
	t.Helper()
	raw, err := net.DialTimeout("tcp", e.addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return &client{t: t, raw: raw, conn: raw, dec: xmlstream.NewDecoder(raw, xmlstream.Limits{})}
}

// dialDirectTLS connects to the direct TLS listener offering ALPN
// xmpp-client (XEP-0368).
func (e *env) dialDirectTLS(t testing.TB) *client {
	t.Helper()
	raw, err := net.DialTimeout("tcp", e.tlsAddr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	c := &client{t: t, raw: raw, conn: raw}
	c.handshake([]string{"xmpp-client"})
	c.dec = xmlstream.NewDecoder(c.conn, xmlstream.Limits{})
	return c
}

func tlsClientConfig(alpn []string) *tls.Config {
	return &tls.Config{ServerName: testDomain, RootCAs: testRoots(), NextProtos: alpn}
}

func (c *client) handshake(alpn []string) {
	c.t.Helper()
	tc := tls.Client(c.raw, tlsClientConfig(alpn))
	tc.SetDeadline(time.Now().Add(ioTimeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
}

func (c *client) tlsState() tls.ConnectionState {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		c.t.Fatal("not a TLS connection")
	}
	return tc.ConnectionState()
}

// write sends s; it does not fail the test, so goroutines may use it.
func (c *client) write(s string) error {
	c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := io.WriteString(c.conn, s)
	return err
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.write(s); err != nil {
		c.t.Fatalf("write %.60q: %v", s, err)
	}
}

func (c *client) sendf(format string, args ...any) {
	c.t.Helper()
	c.send(fmt.Sprintf(format, args...))
}

func (c *client) event() (xmlstream.Event, error) {
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	return c.dec.Next()
}

// read returns the next first-level element; it does not fail the test.
func (c *client) read() (*stanza.Element, error) {
	ev, err := c.event()
	if err != nil {
		return nil, err
	}
	if ev.Kind != xmlstream.Element {
		return nil, fmt.Errorf("got %v, want an element", ev.Kind)
	}
	return ev.Element, nil
}

// next returns the next first-level element, failing on anything else. A
// stream error is reported with its condition.
func (c *client) next() *stanza.Element {
	c.t.Helper()
	el, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if se := xmlstream.ParseStreamError(el); se != nil {
		c.t.Fatalf("unexpected stream error %s", el)
	}
	return el
}

// nextNamed reads the next element and checks its name.
func (c *client) nextNamed(space, local string) *stanza.Element {
	c.t.Helper()
	el := c.next()
	if el.Name.Space != space || el.Name.Local != local {
		c.t.Fatalf("got %s, want {%s}%s", el, space, local)
	}
	return el
}

func (c *client) id() string {
	c.ids++
	return fmt.Sprintf("id%d", c.ids)
}

// open sends a stream header to testDomain and reads the answer header and
// features.
func (c *client) open() {
	c.t.Helper()
	c.openTo(testDomain)
	c.features = c.nextNamed(stanza.NSStream, "features")
}

func (c *client) openTo(to string) {
	c.t.Helper()
	c.sendf(clientHeader, to)
	ev, err := c.event()
	if err != nil {
		c.t.Fatalf("reading the stream header: %v", err)
	}
	if ev.Kind != xmlstream.StreamOpen {
		c.t.Fatalf("got %v, want the stream header", ev.Kind)
	}
	h := ev.Header
	if h.From != to || h.ID == "" || h.Version != "1.0" || h.DefaultNS != stanza.NSClient {
		c.t.Fatalf("stream header %+v", h)
	}
}

// startTLS negotiates STARTTLS (RFC 6120 5.4) and reopens the stream.
func (c *client) startTLS() {
	c.t.Helper()
	if c.features.Child(nsTLS, "starttls") == nil {
		c.t.Fatalf("no STARTTLS offered: %s", c.features)
	}
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.nextNamed(nsTLS, "proceed")
	c.handshake(nil)
	// RFC 6120 5.4.3.3: nothing read in the clear carries over.
	if err := c.dec.Reset(c.conn); err != nil {
		c.t.Fatal(err)
	}
	c.open()
}

// mechanisms lists the SASL mechanisms of the current features.
func (c *client) mechanisms() []string {
	var out []string
	if m := c.features.Child(nsSASL, "mechanisms"); m != nil {
		for _, e := range m.Elements() {
			out = append(out, e.Text())
		}
	}
	return out
}

// bindingTypes lists the XEP-0440 channel-binding types of the features.
func (c *client) bindingTypes() []string {
	var out []string
	if cb := c.features.Child(nsSASLCB, "sasl-channel-binding"); cb != nil {
		for _, e := range cb.Elements() {
			out = append(out, e.Get("type"))
		}
	}
	return out
}

func plainResponse(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}

// saslDone reads <success/>, restarts the stream (RFC 6120 6.4.6) and
// returns the success data.
func (c *client) saslDone() []byte {
	c.t.Helper()
	el := c.next()
	if el.Name.Space != nsSASL || el.Name.Local != "success" {
		c.t.Fatalf("got %s, want <success/>", el)
	}
	data, err := base64.StdEncoding.DecodeString(el.Text())
	if err != nil {
		c.t.Fatalf("success data: %v", err)
	}
	c.dec.Restart()
	c.open()
	return data
}

// authPlain authenticates with PLAIN (RFC 4616).
func (c *client) authPlain(user string) {
	c.t.Helper()
	c.sendf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>`, plainResponse(user, testPassword))
	c.saslDone()
}

// saslFailure reads a SASL <failure/> and checks its condition.
func (c *client) saslFailure(want string) {
	c.t.Helper()
	el := c.nextNamed(nsSASL, "failure")
	if el.Child(nsSASL, want) == nil {
		c.t.Fatalf("got %s, want failure <%s/>", el, want)
	}
}

// scramBinding returns the channel binding of type typ for this TLS
// connection as a client computes it.
func (c *client) scramBinding(typ scram.ChannelBindingType) scram.ChannelBinding {
	c.t.Helper()
	cs := c.tlsState()
	switch typ {
	case scram.ChannelBindingTLSServerEndpoint:
		// RFC 5929 4.1: the server certificate hashed with the hash of its
		// signature algorithm; testCert is ECDSA with SHA-256.
		cert := cs.PeerCertificates[0]
		if cert.SignatureAlgorithm.String() != "ECDSA-SHA256" {
			c.t.Fatalf("certificate signed with %v", cert.SignatureAlgorithm)
		}
		sum := sha256.Sum256(cert.Raw)
		return scram.ChannelBinding{Type: typ, Data: sum[:]}
	case scram.ChannelBindingTLSExporter:
		// RFC 9266 2.
		ekm, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil {
			c.t.Fatal(err)
		}
		return scram.ChannelBinding{Type: typ, Data: ekm}
	}
	c.t.Fatalf("binding type %q", typ)
	return scram.ChannelBinding{}
}

// scramStart sends <auth/> with the client-first-message and returns the
// conversation and the server-first-message.
func (c *client) scramStart(user, mech string, cb *scram.ChannelBinding) (*scram.ClientConversation, string) {
	c.t.Helper()
	client, err := scram.SHA256.NewClient(user, testPassword, "")
	if err != nil {
		c.t.Fatal(err)
	}
	var conv *scram.ClientConversation
	if cb != nil {
		conv = client.NewConversationWithChannelBinding(*cb)
	} else {
		conv = client.NewConversation()
	}
	first, err := conv.Step("")
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>`,
		mech, base64.StdEncoding.EncodeToString([]byte(first)))
	ch := c.nextNamed(nsSASL, "challenge")
	s1, err := base64.StdEncoding.DecodeString(ch.Text())
	if err != nil {
		c.t.Fatal(err)
	}
	return conv, string(s1)
}

// authSCRAM runs a full SCRAM-SHA-256 or SCRAM-SHA-256-PLUS exchange and
// checks the server's signature.
func (c *client) authSCRAM(user, mech string, cb *scram.ChannelBinding) {
	c.t.Helper()
	conv, s1 := c.scramStart(user, mech, cb)
	final, err := conv.Step(s1)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendf(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>`,
		base64.StdEncoding.EncodeToString([]byte(final)))
	s2 := c.saslDone()
	if _, err := conv.Step(string(s2)); err != nil || !conv.Valid() {
		c.t.Fatalf("the server's signature does not verify: %v", err)
	}
}

// bind binds resource ("" for a server-generated one) and returns the
// result's JID.
func (c *client) bind(resource string) jid.JID {
	c.t.Helper()
	res, err := c.tryBind(resource)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

func (c *client) tryBind(resource string) (jid.JID, error) {
	c.t.Helper()
	if c.features.Child(nsBind, "bind") == nil {
		c.t.Fatalf("no bind feature: %s", c.features)
	}
	id := c.id()
	req := ""
	if resource != "" {
		req = "<resource>" + xmlEscape(resource) + "</resource>"
	}
	c.sendf(`<iq type='set' id='%s'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>%s</bind></iq>`, id, req)
	el := c.nextNamed(stanza.NSClient, "iq")
	if el.Get("id") != id {
		c.t.Fatalf("bind answer %s, want id %s", el, id)
	}
	if el.Get("type") == "error" {
		se := stanzaErr(el)
		if se == nil {
			c.t.Fatalf("bind error without <error/>: %s", el)
		}
		return jid.JID{}, se
	}
	b := el.Child(nsBind, "bind")
	if el.Get("type") != "result" || b == nil || b.Child(nsBind, "jid") == nil {
		c.t.Fatalf("bind answer %s", el)
	}
	j, err := jid.Parse(b.Child(nsBind, "jid").Text())
	if err != nil {
		c.t.Fatal(err)
	}
	c.jid = j
	return j, nil
}

// available sends initial presence and reads its reflection (RFC 6121
// 4.2.2: the user's available resources, this one included, get it).
func (c *client) available() {
	c.t.Helper()
	c.send(`<presence/>`)
	p := c.nextNamed(stanza.NSClient, "presence")
	if p.Get("from") != c.jid.String() {
		c.t.Fatalf("own presence %s", p)
	}
}

// ping sends an XEP-0199 ping to the server and waits for its result. As
// the server handles a stream's stanzas in order, the answer also means
// that everything sent before it has been handled.
func (c *client) ping() {
	c.t.Helper()
	id := c.id()
	c.sendf(`<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>`, id, testDomain)
	el := c.nextNamed(stanza.NSClient, "iq")
	if el.Get("id") != id || el.Get("type") != "result" || el.Get("from") != testDomain {
		c.t.Fatalf("ping answer %s", el)
	}
}

// login opens a bound session for user over STARTTLS with PLAIN.
func (e *env) login(t testing.TB, user, resource string) *client {
	t.Helper()
	c := e.dial(t)
	c.open()
	c.startTLS()
	c.authPlain(user)
	c.bind(resource)
	return c
}

// expectStreamError reads up to and including a stream error, checks its
// condition, the closing tag that must follow it and that the connection
// then closes (RFC 6120 4.9.1.1). A stream header before the error is
// accepted: RFC 6120 4.9.1.2 requires one when the error answers the
// initial header.
func (c *client) expectStreamError(want xmlstream.Condition) *xmlstream.StreamError {
	c.t.Helper()
	for {
		ev, err := c.event()
		if err != nil {
			c.t.Fatalf("waiting for stream error %s: %v", want, err)
		}
		switch ev.Kind {
		case xmlstream.StreamOpen:
			continue
		case xmlstream.StreamClose:
			c.t.Fatalf("stream closed without the stream error %s", want)
		}
		se := xmlstream.ParseStreamError(ev.Element)
		if se == nil {
			c.t.Fatalf("got %s, want stream error %s", ev.Element, want)
		}
		if se.Condition != want {
			c.t.Fatalf("got stream error %s, want %s", ev.Element, want)
		}
		if ev, err = c.event(); err != nil || ev.Kind != xmlstream.StreamClose {
			c.t.Fatalf("after the stream error: %v %v, want the closing tag", ev.Kind, err)
		}
		c.expectClosed()
		return se
	}
}

// expectClosed checks that the server closes the connection: a read ends
// with something other than a timeout and yields nothing but whitespace.
func (c *client) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var buf [512]byte
	for {
		n, err := c.conn.Read(buf[:])
		if s := strings.TrimSpace(string(buf[:n])); s != "" {
			c.t.Fatalf("data after the stream ended: %q", s)
		}
		if err != nil {
			if errTimeout(err) {
				c.t.Fatal("the server did not close the connection")
			}
			return
		}
	}
}

// stanzaError is a stanza error as a client reads it.
type stanzaError struct {
	typ, condition string
}

func (e *stanzaError) Error() string { return e.typ + "/" + e.condition }

// stanzaErr extracts the <error/> of an error stanza (RFC 6120 8.3.2).
func stanzaErr(el *stanza.Element) *stanzaError {
	e := el.Child(el.Name.Space, "error")
	if el.Get("type") != "error" || e == nil {
		return nil
	}
	for _, c := range e.Elements() {
		if c.Name.Space == stanza.NSStanzas && c.Name.Local != "text" {
			return &stanzaError{typ: e.Get("type"), condition: c.Name.Local}
		}
	}
	return &stanzaError{typ: e.Get("type")}
}

// expectStanzaError checks that el is an error stanza with the condition.
func expectStanzaError(t testing.TB, el *stanza.Element, cond stanza.Condition) {
	t.Helper()
	se := stanzaErr(el)
	if se == nil || se.condition != string(cond) {
		t.Fatalf("got %s, want stanza error %s", el, cond)
	}
	// RFC 6120 8.3.2: the type is the one 8.3.3 gives for the condition.
	if want := stanza.NewError(cond, "").Type; se.typ != string(want) {
		t.Fatalf("error type %q, want %q: %s", se.typ, want, el)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
