package delivery

import (
	"slices"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// recorder is a service whose hooks log what they see and refuse the
// stanzas whose body is its veto word, a colon and the hook's kind.
type recorder struct {
	name string
	log  *[]string
	veto string
}

func (rec recorder) Register(m *Mux) {
	see := func(kind string) func(st *stanza.Element, from, to jid.JID) bool {
		return func(st *stanza.Element, from, to jid.JID) bool {
			*rec.log = append(*rec.log, rec.name+" "+kind+" "+st.Name.Local+" "+from.String()+">"+to.String())
			b := st.Child("", "body")
			return b == nil || b.Text() != rec.veto+":"+kind
		}
	}
	m.Hook(Hook{Out: see("out"), In: see("in"), Delivered: func(st *stanza.Element, from, to jid.JID, got []Resource) {
		var names []string
		for _, r := range got {
			names = append(names, r.JID.Resource())
		}
		*rec.log = append(*rec.log, rec.name+" delivered "+to.String()+" "+strings.Join(names, ","))
	}})
}

func hookFixture(t *testing.T) (*fixture, *[]string) {
	f := newFixture(t)
	log := &[]string{}
	f.r.Services = NewMux().Add(recorder{"A", log, "stop-a"}, recorder{"B", log, "stop-b"})
	return f, log
}

func TestHooksRunInOrderAroundDelivery(t *testing.T) {
	f, log := hookFixture(t)
	f.connect(t, "bob@example.org/one", p(1))
	f.connect(t, "bob@example.org/two", p(1))
	f.connect(t, "bob@example.org/low", p(0))
	f.route(msg("alice@example.org/home", "bob@example.org", "chat", "hi"))
	want := []string{
		"A out message alice@example.org/home>bob@example.org",
		"B out message alice@example.org/home>bob@example.org",
		"A in message alice@example.org/home>bob@example.org",
		"B in message alice@example.org/home>bob@example.org",
		"A delivered bob@example.org one,two",
		"B delivered bob@example.org one,two",
	}
	if !slices.Equal(*log, want) {
		t.Fatalf("hooks saw\n%q\nwant\n%q", *log, want)
	}

	// To a full JID: got is that resource.
	*log = nil
	f.route(msg("alice@example.org/home", "bob@example.org/low", "chat", "hi"))
	if got := (*log)[len(*log)-1]; got != "B delivered bob@example.org/low low" {
		t.Fatalf("last hook call %q", got)
	}
}

func TestHookDisposes(t *testing.T) {
	f, log := hookFixture(t)
	bob := f.connect(t, "bob@example.org/one", p(1))

	// A's Out refuses: B sees nothing, nothing is routed.
	f.route(msg("alice@example.org/home", "bob@example.org", "chat", "stop-a:out"))
	if want := []string{"A out message alice@example.org/home>bob@example.org"}; !slices.Equal(*log, want) {
		t.Fatalf("hooks saw %q", *log)
	}
	if got := bob.Take(); len(got) != 0 {
		t.Fatalf("bob got %q", got)
	}

	// B's In refuses: no delivery and no Delivered.
	*log = nil
	f.route(msg("alice@example.org/home", "bob@example.org", "chat", "stop-b:in"))
	if n := len(*log); n != 4 || !strings.HasPrefix((*log)[3], "B in ") {
		t.Fatalf("hooks saw %q", *log)
	}
	if got := bob.Take(); len(got) != 0 {
		t.Fatalf("bob got %q", got)
	}
}

func TestHookScope(t *testing.T) {
	f, log := hookFixture(t)
	f.r.Services.Add(echo{})
	f.connect(t, "bob@example.org/one", p(1))

	// A remote sender: In only; no Out.
	f.route(msg("carol@remote.example/x", "bob@example.org", "chat", "hi"))
	if len(*log) != 4 || strings.Contains(strings.Join(*log, "|"), " out ") {
		t.Fatalf("hooks saw %q", *log)
	}
	// A message to nobody: Out, no In (no such account), no Delivered.
	*log = nil
	f.route(msg("alice@example.org/home", "nobody@example.org", "chat", "hi"))
	if len(*log) != 2 {
		t.Fatalf("hooks saw %q", *log)
	}
	// A message kept offline: Delivered with no resource.
	*log = nil
	f.route(msg("bob@example.org/one", "alice@example.org", "chat", "later"))
	if got := (*log)[len(*log)-1]; got != "B delivered alice@example.org " {
		t.Fatalf("last hook call %q", got)
	}
}

// nopSink takes stanzas without allocating.
type nopSink struct{}

func (nopSink) Deliver(*stanza.Element) bool { return true }

// With no hook registered, routing a message to a bare JID with several
// resources allocates nothing for the hooks' sake.
func TestNoHookNoAllocation(t *testing.T) {
	r := &Router{Domains: map[string]bool{"example.org": true}, Registry: NewRegistry(),
		Accounts: accounts{"bob@example.org": true}, Services: NewMux()}
	for _, res := range []string{"a", "b", "c"} {
		j := jid.MustParse("bob@example.org/" + res)
		r.Registry.Bind(j, nopSink{}, ConflictRefuse, nil)
		r.Registry.Update(j, func(r *Resource) { r.Available = true })
	}
	st := msg("alice@example.org/home", "bob@example.org", "chat", "hi")
	from, to := jid.MustParse("alice@example.org/home"), jid.MustParse("bob@example.org")
	full := jid.MustParse("bob@example.org/a")
	if n := testing.AllocsPerRun(100, func() { r.Route(st, from, to); r.Route(st, from, full) }); n != 0 {
		t.Fatalf("%v allocations per route", n)
	}
}

func TestAdmit(t *testing.T) {
	f, log := hookFixture(t)
	pres := func(from, to string) *stanza.Element {
		return stanza.NewElement(stanza.NSClient, "presence").Set("from", from).Set("to", to)
	}
	// Between two local accounts: Out then In.
	if !f.r.Admit(pres("alice@example.org/home", "bob@example.org/one"), jid.MustParse("alice@example.org/home"), jid.MustParse("bob@example.org/one")) {
		t.Fatal("refused")
	}
	want := []string{
		"A out presence alice@example.org/home>bob@example.org/one", "B out presence alice@example.org/home>bob@example.org/one",
		"A in presence alice@example.org/home>bob@example.org/one", "B in presence alice@example.org/home>bob@example.org/one",
	}
	if !slices.Equal(*log, want) {
		t.Fatalf("hooks saw %q", *log)
	}
	// From a remote entity to nobody: no hook.
	*log = nil
	if !f.r.Admit(pres("carol@remote.example/x", "nobody@example.org"), jid.MustParse("carol@remote.example/x"), jid.MustParse("nobody@example.org")) || len(*log) != 0 {
		t.Fatalf("hooks saw %q", *log)
	}
	// A refusal is reported.
	st := pres("alice@example.org/home", "bob@example.org").Append(stanza.NewElement(stanza.NSClient, "body").AppendText("stop-b:in"))
	if f.r.Admit(st, jid.MustParse("alice@example.org/home"), jid.MustParse("bob@example.org")) {
		t.Fatal("admitted what B refused")
	}
}
