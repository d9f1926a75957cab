package c2s

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// wantTLS13Mechanisms is what a TLS 1.3 stream offers: -PLUS first because
// tls-exporter and tls-server-end-point are available, PLAIN last.
var wantTLS13Mechanisms = []string{
	sasl.SCRAMSHA256Plus, sasl.SCRAMSHA1Plus, sasl.SCRAMSHA256, sasl.SCRAMSHA1, sasl.Plain,
}

// checkAuthFeatures checks the features of a TLS 1.3 stream awaiting SASL,
// including XEP-0440's <sasl-channel-binding/>.
func checkAuthFeatures(t *testing.T, c *client) {
	t.Helper()
	if v := c.tlsState().Version; v != tls.VersionTLS13 {
		t.Fatalf("TLS version %x, want 1.3", v)
	}
	if got := c.mechanisms(); !slices.Equal(got, wantTLS13Mechanisms) {
		t.Errorf("mechanisms %q, want %q", got, wantTLS13Mechanisms)
	}
	// RFC 9266 1: no tls-unique under TLS 1.3.
	want := []string{sasl.TLSExporter, sasl.TLSServerEndPoint}
	if got := c.bindingTypes(); !slices.Equal(got, want) {
		t.Errorf("channel-binding types %q, want %q", got, want)
	}
	if c.features.Child(nsTLS, "starttls") != nil {
		t.Errorf("STARTTLS offered again over TLS: %s", c.features)
	}
}

// checkBindFeatures checks the features after SASL (RFC 6120 7.2).
func checkBindFeatures(t *testing.T, c *client) {
	t.Helper()
	if c.features.Child(nsBind, "bind") == nil || c.features.Child(nsSASL, "mechanisms") != nil {
		t.Fatalf("features after SASL: %s", c.features)
	}
}

func checkBound(t *testing.T, e *env, c *client, want string) {
	t.Helper()
	if c.jid.String() != want {
		t.Fatalf("bound %s, want %s", c.jid, want)
	}
	res, ok := e.router.Registry.Get(c.jid)
	if !ok || res.Sink == nil {
		t.Fatalf("%s is not in the registry", c.jid)
	}
	// The bound session answers.
	c.ping()
}

func TestSTARTTLSSCRAMBind(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	c.open()
	// RFC 6120 5.3.1 and 5.4.1: TLS is mandatory-to-negotiate, so STARTTLS
	// with <required/> is the only feature before it.
	if els := c.features.Elements(); len(els) != 1 || els[0].Name != (stanza.Name{Space: nsTLS, Local: "starttls"}) ||
		els[0].Child(nsTLS, "required") == nil {
		t.Fatalf("features before TLS: %s", c.features)
	}
	c.startTLS()
	checkAuthFeatures(t, c)
	c.authSCRAM("juliet", sasl.SCRAMSHA256, nil)
	checkBindFeatures(t, c)
	c.bind("balcony")
	checkBound(t, e, c, "juliet@localhost/balcony")
}

func TestDirectTLS(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dialDirectTLS(t)
	// XEP-0368 4: the server negotiates ALPN xmpp-client.
	if p := c.tlsState().NegotiatedProtocol; p != "xmpp-client" {
		t.Fatalf("ALPN %q, want xmpp-client", p)
	}
	c.open()
	checkAuthFeatures(t, c)
	c.authSCRAM("romeo", sasl.SCRAMSHA256, nil)
	checkBindFeatures(t, c)
	c.bind("garden")
	checkBound(t, e, c, "romeo@localhost/garden")
}

func TestSCRAMPlus(t *testing.T) {
	e := newEnv(t, nil)
	for _, direct := range []bool{false, true} {
		for _, typ := range []scram.ChannelBindingType{scram.ChannelBindingTLSServerEndpoint, scram.ChannelBindingTLSExporter} {
			name := "starttls/" + string(typ)
			if direct {
				name = "direct/" + string(typ)
			}
			t.Run(name, func(t *testing.T) {
				var c *client
				if direct {
					c = e.dialDirectTLS(t)
					c.open()
				} else {
					c = e.dial(t)
					c.open()
					c.startTLS()
				}
				checkAuthFeatures(t, c)
				cb := c.scramBinding(typ)
				c.authSCRAM("juliet", sasl.SCRAMSHA256Plus, &cb)
				checkBindFeatures(t, c)
				c.bind("")
				c.ping()
			})
		}
	}
}

