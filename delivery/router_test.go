package delivery

import (
	"github.com/heraldxmpp/herald/delivery/deliverytest"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// The shared test doubles.
type (
	sink     = deliverytest.Sink
	accounts = deliverytest.Accounts
)

type offline struct{ stored []string }

func (o *offline) Store(to jid.JID, st *stanza.Element) error {
	o.stored = append(o.stored, to.String()+" "+st.Child("", "body").Text())
	return nil
}

type fixture struct {
	r     *Router
	off   *offline
	sinks map[string]*sink
}

// echo is a service answering {urn:example:echo}echo gets for the server
// and for accounts with an empty result.
type echo struct{}

const nsEcho = "urn:example:echo"

func (echo) Register(m *Mux) {
	fn := func(iq, _ *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
		return Result(iq, from, to), nil
	}
	m.HandleServer(stanza.Name{Space: nsEcho, Local: "echo"}, fn)
	m.HandleUser(stanza.Name{Space: nsEcho, Local: "echo"}, fn)
	m.Feature(nsEcho)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	acc := accounts{"alice@example.org": true, "bob@example.org": true}
	f := &fixture{off: &offline{}, sinks: map[string]*sink{}}
	f.r = &Router{
		Domains: map[string]bool{"example.org": true}, Registry: NewRegistry(),
		Accounts: acc, Offline: f.off, Services: NewMux().Add(echo{}),
	}
	return f
}

// connect binds a resource, available at prio when prio is not nil.
func (f *fixture) connect(t *testing.T, full string, prio *int8) *sink {
	t.Helper()
	s := &sink{}
	j := jid.MustParse(full)
	if _, _, ok := f.r.Registry.Bind(j, s, ConflictRefuse, nil); !ok {
		t.Fatalf("bind %s failed", full)
	}
	if prio != nil {
		f.r.Registry.Update(j, func(r *Resource) { r.Available = true; r.Priority = *prio })
	}
	f.sinks[full] = s
	return s
}

func p(v int8) *int8 { return &v }

func msg(from, to, typ, body string) *stanza.Element {
	m := stanza.NewElement(stanza.NSClient, "message").Set("from", from).Set("to", to).Set("id", "m1")
	if typ != "" {
		m.Set("type", typ)
	}
	return m.Append(stanza.NewElement(stanza.NSClient, "body").AppendText(body))
}

func (f *fixture) route(st *stanza.Element) {
	from := jid.MustParse(st.Get("from"))
	var to jid.JID
	if t := st.Get("to"); t != "" {
		to = jid.MustParse(t)
	}
	f.r.Route(st, from, to)
}

// RFC 6121 8.5.2.1.1: chat to a bare JID goes to the highest non-negative
// priority resources only, with 'to' left as the bare JID.
func TestMessageToBareHighestPriority(t *testing.T) {
	f := newFixture(t)
	a := f.connect(t, "alice@example.org/a", p(0))
	hi := f.connect(t, "bob@example.org/hi", p(5))
	hi2 := f.connect(t, "bob@example.org/hi2", p(5))
	lo := f.connect(t, "bob@example.org/lo", p(1))
	neg := f.connect(t, "bob@example.org/neg", p(-1))
	f.route(msg("alice@example.org/a", "bob@example.org", "chat", "hi"))
	for name, s := range map[string]*sink{"hi": hi, "hi2": hi2} {
		got := s.Take()
		if len(got) != 1 || !strings.Contains(got[0], `to="bob@example.org"`) {
			t.Errorf("%s got %q, want the message addressed to the bare JID", name, got)
		}
	}
	if got := lo.Take(); len(got) != 0 {
		t.Errorf("lower priority resource got %q", got)
	}
	if got := neg.Take(); len(got) != 0 {
		t.Errorf("negative priority resource got %q", got)
	}
	if got := a.Take(); len(got) != 0 {
		t.Errorf("sender got %q", got)
	}
}

// RFC 6121 8.5.2.1.1: only negative-priority resources means offline.
func TestMessageOnlyNegativeGoesOffline(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "alice@example.org/a", p(0))
	neg := f.connect(t, "bob@example.org/neg", p(-5))
	f.route(msg("alice@example.org/a", "bob@example.org", "chat", "later"))
	if got := neg.Take(); len(got) != 0 {
		t.Fatalf("negative resource got %q", got)
	}
	if len(f.off.stored) != 1 || f.off.stored[0] != "bob@example.org later" {
		t.Fatalf("stored = %q", f.off.stored)
	}
}

