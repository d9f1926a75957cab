package delivery

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// room is a component that records what reaches it.
type room struct {
	mu  sync.Mutex
	got []string
}

func (c *room) HandleStanza(st *stanza.Element, from, to jid.JID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, from.String()+">"+to.String()+" "+st.Name.Local+" "+st.Get("type"))
}

func (c *room) Register(m *Mux) { m.Component("Conference.example.org", c) }

// A component receives every stanza for its domain and the entities on
// it; what it sends goes through the router like anyone's, and errors for
// it come back to it, not over federation.
func TestComponentRouting(t *testing.T) {
	f := newFixture(t)
	c := &room{}
	f.r.Services = NewMux().Add(echo{}, c)
	rem := &remote{}
	f.r.Remote = rem
	a := f.connect(t, "alice@example.org/a", p(0))

	f.route(msg("alice@example.org/a", "lobby@conference.example.org", "groupchat", "hi"))
	pres := stanza.NewElement(stanza.NSClient, "presence").Set("from", "alice@example.org/a").Set("to", "lobby@conference.example.org/alice")
	f.route(pres)
	iq := stanza.NewElement(stanza.NSClient, "iq").Set("from", "alice@example.org/a").Set("to", "conference.example.org").Set("type", "get").Set("id", "c1")
	f.route(iq.Append(stanza.NewElement(nsEcho, "echo")))
	want := []string{
		"alice@example.org/a>lobby@conference.example.org message groupchat",
		"alice@example.org/a>lobby@conference.example.org/alice presence ",
		"alice@example.org/a>conference.example.org iq get",
	}
	if !slices.Equal(c.got, want) {
		t.Fatalf("component got\n%q\nwant\n%q", c.got, want)
	}
	if got := a.Take(); len(got) != 0 {
		t.Fatalf("the server answered for the component: %q", got)
	}

	// The component writes to alice, and to an account that does not
	// exist: alice gets hers, the component gets the error.
	c.got = nil
	from := jid.MustParse("lobby@conference.example.org/bob")
	f.r.Route(msg(from.String(), "alice@example.org/a", "groupchat", "hello"), from, jid.MustParse("alice@example.org/a"))
	if got := a.Take(); len(got) != 1 || !strings.Contains(got[0], "hello") {
		t.Fatalf("alice got %q", got)
	}
	f.r.Route(msg(from.String(), "nobody@example.org", "chat", "x"), from, jid.MustParse("nobody@example.org"))
	if len(c.got) != 1 || !strings.Contains(c.got[0], "message error") {
		t.Fatalf("the component's error: %q", c.got)
	}
	if len(rem.sent) != 0 {
		t.Fatalf("sent over federation: %q", rem.sent)
	}
}

// Two services for one payload, or two components for one domain, is a
// wiring mistake caught at start.
func TestMuxDuplicates(t *testing.T) {
	for name, fn := range map[string]func(){
		"iq":        func() { NewMux().Add(echo{}, echo{}) },
		"component": func() { NewMux().Add(&room{}, &room{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: a duplicate registration did not panic", name)
				}
			}()
			fn()
		}()
	}
}

// Features are sorted and listed once however many services declare them.
func TestMuxFeatures(t *testing.T) {
	m := NewMux()
	m.Feature("urn:b", "urn:a")
	m.Feature("urn:a", "urn:c")
	m.AccountFeature("urn:x")
	if got := m.Features(); !slices.Equal(got, []string{"urn:a", "urn:b", "urn:c"}) {
		t.Fatalf("features %q", got)
	}
	if got := m.AccountFeatures(); !slices.Equal(got, []string{"urn:x"}) {
		t.Fatalf("account features %q", got)
	}
}