// TestSCRAMPlusWrongBinding checks that the server really compares the
// channel binding: data from another TLS connection fails.
func TestSCRAMPlusWrongBinding(t *testing.T) {
	e := newEnv(t, nil)
	other := e.dialDirectTLS(t)
	for _, typ := range []scram.ChannelBindingType{scram.ChannelBindingTLSExporter, scram.ChannelBindingTLSServerEndpoint} {
		t.Run(string(typ), func(t *testing.T) {
			c := e.dialDirectTLS(t)
			c.open()
			cb := other.scramBinding(scram.ChannelBindingTLSExporter)
			if typ == scram.ChannelBindingTLSServerEndpoint {
				// A hash of some other certificate.
				cb = scram.ChannelBinding{Type: typ, Data: []byte(strings.Repeat("\x42", 32))}
			}
			cb.Type = typ
			conv, s1 := c.scramStart("juliet", sasl.SCRAMSHA256Plus, &cb)
			final, err := conv.Step(s1)
			if err != nil {
				t.Fatal(err)
			}
			c.sendf(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>`, b64(final))
			c.saslFailure(string(sasl.NotAuthorized))
		})
	}
}

// TestPlainNotBeforeTLS: RFC 6120 6.3.4 and 5.3.1. Before TLS nothing but
// STARTTLS is offered and <auth/> fails with encryption-required; with
// AllowPlaintext the SCRAM mechanisms are offered but PLAIN is neither
// offered nor accepted.
func TestPlainNotBeforeTLS(t *testing.T) {
	t.Run("required", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.dial(t)
		c.open()
		if c.features.Child(nsSASL, "mechanisms") != nil {
			t.Fatalf("SASL offered before TLS: %s", c.features)
		}
		c.sendf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>`, plainResponse("juliet", testPassword))
		// RFC 6120 6.5.4.
		c.saslFailure(string(sasl.EncryptionRequired))
		// The stream is still usable.
		c.startTLS()
		c.authPlain("juliet")
		c.bind("")
		c.ping()
	})
	t.Run("plaintext allowed", func(t *testing.T) {
		e := newEnv(t, func(cfg *Config) { cfg.AllowPlaintext = true })
		c := e.dial(t)
		c.open()
		if want := []string{sasl.SCRAMSHA256, sasl.SCRAMSHA1}; !slices.Equal(c.mechanisms(), want) {
			t.Fatalf("mechanisms without TLS %q, want %q", c.mechanisms(), want)
		}
		if c.features.Child(nsSASLCB, "sasl-channel-binding") != nil {
			t.Fatalf("channel binding offered without TLS: %s", c.features)
		}
		c.sendf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>`, plainResponse("juliet", testPassword))
		c.saslFailure(string(sasl.EncryptionRequired))
	})
}

func TestBindGeneratedResource(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(t, "juliet", "")
	// RFC 6120 7.6.1: the server generates a resourcepart.
	if c.jid.Resource() == "" || c.jid.Bare().String() != "juliet@localhost" {
		t.Fatalf("bound %s", c.jid)
	}
	d := e.login(t, "juliet", "")
	if d.jid == c.jid {
		t.Fatalf("two sessions got the same generated resource %s", c.jid)
	}
	c.ping()
	d.ping()
}

// TestResourceConflict covers the three behaviours of RFC 6120 7.7.2.2.
func TestResourceConflict(t *testing.T) {
	t.Run("rename", func(t *testing.T) {
		e := newEnv(t, func(cfg *Config) { cfg.Conflict = delivery.ConflictRename })
		a := e.login(t, "juliet", "balcony")
		b := e.login(t, "juliet", "balcony")
		if a.jid.String() != "juliet@localhost/balcony" || b.jid == a.jid || b.jid.Bare() != a.jid.Bare() {
			t.Fatalf("bound %s and %s", a.jid, b.jid)
		}
		// Both sessions are connected resources.
		for _, c := range []*client{a, b} {
			if _, ok := e.router.Registry.Get(c.jid); !ok {
				t.Fatalf("%s not registered", c.jid)
			}
			c.ping()
		}
	})
	t.Run("refuse", func(t *testing.T) {
		e := newEnv(t, func(cfg *Config) { cfg.Conflict = delivery.ConflictRefuse })
		a := e.login(t, "juliet", "balcony")
		b := e.dial(t)
		b.open()
		b.startTLS()
		b.authPlain("juliet")
		_, err := b.tryBind("balcony")
		var se *stanzaError
		if !errors.As(err, &se) || se.condition != string(stanza.Conflict) || se.typ != "cancel" {
			t.Fatalf("second bind: %v, want cancel/conflict", err)
		}
		// The refused stream may still bind another resource, and the
		// first session is untouched.
		b.bind("orchard")
		a.ping()
		b.ping()
	})
	t.Run("replace", func(t *testing.T) {
		e := newEnv(t, func(cfg *Config) { cfg.Conflict = delivery.ConflictReplace })
		a := e.login(t, "juliet", "balcony")
		b := e.login(t, "juliet", "balcony")
		if b.jid != a.jid {
			t.Fatalf("replacing session bound %s, want %s", b.jid, a.jid)
		}
		// RFC 6120 4.9.3.3: the old session ends with <conflict/>.
		a.expectStreamError(xmlstream.Conflict)
		// The resource now belongs to the new session.
		r := e.login(t, "romeo", "")
		r.sendf(`<message to='%s' id='after'><body>still there?</body></message>`, b.jid)
		m := b.nextNamed(stanza.NSClient, "message")
		if m.Get("id") != "after" {
			t.Fatalf("got %s", m)
		}
	})
}

// TestMaxResources: RFC 6120 7.6.2.1, resource-constraint past the limit.
func TestMaxResources(t *testing.T) {
	e := newEnv(t, func(cfg *Config) { cfg.MaxResources = 1 })
	a := e.login(t, "juliet", "")
	b := e.dial(t)
	b.open()
	b.startTLS()
	b.authPlain("juliet")
	_, err := b.tryBind("")
	var se *stanzaError
	if !errors.As(err, &se) || se.condition != string(stanza.ResourceConstraint) {
		t.Fatalf("bind past the limit: %v, want resource-constraint", err)
	}
	a.ping()
}

// TestStreamFeaturesExtra: Config.StreamFeatures are advertised after SASL.
func TestStreamFeaturesExtra(t *testing.T) {
	ver := stanza.NewElement("urn:xmpp:features:rosterver", "ver")
	e := newEnv(t, func(cfg *Config) { cfg.StreamFeatures = []*stanza.Element{ver} })
	c := e.dial(t)
	c.open()
	c.startTLS()
	c.authPlain("juliet")
	if c.features.Child("urn:xmpp:features:rosterver", "ver") == nil {
		t.Fatalf("features %s lack roster versioning", c.features)
	}
	checkBindFeatures(t, c)
}

// TestKick: Server.Kick ends every resource of an account with the given
// stream error and leaves other accounts alone.
func TestKick(t *testing.T) {
	e := newEnv(t, nil)
	a := e.login(t, "juliet", "")
	b := e.login(t, "juliet", "")
	r := e.login(t, "romeo", "")
	if n := e.srv.Kick(jid.MustParse("juliet@localhost"), xmlstream.NewError(xmlstream.NotAuthorized, "account deleted")); n != 2 {
		t.Fatalf("Kick ended %d sessions, want 2", n)
	}
	a.expectStreamError(xmlstream.NotAuthorized)
	b.expectStreamError(xmlstream.NotAuthorized)
	r.ping()
}