// A connected but not yet available resource does not receive bare-JID
// chat (it has not sent initial presence): the message is stored.
func TestMessageConnectedNotAvailableStored(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "alice@example.org/a", p(0))
	quiet := f.connect(t, "bob@example.org/quiet", nil)
	f.route(msg("alice@example.org/a", "bob@example.org", "normal", "x"))
	if got := quiet.Take(); len(got) != 0 {
		t.Fatalf("unavailable resource got %q", got)
	}
	if len(f.off.stored) != 1 {
		t.Fatalf("stored = %q", f.off.stored)
	}
}

func TestMessageFullJID(t *testing.T) {
	f := newFixture(t)
	a := f.connect(t, "alice@example.org/a", p(0))
	b1 := f.connect(t, "bob@example.org/one", p(0))
	b2 := f.connect(t, "bob@example.org/two", p(9))
	// A connected resource gets messages to its full JID whatever its
	// priority (RFC 6121 8.5.3.1).
	f.route(msg("alice@example.org/a", "bob@example.org/one", "chat", "x"))
	if len(b1.Take()) != 1 || len(b2.Take()) != 0 {
		t.Fatal("full JID message not delivered to exactly that resource")
	}
	// No such resource, chat: treated as bare (8.5.3.2.1).
	f.route(msg("alice@example.org/a", "bob@example.org/gone", "chat", "x"))
	if len(b2.Take()) != 1 {
		t.Fatal("chat to a missing resource was not delivered as to the bare JID")
	}
	// No such resource, normal: service-unavailable back to the sender.
	f.route(msg("alice@example.org/a", "bob@example.org/gone", "normal", "x"))
	got := a.Take()
	if len(got) != 1 || !strings.Contains(got[0], "service-unavailable") || !strings.Contains(got[0], `type="error"`) {
		t.Fatalf("sender got %q", got)
	}
}

// RFC 6121 8.5.1: no such user.
func TestNoSuchUser(t *testing.T) {
	f := newFixture(t)
	a := f.connect(t, "alice@example.org/a", p(0))
	f.route(msg("alice@example.org/a", "nobody@example.org", "chat", "x"))
	got := a.Take()
	if len(got) != 1 || !strings.Contains(got[0], "service-unavailable") {
		t.Fatalf("message to no such user: sender got %q", got)
	}
	pres := stanza.NewElement(stanza.NSClient, "presence").Set("from", "alice@example.org/a").Set("to", "nobody@example.org").Set("type", "subscribe")
	f.route(pres)
	if got := a.Take(); len(got) != 0 {
		t.Fatalf("presence to no such user answered: %q", got)
	}
	iq := stanza.NewElement(stanza.NSClient, "iq").Set("from", "alice@example.org/a").Set("to", "nobody@example.org").Set("type", "get").Set("id", "q")
	iq.Append(stanza.NewElement(nsEcho, "echo"))
	f.route(iq)
	got = a.Take()
	if len(got) != 1 || !strings.Contains(got[0], "service-unavailable") || !strings.Contains(got[0], `id="q"`) {
		t.Fatalf("iq to no such user: sender got %q", got)
	}
	if len(f.off.stored) != 0 {
		t.Fatalf("stored for a missing user: %q", f.off.stored)
	}
}

func TestGroupchatAndErrorMessages(t *testing.T) {
	f := newFixture(t)
	a := f.connect(t, "alice@example.org/a", p(0))
	b := f.connect(t, "bob@example.org/b", p(0))
	f.route(msg("alice@example.org/a", "bob@example.org", "groupchat", "x"))
	if len(b.Take()) != 0 {
		t.Fatal("groupchat delivered to a bare JID")
	}
	if got := a.Take(); len(got) != 1 || !strings.Contains(got[0], "service-unavailable") {
		t.Fatalf("groupchat: sender got %q", got)
	}
	// An error is never answered with an error (RFC 6120 8.3.1).
	f.route(msg("alice@example.org/a", "nobody@example.org", "error", "x"))
	if got := a.Take(); len(got) != 0 {
		t.Fatalf("error message bounced: %q", got)
	}
}

