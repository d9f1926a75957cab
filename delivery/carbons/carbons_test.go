package carbons

import (
	"github.com/heraldxmpp/herald/delivery/deliverytest"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// The shared test doubles.
type (
	sink     = deliverytest.Sink
	accounts = deliverytest.Accounts
)

type offline struct{ n int }

func (o *offline) Store(jid.JID, *stanza.Element) error { o.n++; return nil }

type env struct {
	r     *delivery.Router
	svc   *Service
	sinks map[string]*sink
}

func newEnv(t *testing.T) *env {
	reg := delivery.NewRegistry()
	svc := &Service{Registry: reg}
	e := &env{svc: svc, sinks: map[string]*sink{}, r: &delivery.Router{
		Domains: map[string]bool{"example.org": true}, Registry: reg,
		Accounts: accounts{"alice@example.org": true, "bob@example.org": true},
		Offline:  &offline{}, Services: delivery.NewMux().Add(svc),
	}}
	return e
}

// connect binds an available resource at prio, with carbons enabled
// through the IQ when on.
func (e *env) connect(t *testing.T, full string, prio int8, on bool) *sink {
	t.Helper()
	s := &sink{}
	j := jid.MustParse(full)
	if _, _, ok := e.r.Registry.Bind(j, s, delivery.ConflictRefuse, nil); !ok {
		t.Fatalf("bind %s", full)
	}
	e.r.Registry.Update(j, func(r *delivery.Resource) { r.Available = true; r.Priority = prio })
	e.sinks[full] = s
	if on {
		e.iq(t, full, "", "set", "enable", "result")
	}
	return s
}

// iq sends an enable or disable IQ from full and checks the answer's type.
func (e *env) iq(t *testing.T, full, to, typ, op, want string) string {
	t.Helper()
	iq := stanza.NewElement(stanza.NSClient, "iq").Set("type", typ).Set("id", "c1").Set("from", full).
		Append(stanza.NewElement(NS, op))
	var toJID jid.JID
	if to != "" {
		iq.Set("to", to)
		toJID = jid.MustParse(to)
	}
	e.r.Route(iq, jid.MustParse(full), toJID)
	got := e.sinks[full].Take()
	if len(got) != 1 || !strings.Contains(got[0], `type="`+want+`"`) {
		t.Fatalf("%s %s from %s: got %q, want type %s", typ, op, full, got, want)
	}
	return got[0]
}

func message(from, to, typ string, children ...*stanza.Element) *stanza.Element {
	m := stanza.NewElement(stanza.NSClient, "message").Set("from", from).Set("to", to).Set("id", "m1")
	if typ != "" {
		m.Set("type", typ)
	}
	for _, c := range children {
		m.Append(c)
	}
	return m
}

func body(s string) *stanza.Element {
	return stanza.NewElement(stanza.NSClient, "body").AppendText(s)
}

func (e *env) route(st *stanza.Element) {
	e.r.Route(st, jid.MustParse(st.Get("from")), jid.MustParse(st.Get("to")))
}

// expect checks what each sink got: "" for nothing, else a substring of
// its one stanza.
func (e *env) expect(t *testing.T, want map[string]string) {
	t.Helper()
	for full, s := range e.sinks {
		got := s.Take()
		w := want[full]
		switch {
		case w == "" && len(got) != 0:
			t.Errorf("%s got %q, want nothing", full, got)
		case w != "" && (len(got) != 1 || !strings.Contains(got[0], w)):
			t.Errorf("%s got %q, want one stanza with %q", full, got, w)
		}
	}
}

func TestEnableDisable(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "bob@example.org/one", 0, false)
	e.connect(t, "alice@example.org/home", 0, false)
	full := jid.MustParse("bob@example.org/one")
	enabled := func() bool { r, _ := e.r.Registry.Get(full); return r.Carbons }

	e.iq(t, "bob@example.org/one", "", "set", "enable", "result")
	if !enabled() {
		t.Fatal("enable left the flag unset")
	}
	// XEP-0280 10.1: a second enable is answered with a result.
	e.iq(t, "bob@example.org/one", "bob@example.org", "set", "enable", "result")
	e.iq(t, "bob@example.org/one", "", "set", "disable", "result")
	e.iq(t, "bob@example.org/one", "", "set", "disable", "result")
	if enabled() {
		t.Fatal("disable left the flag set")
	}
	if r := e.iq(t, "bob@example.org/one", "", "get", "enable", "error"); !strings.Contains(r, "bad-request") {
		t.Errorf("get: %s", r)
	}
	// XEP-0280 4.1: another account cannot switch bob's carbons.
	if r := e.iq(t, "alice@example.org/home", "bob@example.org", "set", "enable", "error"); !strings.Contains(r, "not-allowed") {
		t.Errorf("alice enabling bob's: %s", r)
	}
	if enabled() {
		t.Fatal("alice enabled bob's carbons")
	}
}

