package blocking

import (
	"errors"
	"github.com/heraldxmpp/herald/delivery/deliverytest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// memStore is the Store in memory, with the cap applied as consensus does.
type memStore struct {
	mu    sync.Mutex
	lists map[string][]string
	fail  error
}

func (m *memStore) Blocklist(user jid.JID) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lists[user.String()]), m.fail
}

func (m *memStore) Blocked(user jid.JID, jids ...string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	for _, j := range jids {
		if slices.Contains(m.lists[user.String()], j) {
			return true, nil
		}
	}
	return false, nil
}

func (m *memStore) Change(user jid.JID, unblock bool, jids []string, max int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lists[user.String()]
	switch {
	case unblock && len(jids) == 0:
		l = nil
	case unblock:
		l = slices.DeleteFunc(l, func(j string) bool { return slices.Contains(jids, j) })
	default:
		for _, j := range jids {
			if !slices.Contains(l, j) {
				l = append(l, j)
			}
		}
		if len(l) > max {
			return ErrFull
		}
	}
	m.lists[user.String()] = l
	return nil
}

// The shared test doubles.
type (
	sink     = deliverytest.Sink
	accounts = deliverytest.Accounts
)

type remote struct{ sent []string }

func (r *remote) Send(st *stanza.Element, from, to jid.JID) {
	r.sent = append(r.sent, string(st.AppendXML(nil, stanza.NSClient)))
}

type env struct {
	r      *delivery.Router
	svc    *Service
	store  *memStore
	remote *remote
	sinks  map[string]*sink
}

func newEnv(t *testing.T, max int) *env {
	e := &env{store: &memStore{lists: map[string][]string{}}, remote: &remote{}, sinks: map[string]*sink{}}
	e.r = &delivery.Router{Domains: map[string]bool{"example.org": true}, Registry: delivery.NewRegistry(),
		Accounts: accounts{"alice@example.org": true, "bob@example.org": true}, Remote: e.remote}
	e.svc = &Service{Store: e.store, Router: e.r, Max: max}
	e.r.Services = delivery.NewMux().Add(e.svc)
	return e
}

func (e *env) connect(t *testing.T, full string) *sink {
	t.Helper()
	s := &sink{}
	j := jid.MustParse(full)
	if _, _, ok := e.r.Registry.Bind(j, s, delivery.ConflictRefuse, nil); !ok {
		t.Fatalf("bind %s", full)
	}
	pres := stanza.NewElement(stanza.NSClient, "presence").Append(stanza.NewElement(stanza.NSClient, "show").AppendText("chat"))
	e.r.Registry.Update(j, func(r *delivery.Resource) { r.Available = true; r.Presence = pres })
	e.sinks[full] = s
	return s
}