func TestServerIQs(t *testing.T) {
	f := newFixture(t)
	a := f.connect(t, "alice@example.org/a", p(0))
	cases := []struct {
		payload *stanza.Element
		to      string
		want    []string
	}{
		{stanza.NewElement(nsEcho, "echo"), "example.org", []string{`type="result"`, `from="example.org"`, `id="i1"`}},
		{stanza.NewElement(nsEcho, "echo"), "bob@example.org", []string{`type="result"`, `from="bob@example.org"`}},
		{stanza.NewElement("urn:example:unknown", "query"), "example.org", []string{"service-unavailable"}},
		{stanza.NewElement("urn:example:unknown", "query"), "bob@example.org", []string{"service-unavailable"}},
	}
	for _, c := range cases {
		iq := stanza.NewElement(stanza.NSClient, "iq").Set("from", "alice@example.org/a").Set("to", c.to).Set("type", "get").Set("id", "i1")
		iq.Append(c.payload)
		f.route(iq)
		got := a.Take()
		if len(got) != 1 {
			t.Fatalf("%s to %s: got %d replies", c.payload.Name.Local, c.to, len(got))
		}
		for _, w := range c.want {
			if !strings.Contains(got[0], w) {
				t.Errorf("%s %s to %s: reply %s lacks %s", c.payload.Name.Space, c.payload.Name.Local, c.to, got[0], w)
			}
		}
	}
	// RFC 6120 8.2.3: two payloads is a bad request.
	iq := stanza.NewElement(stanza.NSClient, "iq").Set("from", "alice@example.org/a").Set("to", "example.org").Set("type", "get").Set("id", "i2")
	iq.Append(stanza.NewElement(nsEcho, "echo"), stanza.NewElement(nsEcho, "echo"))
	f.route(iq)
	if got := a.Take(); len(got) != 1 || !strings.Contains(got[0], "bad-request") {
		t.Fatalf("two payloads: got %q", got)
	}
}

func TestRemoteDomainBounced(t *testing.T) {
	f := newFixture(t)
	a := f.connect(t, "alice@example.org/a", p(0))
	f.route(msg("alice@example.org/a", "carol@elsewhere.example", "chat", "x"))
	if got := a.Take(); len(got) != 1 || !strings.Contains(got[0], "remote-server-not-found") {
		t.Fatalf("got %q", got)
	}
}

func TestRegistryConflictPolicies(t *testing.T) {
	reg := NewRegistry()
	j := jid.MustParse("alice@example.org/r")
	s1, s2 := &sink{}, &sink{}
	reg.Bind(j, s1, ConflictRename, nil)
	n := 0
	got, _, ok := reg.Bind(j, s2, ConflictRename, func() string { n++; return "gen" })
	if !ok || got.Resource() != "gen" || n != 1 {
		t.Fatalf("rename: got %v ok=%v", got, ok)
	}
	if _, _, ok := reg.Bind(j, s2, ConflictRefuse, nil); ok {
		t.Fatal("refuse bound a taken resource")
	}
	s3 := &sink{}
	_, old, ok := reg.Bind(j, s3, ConflictReplace, nil)
	if !ok || old != Sink(s1) {
		t.Fatalf("replace: old = %v", old)
	}
	// The replaced session's late unbind must not remove its successor.
	if _, ok := reg.Unbind(j, s1); ok {
		t.Fatal("stale unbind removed the new session")
	}
	if r, ok := reg.Get(j); !ok || r.Sink != Sink(s3) {
		t.Fatal("successor missing")
	}
	if reg.Count() != 2 {
		t.Fatalf("count = %d", reg.Count())
	}
}

type remote struct{ sent []string }

func (r *remote) Send(st *stanza.Element, from, to jid.JID) {
	r.sent = append(r.sent, from.String()+">"+to.String()+" "+st.Get("type"))
}

// With federation on, remote stanzas go to the s2s layer; errors for a
// remote sender go back over it; nothing is relayed between two remote
// domains.
func TestRemoteRouting(t *testing.T) {
	f := newFixture(t)
	rem := &remote{}
	f.r.Remote = rem
	f.connect(t, "alice@example.org/a", p(0))
	f.route(msg("alice@example.org/a", "carol@elsewhere.example", "chat", "x"))
	// A remote sender writes to a user that does not exist: the error
	// goes back over s2s, from the address it was sent to.
	f.route(msg("carol@elsewhere.example/c", "nobody@example.org", "chat", "x"))
	// Remote to remote: dropped.
	f.route(msg("carol@elsewhere.example/c", "dave@third.example", "chat", "x"))
	want := []string{
		"alice@example.org/a>carol@elsewhere.example chat",
		"nobody@example.org>carol@elsewhere.example/c error",
	}
	if len(rem.sent) != len(want) || rem.sent[0] != want[0] || rem.sent[1] != want[1] {
		t.Fatalf("sent over s2s: %q, want %q", rem.sent, want)
	}
}

type nullComponent struct{}

func (nullComponent) HandleStanza(*stanza.Element, jid.JID, jid.JID) {}

// A component speaks for a domain of this server: what it sends to a
// remote domain goes over s2s, not dropped as remote-to-remote.
func TestComponentToRemote(t *testing.T) {
	f := newFixture(t)
	f.r.Services.Component("bot.example.org", nullComponent{})
	rem := &remote{}
	f.r.Remote = rem
	f.route(msg("echo@bot.example.org", "carol@elsewhere.example", "chat", "x"))
	if len(rem.sent) != 1 || rem.sent[0] != "echo@bot.example.org>carol@elsewhere.example chat" {
		t.Fatalf("sent over s2s: %q", rem.sent)
	}
}
