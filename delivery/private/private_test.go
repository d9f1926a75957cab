package private

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// memStore is a Store in memory with the replicated store's accounting:
// every element counts its namespace, name and XML against the limit.
type memStore struct {
	mu   sync.Mutex
	docs map[string][]byte
	sets int
}

func (m *memStore) Get(user, space, local string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.docs[user+"\x00"+space+"\x00"+local]
	return v, ok, nil
}

func (m *memStore) Set(_ context.Context, user, space, local string, xml []byte, limit int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sets++
	k := user + "\x00" + space + "\x00" + local
	total := len(space) + len(local) + len(xml)
	for key, v := range m.docs {
		if key != k && strings.HasPrefix(key, user+"\x00") {
			total += len(key) - len(user) - 2 + len(v)
		}
	}
	if total > limit {
		return delivery.ErrOverLimit
	}
	if m.docs == nil {
		m.docs = map[string][]byte{}
	}
	m.docs[k] = xml
	return nil
}

const alice = "alice@example.org/home"

func parse(t *testing.T, s string) *stanza.Element {
	t.Helper()
	el, err := delivery.ParseStanza([]byte(s), delivery.StoredLimits(xmlstream.Limits{}))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return el
}

type fixture struct {
	svc *Service
	st  *memStore
	mux *delivery.Mux
}

func newFixture(max int) *fixture {
	st := &memStore{}
	svc := &Service{Store: st, Keeper: delivery.Keeper{MaxBytes: max, Stored: delivery.StoredLimits(xmlstream.Limits{})}}
	return &fixture{svc: svc, st: st, mux: delivery.NewMux().Add(svc)}
}

// iq sends an IQ of typ with the query's inner XML from alice to to
// (empty: her own bare JID) and returns the reply or the error condition.
func (f *fixture) iq(t *testing.T, from, to, typ, inner string) (*stanza.Element, stanza.Condition) {
	t.Helper()
	iq := parse(t, `<iq type="`+typ+`" id="1"><query xmlns="jabber:iq:private">`+inner+`</query></iq>`)
	fj := jid.MustParse(from)
	tj := fj.Bare()
	if to != "" {
		tj = jid.MustParse(to)
	}
	res, serr := f.mux.HandleIQ(iq, fj, tj)
	if serr != nil {
		return nil, serr.Condition
	}
	return res, ""
}