// iq sends an IQ with payload from full (no 'to') and returns the answer.
func (e *env) iq(t *testing.T, full, typ, payload string) string {
	t.Helper()
	el, err := delivery.ParseStanza([]byte(`<iq type="`+typ+`" id="q">`+payload+`</iq>`), delivery.StoredLimits(xmlstream.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	el.Set("from", full)
	e.r.Route(el, jid.MustParse(full), jid.JID{})
	for _, got := range e.sinks[full].Take() {
		if strings.Contains(got, `id="q"`) {
			return got
		}
		e.sinks[full].Keep(got) // a push: keep it
	}
	t.Fatalf("no answer to %s", payload)
	return ""
}

func message(from, to, typ string) *stanza.Element {
	return stanza.NewElement(stanza.NSClient, "message").Set("from", from).Set("to", to).Set("type", typ).Set("id", "m").
		Append(stanza.NewElement(stanza.NSClient, "body").AppendText("hi"))
}

func (e *env) route(st *stanza.Element) {
	e.r.Route(st, jid.MustParse(st.Get("from")), jid.MustParse(st.Get("to")))
}

func TestBlocklistIQs(t *testing.T) {
	e := newEnv(t, 3)
	a1 := e.connect(t, "alice@example.org/one")
	a2 := e.connect(t, "alice@example.org/two")

	if got := e.iq(t, "alice@example.org/one", "get", `<blocklist xmlns="urn:xmpp:blocking"/>`); !strings.Contains(got, `<blocklist xmlns="urn:xmpp:blocking"/>`) {
		t.Fatalf("empty list: %s", got)
	}
	got := e.iq(t, "alice@example.org/one", "set", `<block xmlns="urn:xmpp:blocking"><item jid="Mallory@Example.com"/><item jid="spam.example"/></block>`)
	if !strings.Contains(got, `type="result"`) {
		t.Fatalf("block: %s", got)
	}
	// XEP-0191 3.3: the push reaches every resource, the requester too.
	for name, s := range map[string]*sink{"one": a1, "two": a2} {
		p := s.Take()
		if len(p) != 1 || !strings.Contains(p[0], `<block xmlns="urn:xmpp:blocking"><item jid="mallory@example.com"/><item jid="spam.example"/></block>`) {
			t.Errorf("push to %s: %q", name, p)
		}
	}
	// Unavailable presence went to the newly blocked JIDs, from both resources.
	if n := len(e.remote.sent); n != 4 || !strings.Contains(e.remote.sent[0], `type="unavailable"`) {
		t.Errorf("presence sent: %q", e.remote.sent)
	}
	e.remote.sent = nil
	if got := e.iq(t, "alice@example.org/two", "get", `<blocklist xmlns="urn:xmpp:blocking"/>`); !strings.Contains(got, `<item jid="mallory@example.com"/><item jid="spam.example"/>`) {
		t.Fatalf("list: %s", got)
	}

	for _, c := range []struct{ typ, payload, cond string }{
		{"set", `<block xmlns="urn:xmpp:blocking"/>`, "bad-request"},
		{"get", `<block xmlns="urn:xmpp:blocking"><item jid="x@y"/></block>`, "bad-request"},
		{"set", `<blocklist xmlns="urn:xmpp:blocking"/>`, "bad-request"},
		{"set", `<block xmlns="urn:xmpp:blocking"><item jid="a@b@c"/></block>`, "jid-malformed"},
		// The cap (3): two more JIDs would make four.
		{"set", `<block xmlns="urn:xmpp:blocking"><item jid="a@x"/><item jid="b@x"/></block>`, "policy-violation"},
		// More items than any list holds: refused before the store.
		{"set", `<block xmlns="urn:xmpp:blocking"><item jid="a@x"/><item jid="b@x"/><item jid="c@x"/><item jid="d@x"/></block>`, "policy-violation"},
	} {
		if got := e.iq(t, "alice@example.org/one", c.typ, c.payload); !strings.Contains(got, "<"+c.cond+" ") {
			t.Errorf("%s %s: %s, want %s", c.typ, c.payload, got, c.cond)
		}
	}
	if l, _ := e.store.Blocklist(jid.MustParse("alice@example.org")); len(l) != 2 {
		t.Fatalf("refused blocks changed the list: %q", l)
	}
	if st := e.svc.Stats(); st.Full != 2 {
		t.Errorf("stats %+v, want 2 refused at the cap", st)
	}
	a1.Take()
	a2.Take()

	// Unblock one: push and the current presence to it; then all.
	e.iq(t, "alice@example.org/one", "set", `<unblock xmlns="urn:xmpp:blocking"><item jid="spam.example"/></unblock>`)
	if p := a2.Take(); len(p) != 1 || !strings.Contains(p[0], `<unblock xmlns="urn:xmpp:blocking"><item jid="spam.example"/></unblock>`) {
		t.Errorf("unblock push: %q", p)
	}
	if n := len(e.remote.sent); n != 2 || !strings.Contains(e.remote.sent[0], "<show>chat</show>") {
		t.Errorf("presence on unblock: %q", e.remote.sent)
	}
	e.iq(t, "alice@example.org/one", "set", `<unblock xmlns="urn:xmpp:blocking"/>`)
	if p := a2.Take(); len(p) != 1 || !strings.Contains(p[0], `<unblock xmlns="urn:xmpp:blocking"/>`) {
		t.Errorf("unblock-all push: %q", p)
	}
	if l, _ := e.store.Blocklist(jid.MustParse("alice@example.org")); len(l) != 0 {
		t.Fatalf("after unblock all: %q", l)
	}

	// Nobody else reads or changes alice's list.
	e.connect(t, "bob@example.org/x")
	iq := stanza.NewElement(stanza.NSClient, "iq").Set("type", "get").Set("id", "q").Set("from", "bob@example.org/x").Set("to", "alice@example.org").
		Append(stanza.NewElement(NS, "blocklist"))
	e.r.Route(iq, jid.MustParse("bob@example.org/x"), jid.MustParse("alice@example.org"))
	if got := e.sinks["bob@example.org/x"].Take(); len(got) != 1 || !strings.Contains(got[0], "service-unavailable") {
		t.Errorf("bob reading alice's list: %q", got)
	}
}

func TestEnforcement(t *testing.T) {
	e := newEnv(t, 0)
	alice := e.connect(t, "alice@example.org/one")
	bob := e.connect(t, "bob@example.org/x")
	e.iq(t, "alice@example.org/one", "set", `<block xmlns="urn:xmpp:blocking"><item jid="bob@example.org"/><item jid="evil.example"/></block>`)
	alice.Take()
	// XEP-0191 3.3: bob got alice's unavailable presence.
	if got := bob.Take(); len(got) != 1 || !strings.Contains(got[0], `<presence type="unavailable" from="alice@example.org/one" to="bob@example.org"/>`) {
		t.Errorf("bob got %q on the block", got)
	}

	// Inbound from bob: a message bounced service-unavailable, presence
	// dropped silently, an IQ get answered, an IQ result dropped.
	e.route(message("bob@example.org/x", "alice@example.org", "chat"))
	e.route(stanza.NewElement(stanza.NSClient, "presence").Set("from", "bob@example.org/x").Set("to", "alice@example.org/one"))
	e.route(stanza.NewElement(stanza.NSClient, "presence").Set("from", "bob@example.org/x").Set("to", "alice@example.org").Set("type", "subscribe"))
	e.route(stanza.NewElement(stanza.NSClient, "iq").Set("from", "bob@example.org/x").Set("to", "alice@example.org/one").Set("type", "get").Set("id", "i").
		Append(stanza.NewElement("urn:xmpp:ping", "ping")))
	e.route(stanza.NewElement(stanza.NSClient, "iq").Set("from", "bob@example.org/x").Set("to", "alice@example.org/one").Set("type", "result").Set("id", "r"))
	if got := alice.Take(); len(got) != 0 {
		t.Errorf("alice got %q from a blocked JID", got)
	}
	got := bob.Take()
	if len(got) != 2 || !strings.Contains(got[0], "service-unavailable") || !strings.Contains(got[1], `<iq`) || !strings.Contains(got[1], "service-unavailable") {
		t.Errorf("bob got %q", got)
	}
	// A domain item blocks every JID of the domain.
	e.route(message("mallory@evil.example/r", "alice@example.org/one", "chat"))
	if got := alice.Take(); len(got) != 0 {
		t.Errorf("alice got %q from a blocked domain", got)
	}

	// Outbound to bob: not-acceptable with <blocked/>; presence dropped.
	e.route(message("alice@example.org/one", "bob@example.org", "chat"))
	e.route(stanza.NewElement(stanza.NSClient, "presence").Set("from", "alice@example.org/one").Set("to", "bob@example.org"))
	got = alice.Take()
	if len(got) != 1 || !strings.Contains(got[0], `<error type="cancel"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><blocked xmlns="urn:xmpp:blocking:errors"/></error>`) {
		t.Errorf("alice got %q", got)
	}
	if got := bob.Take(); len(got) != 0 {
		t.Errorf("bob got %q", got)
	}
	// One's own resources are never blocked, whatever the list says.
	e.store.Change(jid.MustParse("alice@example.org"), false, []string{"alice@example.org"}, 10)
	two := e.connect(t, "alice@example.org/two")
	e.route(message("alice@example.org/one", "alice@example.org/two", "chat"))
	if got := two.Take(); len(got) != 1 {
		t.Errorf("own resource got %q", got)
	}
	if s := e.svc.Stats(); s.RefusedIn != 6 || s.RefusedOut != 2 {
		t.Errorf("stats %+v", s)
	}

	// A store that cannot be read lets stanzas pass, and counts it.
	e.store.fail = errors.New("disk on fire")
	e.route(message("bob@example.org/x", "alice@example.org/one", "chat"))
	if got := alice.Take(); len(got) != 1 {
		t.Errorf("with a failing store alice got %q", got)
	}
	if s := e.svc.Stats(); s.ReadFailures != 2 { // bob's list (Out), alice's (In)
		t.Errorf("stats %+v", s)
	}
}

func TestForms(t *testing.T) {
	for in, want := range map[string][]string{
		"a@d/r": {"a@d/r", "a@d", "d/r", "d"},
		"a@d":   {"a@d", "d"},
		"d/r":   {"d/r", "d"},
		"d":     {"d"},
	} {
		if got := forms(jid.MustParse(in)); !slices.Equal(got, want) {
			t.Errorf("forms(%s) = %q, want %q", in, got, want)
		}
	}
}