func TestReceivedCopies(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "bob@example.org/one", 1, true)
	e.connect(t, "bob@example.org/two", 0, true)
	e.connect(t, "bob@example.org/three", 0, false)
	e.connect(t, "alice@example.org/home", 0, false)

	// To the bare JID: the highest priority resource gets the original
	// (RFC 6121 8.5.2.1.1), the other carbons-enabled one a copy.
	e.route(message("alice@example.org/home", "bob@example.org", "chat", body("hi")))
	e.expect(t, map[string]string{
		"bob@example.org/one": "<body>hi</body>",
		"bob@example.org/two": `<message from="bob@example.org" to="bob@example.org/two" type="chat">` +
			`<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">` +
			`<message xmlns="jabber:client" from="alice@example.org/home" to="bob@example.org" id="m1" type="chat"><body>hi</body></message>` +
			"</forwarded></received></message>",
	})
	// To a full JID: that resource gets the original and no copy.
	e.route(message("alice@example.org/home", "bob@example.org/two", "chat", body("psst")))
	e.expect(t, map[string]string{
		"bob@example.org/two": `<message from="alice@example.org/home" to="bob@example.org/two"`,
		"bob@example.org/one": `<received xmlns="urn:xmpp:carbons:2">`,
	})
	if s := e.svc.Stats(); s.Received != 2 || s.Sent != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestSentCopies(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "bob@example.org/one", 1, true)
	e.connect(t, "bob@example.org/two", 0, true)
	e.connect(t, "bob@example.org/three", 0, false)
	e.connect(t, "alice@example.org/home", 0, false)

	// XEP-0280 8: every carbons-enabled resource but the sender.
	e.route(message("bob@example.org/two", "alice@example.org", "chat", body("yo")))
	e.expect(t, map[string]string{
		"alice@example.org/home": "<body>yo</body>",
		"bob@example.org/one": `<message from="bob@example.org" to="bob@example.org/one" type="chat">` +
			`<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">` +
			`<message xmlns="jabber:client" from="bob@example.org/two" to="alice@example.org" id="m1" type="chat">`,
	})
	// To a remote contact too: the copy does not depend on delivery.
	e.r.Remote = nil
	e.route(message("bob@example.org/three", "carol@remote.example", "chat", body("far")))
	e.expect(t, map[string]string{
		"bob@example.org/one":   `<sent xmlns="urn:xmpp:carbons:2">`,
		"bob@example.org/two":   `<sent xmlns="urn:xmpp:carbons:2">`,
		"bob@example.org/three": "remote-server-not-found",
	})
	// Between two resources of one account: the addressed one gets the
	// original, the others a received copy, the sender nothing.
	e.route(message("bob@example.org/three", "bob@example.org/two", "chat", body("self")))
	e.expect(t, map[string]string{
		"bob@example.org/two": "<body>self</body>",
		"bob@example.org/one": `<received xmlns="urn:xmpp:carbons:2">`,
	})
}

func TestNotCopied(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "bob@example.org/one", 1, true)
	e.connect(t, "bob@example.org/two", 0, true)
	e.connect(t, "alice@example.org/home", 0, false)
	private := stanza.NewElement(NS, "private")
	noCopy := stanza.NewElement(nsHints, "no-copy")
	muc := stanza.NewElement(nsMUCUser, "x")
	for name, st := range map[string]*stanza.Element{
		"private in":      message("alice@example.org/home", "bob@example.org", "chat", body("a"), private),
		"no-copy in":      message("alice@example.org/home", "bob@example.org", "chat", body("a"), noCopy),
		"headline":        message("alice@example.org/home", "bob@example.org", "headline", body("a")),
		"normal, no body": message("alice@example.org/home", "bob@example.org", "", stanza.NewElement("urn:example", "x")),
		"muc private":     message("alice@example.org/home", "bob@example.org", "chat", body("a"), muc),
	} {
		e.route(st)
		if got := e.sinks["bob@example.org/two"].Take(); len(got) != 0 && st.Get("type") != "headline" {
			t.Errorf("%s: two got %q", name, got)
		}
		if got := e.sinks["bob@example.org/one"].Take(); len(got) > 1 {
			t.Errorf("%s: one got %q", name, got)
		}
	}
	e.route(message("bob@example.org/two", "alice@example.org", "chat", body("a"), private))
	e.expect(t, map[string]string{"alice@example.org/home": "<private"})
	if s := e.svc.Stats(); s.Received != 0 || s.Sent != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestEligible(t *testing.T) {
	for _, c := range []struct {
		name    string
		st      *stanza.Element
		inbound bool
		want    bool
	}{
		{"chat", message("a@x", "b@x", "chat"), true, true},
		{"normal with body", message("a@x", "b@x", "", body("x")), true, true},
		{"normal 'normal' with body", message("a@x", "b@x", "normal", body("x")), false, true},
		{"normal, receipt", message("a@x", "b@x", "", stanza.NewElement("urn:xmpp:receipts", "received")), true, true},
		{"normal, chat state", message("a@x", "b@x", "", stanza.NewElement("http://jabber.org/protocol/chatstates", "active")), true, true},
		{"direct invitation", message("a@x", "b@x", "", stanza.NewElement("jabber:x:conference", "x")), true, true},
		{"mediated invitation", message("a@x", "b@x", "", stanza.NewElement(nsMUCUser, "x").Append(stanza.NewElement(nsMUCUser, "invite"))), true, true},
		{"MUC private message out", message("a@x", "b@x", "chat", stanza.NewElement(nsMUCUser, "x")), false, true},
		{"MUC private message in", message("a@x", "b@x", "chat", stanza.NewElement(nsMUCUser, "x")), true, false},
		{"normal, nothing", message("a@x", "b@x", ""), true, false},
		{"groupchat", message("a@x", "b@x", "groupchat", body("x")), true, false},
		{"error", message("a@x", "b@x", "error", body("x")), true, false},
		{"private", message("a@x", "b@x", "chat", stanza.NewElement(NS, "private")), false, false},
		{"presence", stanza.NewElement(stanza.NSClient, "presence"), false, false},
	} {
		if got := Eligible(c.st, c.inbound); got != c.want {
			t.Errorf("%s: Eligible = %v, want %v", c.name, got, c.want)
		}
	}
}
