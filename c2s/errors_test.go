package c2s

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// stage is how far a client gets before the bad input.
type stage int

const (
	connected     stage = iota // TCP only, nothing sent
	opened                     // plaintext stream open, features read
	tlsNoHeader                // STARTTLS done, no header over TLS yet
	secured                    // stream reopened over TLS
	authNoHeader               // SASL success, no restart header yet
	authenticated              // stream restarted after SASL
	bound                      // a resource is bound
)

func (st stage) String() string {
	return [...]string{"connected", "opened", "tlsNoHeader", "secured", "authNoHeader", "authenticated", "bound"}[st]
}

// reach brings a new client on e to st.
func (e *env) reach(t *testing.T, st stage) *client {
	t.Helper()
	c := e.dial(t)
	if st >= opened {
		c.open()
	}
	if st >= tlsNoHeader {
		c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		c.nextNamed(nsTLS, "proceed")
		c.handshake(nil)
		if err := c.dec.Reset(c.conn); err != nil {
			t.Fatal(err)
		}
	}
	if st >= secured {
		c.open()
	}
	if st >= authNoHeader {
		c.sendf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>`, plainResponse("juliet", testPassword))
		c.nextNamed(nsSASL, "success")
		c.dec.Restart()
	}
	if st >= authenticated {
		c.open()
	}
	if st >= bound {
		c.bind("")
	}
	return c
}

const (
	badLimitStanza = 4096
	badLimitDepth  = 10
	badMaxFailures = 3
)

// badInputEnv is the server the bad-input tests share: small limits, and an
// observer session that must keep working whatever the others send.
func badInputEnv(t *testing.T) (*env, *client) {
	e := newEnv(t, func(cfg *Config) {
		cfg.Limits = xmlstream.Limits{MaxStanza: badLimitStanza, MaxDepth: badLimitDepth}
		cfg.MaxAuthFailures = badMaxFailures
	})
	obs := e.login(t, "nurse", "observer")
	return e, obs
}

// stillWorks checks that an established session is unaffected: a message to
// itself comes back and the server answers a ping.
func stillWorks(t *testing.T, c *client) {
	t.Helper()
	id := c.id()
	c.sendf(`<message to='%s' id='%s'><body>still here</body></message>`, c.jid, id)
	if m := c.nextNamed(stanza.NSClient, "message"); m.Get("id") != id || m.Get("from") != c.jid.String() {
		t.Fatalf("observer got %s", m)
	}
	c.ping()
}

func header(attrs string) string {
	return `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' ` + attrs + `>`
}

// TestStreamErrors sends one kind of bad input per case and checks the
// stream error condition (RFC 6120 4.9.3), that the connection closes, and
// that another session on the same server is unaffected.
func TestStreamErrors(t *testing.T) {
	e, obs := badInputEnv(t)
	deep := strings.Repeat("<x>", badLimitDepth) + strings.Repeat("</x>", badLimitDepth)
	cases := []struct {
		name string
		at   stage
		send string
		want xmlstream.Condition
	}{
		// RFC 6120 4.9.3.13 and 11.3.
		{"not well-formed stanza", bound, `<message to='romeo@localhost'><body>hi</message>`, xmlstream.NotWellFormed},
		{"not well-formed header", connected, `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' <`, xmlstream.NotWellFormed},
		{"undeclared prefix", bound, `<foo:message xmlns='jabber:client'/>`, xmlstream.NotWellFormed},
		// RFC 6120 4.9.3.10: the stream namespace and the content namespace.
		{"wrong stream namespace", connected, `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streamz' to='localhost' version='1.0'>`, xmlstream.InvalidNamespace},
		{"jabber:server content namespace", connected, header(`xmlns='jabber:server' to='localhost' version='1.0'`), xmlstream.InvalidNamespace},
		{"no content namespace", connected, header(`to='localhost' version='1.0'`), xmlstream.InvalidNamespace},
		// RFC 6120 4.9.3.6.
		{"unknown domain", connected, header(`xmlns='jabber:client' to='verona.example' version='1.0'`), xmlstream.HostUnknown},
		// RFC 6120 4.7.5 and 4.9.3.25.
		{"no version", connected, header(`xmlns='jabber:client' to='localhost'`), xmlstream.UnsupportedVersion},
		{"version 0.9", connected, header(`xmlns='jabber:client' to='localhost' version='0.9'`), xmlstream.UnsupportedVersion},
		// RFC 6120 4.3.5 (and 4.9.3.12): stanzas before negotiation ends.
		{"stanza before STARTTLS", opened, `<message to='romeo@localhost'><body>hi</body></message>`, xmlstream.NotAuthorized},
		{"stanza before auth", secured, `<message to='romeo@localhost'><body>hi</body></message>`, xmlstream.NotAuthorized},
		{"stanza after auth before bind", authenticated, `<message to='romeo@localhost'><body>hi</body></message>`, xmlstream.NotAuthorized},
		{"iq before bind", authenticated, `<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, xmlstream.NotAuthorized},
		// RFC 6120 5.3.1: STARTTLS is mandatory-to-negotiate.
		{"other element before STARTTLS", opened, `<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method></compress>`, xmlstream.PolicyViolation},
		// RFC 6120 4.9.3.14: local limits.
		{"oversized stanza", bound, `<message to='romeo@localhost'><body>` + strings.Repeat("x", badLimitStanza+100) + `</body></message>`, xmlstream.PolicyViolation},
		{"too deep", bound, `<message to='romeo@localhost'>` + deep + `</message>`, xmlstream.PolicyViolation},
		// RFC 6120 11.1 and 4.9.3.18.
		{"doctype", connected, `<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>`, xmlstream.RestrictedXML},
		{"comment", bound, `<!-- a comment -->`, xmlstream.RestrictedXML},
		{"comment in stanza", bound, `<message to='romeo@localhost'><!-- hi --><body>x</body></message>`, xmlstream.RestrictedXML},
		{"processing instruction", bound, `<?evil please?>`, xmlstream.RestrictedXML},
		{"processing instruction in stanza", bound, `<message to='romeo@localhost'><?evil please?></message>`, xmlstream.RestrictedXML},
		{"entity", bound, `<message to='romeo@localhost'><body>&xxe;</body></message>`, xmlstream.RestrictedXML},
		// RFC 6120 4.9.3.24.
		{"unknown first-level element", bound, `<foo xmlns='urn:example:foo'/>`, xmlstream.UnsupportedStanzaType},
		{"unknown jabber:client element", bound, `<note>hi</note>`, xmlstream.UnsupportedStanzaType},
		// RFC 6120 4.9.1.2: a stream restarted over TLS or after SASL is a
		// new stream, so an error in its header comes after a header too.
		{"bad header after STARTTLS", tlsNoHeader, `<?xml version='1.0'?><!DOCTYPE x>`, xmlstream.RestrictedXML},
		{"bad namespace after STARTTLS", tlsNoHeader, `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='localhost' version='1.0'>`, xmlstream.InvalidNamespace},
		{"restart for another domain", tlsNoHeader, header(`xmlns='jabber:client' to='verona.example' version='1.0'`), xmlstream.HostUnknown},
		{"bad header after SASL", authNoHeader, header(`xmlns='jabber:client' to='localhost' version='1.0' <`), xmlstream.NotWellFormed},
		{"no version after SASL", authNoHeader, header(`xmlns='jabber:client' to='localhost'`), xmlstream.UnsupportedVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.reach(t, tc.at)
			c.send(tc.send)
			se := c.expectStreamError(tc.want)
			if tc.name == "oversized stanza" && (se.App == nil || se.App.Name.Local != "stanza-too-big") {
				t.Errorf("oversized stanza: application condition %v, want <stanza-too-big/>", se.App)
			}
			stillWorks(t, obs)
		})
	}
}

// TestSTARTTLSInjection: bytes sent in the clear right behind <starttls/>
// must not be read as part of the protected stream (RFC 6120 5.4.3.3); the
// server drops the connection instead.
func TestSTARTTLSInjection(t *testing.T) {
	e, obs := badInputEnv(t)
	c := e.reach(t, opened)
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` +
		`<message to='romeo@localhost'><body>injected</body></message>`)
	c.nextNamed(nsTLS, "proceed")
	c.handshake(nil)
	// Nothing more comes, over TLS or not: the connection closes.
	c.expectClosed()
	stillWorks(t, obs)
}

// TestSTARTTLSHandshakeFailure: a failed TLS handshake closes the TCP
// connection without a stream error (RFC 6120 5.4.3.2).
func TestSTARTTLSHandshakeFailure(t *testing.T) {
	e, obs := badInputEnv(t)
	c := e.reach(t, opened)
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.nextNamed(nsTLS, "proceed")
	c.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	c.raw.SetReadDeadline(time.Now().Add(ioTimeout))
	var got []byte
	buf := make([]byte, 512)
	for {
		n, err := c.raw.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if errTimeout(err) {
				t.Fatal("the server did not close the connection")
			}
			break
		}
	}
	// A TLS alert may come back, but no XML.
	if strings.Contains(string(got), "<") {
		t.Fatalf("the server answered %q", got)
	}
	stillWorks(t, obs)
}

// TestSASLFailures: SASL failures (RFC 6120 6.5) keep the stream open until
// MaxAuthFailures, which ends it with <policy-violation/> (6.4.5).
func TestSASLFailures(t *testing.T) {
	e, obs := badInputEnv(t)
	auth := func(mech, data string) string {
		return fmt.Sprintf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>`, mech, data)
	}
	wrong := plainResponse("juliet", "not-the-password")

	t.Run("auth before STARTTLS", func(t *testing.T) {
		c := e.reach(t, opened)
		c.send(auth("SCRAM-SHA-256", b64("n,,n=juliet,r=abcdefgh")))
		c.saslFailure(string(sasl.EncryptionRequired))
		c.startTLS()
		c.authPlain("juliet")
		stillWorks(t, obs)
	})
	t.Run("bad base64", func(t *testing.T) {
		c := e.reach(t, secured)
		c.send(auth("PLAIN", "!!not base64!!"))
		c.saslFailure(string(sasl.IncorrectEncoding))
		c.authPlain("juliet")
		c.bind("")
		stillWorks(t, obs)
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := e.reach(t, secured)
		c.send(auth("X-OAUTH2", b64("token")))
		c.saslFailure(string(sasl.InvalidMechanism))
		c.authPlain("juliet")
		stillWorks(t, obs)
	})
	t.Run("unknown user", func(t *testing.T) {
		c := e.reach(t, secured)
		c.send(auth("PLAIN", plainResponse("rosaline", testPassword)))
		c.saslFailure(string(sasl.NotAuthorized))
		c.authPlain("juliet")
	})
	t.Run("abort", func(t *testing.T) {
		c := e.reach(t, secured)
		c.sendf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>`, b64("n,,n=juliet,r=abcdefghijkl"))
		c.nextNamed(nsSASL, "challenge")
		c.send(`<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
		c.saslFailure(string(sasl.Aborted))
		c.authPlain("juliet")
	})
	t.Run("wrong password", func(t *testing.T) {
		c := e.reach(t, secured)
		// Each failure is answered on a stream that stays open; the last
		// allowed one also ends it.
		for range badMaxFailures {
			c.send(auth("PLAIN", wrong))
			c.saslFailure(string(sasl.NotAuthorized))
		}
		c.expectStreamError(xmlstream.PolicyViolation)
		stillWorks(t, obs)
	})
	t.Run("wrong password then right", func(t *testing.T) {
		c := e.reach(t, secured)
		for range badMaxFailures - 1 {
			c.send(auth("PLAIN", wrong))
			c.saslFailure(string(sasl.NotAuthorized))
		}
		c.authPlain("juliet")
		c.bind("")
		c.ping()
	})
}

// TestPreAuthTimeout: a client that does not finish negotiating within
// PreAuthTimeout gets <connection-timeout/> (RFC 6120 4.9.3.4). The time
// is what is under test, so the timeout is real and short.
func TestPreAuthTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, func(cfg *Config) { cfg.PreAuthTimeout = timeout })
	for _, st := range []stage{connected, opened} {
		t.Run(st.String(), func(t *testing.T) {
			start := time.Now()
			c := e.reach(t, st)
			c.expectStreamError(xmlstream.ConnectionTimeout)
			if d := time.Since(start); d < timeout {
				t.Fatalf("timed out after %v, before %v", d, timeout)
			}
		})
	}
	t.Run("bound sessions do not time out", func(t *testing.T) {
		// The login must fit in the timeout; the wait below then outlasts
		// it on the server's own clock, via an answer that comes later.
		c := e.login(t, "juliet", "")
		ts := time.Now()
		for time.Since(ts) < 2*timeout {
			c.ping()
		}
	})
}