func TestSetGet(t *testing.T) {
	f := newFixture(0)
	prefs := `<exodus xmlns="exodus:prefs"><defaultnick>Hamlet</defaultnick></exodus>`
	if _, cond := f.iq(t, alice, "", "set", prefs); cond != "" {
		t.Fatalf("set: %s", cond)
	}
	res, cond := f.iq(t, alice, "", "get", `<exodus xmlns="exodus:prefs"/>`)
	if cond != "" {
		t.Fatalf("get: %s", cond)
	}
	got := res.Child(NS, "query").Child("exodus:prefs", "exodus")
	if got == nil || got.Child("exodus:prefs", "defaultnick").Text() != "Hamlet" {
		t.Errorf("get = %s", res)
	}
	if res.Get("type") != "result" || res.Get("id") != "1" || res.Get("to") != alice {
		t.Errorf("reply header %s", res)
	}
	// Another element of the same namespace was never stored: empty.
	res, _ = f.iq(t, alice, "", "get", `<other xmlns="exodus:prefs"/>`)
	if el := res.Child(NS, "query").Child("exodus:prefs", "other"); el == nil || len(el.Children) != 0 {
		t.Errorf("get of an element never stored = %s", res)
	}
	// The same with 'to' set to her own bare JID.
	if _, cond := f.iq(t, alice, "alice@example.org", "get", `<exodus xmlns="exodus:prefs"/>`); cond != "" {
		t.Errorf("get to own bare JID: %s", cond)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(0)
	for _, tc := range []struct {
		name, from, to, typ, inner string
		want                       stanza.Condition
	}{
		{"another account's get", "bob@example.org/x", "alice@example.org", "get", `<a xmlns="urn:a"/>`, stanza.Forbidden},
		{"another account's set", "bob@example.org/x", "alice@example.org", "set", `<a xmlns="urn:a"/>`, stanza.Forbidden},
		{"a remote entity", "alice@example.net/x", "alice@example.org", "get", `<a xmlns="urn:a"/>`, stanza.Forbidden},
		{"no element", alice, "", "get", ``, stanza.NotAcceptable},
		{"no element set", alice, "", "set", ``, stanza.NotAcceptable},
		{"two elements", alice, "", "get", `<a xmlns="urn:a"/><b xmlns="urn:b"/>`, stanza.NotAcceptable},
		{"two elements set", alice, "", "set", `<a xmlns="urn:a"/><b xmlns="urn:a"/>`, stanza.NotAcceptable},
		{"the query's own namespace", alice, "", "set", `<a/>`, stanza.NotAcceptable},
		{"jabber:", alice, "", "set", `<query xmlns="jabber:iq:roster"/>`, stanza.NotAcceptable},
		{"http://jabber.org/", alice, "", "get", `<query xmlns="http://jabber.org/protocol/disco#info"/>`, stanza.NotAcceptable},
		{"vcard-temp", alice, "", "set", `<vCard xmlns="vcard-temp"><FN>Hamlet</FN></vCard>`, stanza.NotAcceptable},
	} {
		if _, cond := f.iq(t, tc.from, tc.to, tc.typ, tc.inner); cond != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, cond, tc.want)
		}
	}
	if f.st.sets != 0 {
		t.Errorf("%d refused sets reached the store", f.st.sets)
	}
}

// The limit counts every element of the account: filling it to the byte
// works, one more byte is not-acceptable and changes nothing, and an
// element larger than the limit never reaches the store.
func TestLimit(t *testing.T) {
	const limit = 200
	f := newFixture(limit)
	el := func(local string, n int) string {
		return `<` + local + ` xmlns="urn:x">` + strings.Repeat("y", n) + `</` + local + `>`
	}
	// The serialized form is what counts: <a xmlns="urn:x">...</a>.
	cost := func(local string, n int) int { return len("urn:x") + len(local) + len(el(local, n)) }
	if _, cond := f.iq(t, alice, "", "set", el("a", 100)); cond != "" {
		t.Fatal(cond)
	}
	rest := limit - cost("a", 100)
	n := rest - cost("b", 0)
	if _, cond := f.iq(t, alice, "", "set", el("b", n)); cond != "" {
		t.Fatalf("filling to the limit: %s", cond)
	}
	if _, cond := f.iq(t, alice, "", "set", el("b", n+1)); cond != stanza.NotAcceptable {
		t.Fatalf("one byte past the limit: %q, want not-acceptable", cond)
	}
	res, _ := f.iq(t, alice, "", "get", `<b xmlns="urn:x"/>`)
	if got := res.Child(NS, "query").Child("urn:x", "b").Text(); len(got) != n {
		t.Errorf("after a refused set the element holds %d bytes, want %d", len(got), n)
	}
	sets := f.st.sets
	if _, cond := f.iq(t, alice, "", "set", el("c", limit)); cond != stanza.NotAcceptable {
		t.Errorf("an element larger than the limit: %q", cond)
	}
	if f.st.sets != sets {
		t.Error("an element larger than the limit reached the store")
	}
	if got := f.svc.Stats(); got.Refused != 2 || got.Limit != limit {
		t.Errorf("Stats = %+v, want 2 refusals, limit %d", got, limit)
	}
	if got := (&Service{}).Stats().Limit; got != DefaultMaxBytes {
		t.Errorf("default limit %d", got)
	}
}

func TestDisco(t *testing.T) {
	f := newFixture(0)
	found := false
	for _, v := range f.mux.Features() {
		found = found || v == NS
	}
	if !found {
		t.Errorf("server features %v lack %s", f.mux.Features(), NS)
	}
}
