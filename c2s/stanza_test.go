package c2s

import (
	"testing"

	"github.com/heraldxmpp/herald/delivery/disco"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

func TestMessage(t *testing.T) {
	e := newEnv(t, nil)
	juliet := e.login(t, "juliet", "balcony")
	romeo := e.login(t, "romeo", "garden")

	t.Run("full JID", func(t *testing.T) {
		romeo.sendf(`<message to='%s' type='chat' id='m1'><body>But soft!</body></message>`, juliet.jid)
		m := juliet.nextNamed(stanza.NSClient, "message")
		if m.Get("from") != romeo.jid.String() || m.Get("to") != juliet.jid.String() || m.Get("id") != "m1" ||
			m.Child(stanza.NSClient, "body").Text() != "But soft!" {
			t.Fatalf("juliet got %s", m)
		}
		// And back.
		juliet.sendf(`<message to='%s' type='chat' id='m2'><body>Ay me!</body></message>`, romeo.jid)
		if m := romeo.nextNamed(stanza.NSClient, "message"); m.Get("from") != juliet.jid.String() || m.Get("id") != "m2" {
			t.Fatalf("romeo got %s", m)
		}
	})

	t.Run("bare JID to an available resource", func(t *testing.T) {
		juliet.available()
		romeo.sendf(`<message to='juliet@localhost' type='chat' id='m3'><body>It is my lady</body></message>`)
		if m := juliet.nextNamed(stanza.NSClient, "message"); m.Get("from") != romeo.jid.String() || m.Get("id") != "m3" {
			t.Fatalf("juliet got %s", m)
		}
	})

	t.Run("spoofed from", func(t *testing.T) {
		// RFC 6120 8.1.2.1: the server stamps the sender's full JID.
		romeo.sendf(`<message to='%s' from='tybalt@localhost/sword' id='m4'><body>I am Tybalt</body></message>`, juliet.jid)
		m := juliet.nextNamed(stanza.NSClient, "message")
		if m.Get("from") != romeo.jid.String() || m.Get("id") != "m4" {
			t.Fatalf("juliet got %s, want from %s", m, romeo.jid)
		}
	})

	t.Run("malformed to", func(t *testing.T) {
		// RFC 6120 8.3.3.8: jid-malformed, to the sender.
		for _, to := range []string{"@localhost", "juliet@localhost/", ""} {
			romeo.sendf(`<message to='%s' id='bad'><body>?</body></message>`, to)
			m := romeo.nextNamed(stanza.NSClient, "message")
			expectStanzaError(t, m, stanza.JIDMalformed)
			if m.Get("id") != "bad" || m.Get("to") != romeo.jid.String() {
				t.Fatalf("to=%q: error %s", to, m)
			}
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		// RFC 6121 8.5.1: service-unavailable for a message to no account.
		romeo.send(`<message to='rosaline@localhost' type='chat' id='m5'><body>Rosaline?</body></message>`)
		m := romeo.nextNamed(stanza.NSClient, "message")
		expectStanzaError(t, m, stanza.ServiceUnavailable)
		if m.Get("from") != "rosaline@localhost" {
			t.Fatalf("error %s", m)
		}
	})

	t.Run("remote domain", func(t *testing.T) {
		romeo.send(`<message to='friar@verona.example' id='m6'><body>Father?</body></message>`)
		expectStanzaError(t, romeo.nextNamed(stanza.NSClient, "message"), stanza.RemoteServerNotFound)
	})
}

func TestIQ(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(t, "juliet", "balcony")

	t.Run("no id", func(t *testing.T) {
		// RFC 6120 8.2.3: an iq MUST have an id.
		c.send(`<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
		el := c.nextNamed(stanza.NSClient, "iq")
		expectStanzaError(t, el, stanza.BadRequest)
		if el.Has("id") {
			t.Fatalf("error %s has an id", el)
		}
	})

	t.Run("bad type", func(t *testing.T) {
		c.send(`<iq type='fetch' id='t1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
		el := c.nextNamed(stanza.NSClient, "iq")
		expectStanzaError(t, el, stanza.BadRequest)
		if el.Get("id") != "t1" {
			t.Fatalf("error %s", el)
		}
	})

	t.Run("bind twice", func(t *testing.T) {
		// RFC 6120 7.6.2.2: one resource per stream.
		c.send(`<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>again</resource></bind></iq>`)
		el := c.nextNamed(stanza.NSClient, "iq")
		expectStanzaError(t, el, stanza.NotAllowed)
		if el.Get("id") != "b2" {
			t.Fatalf("error %s", el)
		}
		if _, ok := e.router.Registry.Get(jid.MustParse("juliet@localhost/again")); ok {
			t.Fatal("the second resource was bound")
		}
	})

	t.Run("session", func(t *testing.T) {
		// RFC 3921 3 session establishment is answered with an empty result.
		c.send(`<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`)
		if el := c.nextNamed(stanza.NSClient, "iq"); el.Get("type") != "result" || el.Get("id") != "s1" {
			t.Fatalf("session answer %s", el)
		}
	})

	t.Run("ping", func(t *testing.T) {
		c.ping()
	})

	t.Run("disco#info", func(t *testing.T) {
		c.send(`<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
		el := c.nextNamed(stanza.NSClient, "iq")
		q := el.Child(disco.NSInfo, "query")
		if el.Get("type") != "result" || el.Get("id") != "d1" || el.Get("from") != testDomain ||
			el.Get("to") != c.jid.String() || q == nil {
			t.Fatalf("disco#info answer %s", el)
		}
		id := q.Child(disco.NSInfo, "identity")
		if id == nil || id.Get("category") != "server" || id.Get("type") != "im" {
			t.Fatalf("identity in %s", el)
		}
		features := map[string]bool{}
		for _, f := range q.Elements() {
			if f.Name.Local == "feature" {
				features[f.Get("var")] = true
			}
		}
		for _, want := range []string{disco.NSInfo, disco.NSPing} {
			if !features[want] {
				t.Errorf("disco#info lacks %s: %s", want, el)
			}
		}
	})

	t.Run("ping own account", func(t *testing.T) {
		// XEP-0199 3: the server answers for the bare JID.
		c.send(`<iq type='get' id='p2' to='juliet@localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if el := c.nextNamed(stanza.NSClient, "iq"); el.Get("type") != "result" || el.Get("id") != "p2" {
			t.Fatalf("ping answer %s", el)
		}
	})

	t.Run("unknown payload", func(t *testing.T) {
		c.send(`<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:nothing'/></iq>`)
		el := c.nextNamed(stanza.NSClient, "iq")
		expectStanzaError(t, el, stanza.ServiceUnavailable)
	})
}

// TestOffline: a message to an account with no available resource goes to
// the offline store (RFC 6121 8.5.2.2.1, XEP-0160); the first resource to
// become available with a non-negative priority receives it stamped with
// XEP-0203 delay, and the store is acknowledged.
func TestOffline(t *testing.T) {
	e := newEnv(t, nil)
	juliet := e.login(t, "juliet", "balcony")
	juliet.send(`<message to='romeo@localhost' type='chat' id='o1'><body>Wherefore art thou?</body></message>`)
	// The session handles its stanzas in order: once the ping is answered,
	// the message has been routed.
	juliet.ping()
	romeoBare := jid.MustParse("romeo@localhost")
	if n, _ := e.offline.state(romeoBare); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}

	romeo := e.login(t, "romeo", "garden")
	// Binding alone is not availability: nothing is delivered yet.
	romeo.ping()
	if n, acked := e.offline.state(romeoBare); n != 1 || acked != 0 {
		t.Fatalf("after bind: %d stored, acked %d", n, acked)
	}

	romeo.send(`<presence/>`)
	var msg *stanza.Element
	for msg == nil {
		el := romeo.next()
		switch el.Name.Local {
		case "presence":
			if el.Get("from") != romeo.jid.String() {
				t.Fatalf("presence %s", el)
			}
		case "message":
			msg = el
		default:
			t.Fatalf("got %s", el)
		}
	}
	if msg.Get("id") != "o1" || msg.Get("from") != juliet.jid.String() ||
		msg.Child(stanza.NSClient, "body").Text() != "Wherefore art thou?" {
		t.Fatalf("offline message %s", msg)
	}
	d := msg.Child(nsDelay, "delay")
	if d == nil || d.Get("from") != testDomain || d.Get("stamp") != "2024-02-14T21:30:05.123Z" {
		t.Fatalf("delay in %s", msg)
	}
	// The ack follows once the message was written to the connection.
	eventually(t, "the ack of the delivered message", func() bool {
		n, acked := e.offline.state(romeoBare)
		return n == 0 && acked == 1
	})

	// A second resource becoming available gets nothing more: after its
	// own presence the next thing it reads is the ping answer.
	other := e.login(t, "romeo", "")
	other.available()
	other.ping()
}

// TestPresenceBroadcast: initial and unavailable presence reach the user's
// other available resources (RFC 6121 4.2.2, 4.5.2), and a resource that
// goes away without unavailable presence is announced unavailable.
func TestPresenceBroadcast(t *testing.T) {
	e := newEnv(t, nil)
	a := e.login(t, "juliet", "a")
	a.available()
	b := e.login(t, "juliet", "b")
	b.send(`<presence><priority>5</priority></presence>`)
	for _, c := range []*client{a, b} {
		p := c.nextNamed(stanza.NSClient, "presence")
		if p.Get("from") != b.jid.String() || p.Child(stanza.NSClient, "priority").Text() != "5" {
			t.Fatalf("%s got %s", c.jid, p)
		}
	}
	b.send(`<presence><priority>500</priority></presence>`)
	expectStanzaError(t, b.nextNamed(stanza.NSClient, "presence"), stanza.BadRequest)

	b.conn.Close()
	p := a.nextNamed(stanza.NSClient, "presence")
	if p.Get("from") != b.jid.String() || p.Get("type") != "unavailable" {
		t.Fatalf("got %s, want unavailable from %s", p, b.jid)
	}
}
