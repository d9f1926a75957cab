package vcard

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

type memStore struct {
	mu    sync.Mutex
	cards map[string][]byte
	sets  int
}

func (m *memStore) Get(user string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.cards[user]
	return v, ok, nil
}

func (m *memStore) Set(_ context.Context, user string, xml []byte, limit int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sets++
	if len(xml) > limit {
		return delivery.ErrOverLimit
	}
	m.cards[user] = xml
	return nil
}

// sink records what the router hands a resource or the remote side.
type sink struct {
	mu  sync.Mutex
	got []*stanza.Element
}

func (s *sink) Deliver(st *stanza.Element) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, st)
	return true
}

func (s *sink) Send(st *stanza.Element, _, _ jid.JID) { s.Deliver(st) }

func (s *sink) take(t *testing.T) *stanza.Element {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != 1 {
		t.Fatalf("%d stanzas delivered, want 1", len(s.got))
	}
	st := s.got[0]
	s.got = nil
	return st
}

type accounts map[string]bool

func (a accounts) Exists(b jid.JID) bool { return a[b.String()] }

// fixture is a real router with the vCard service, two local accounts
// with a resource each, and a remote domain.
type fixture struct {
	r      *delivery.Router
	st     *memStore
	svc    *Service
	res    map[string]*sink
	remote *sink
}

func newFixture(t *testing.T, max int) *fixture {
	t.Helper()
	f := &fixture{st: &memStore{cards: map[string][]byte{}}, res: map[string]*sink{}, remote: &sink{}}
	f.svc = &Service{Store: f.st, Keeper: delivery.Keeper{MaxBytes: max, Stored: delivery.StoredLimits(xmlstream.Limits{})}}
	f.r = &delivery.Router{
		Domains: map[string]bool{"example.org": true}, Registry: delivery.NewRegistry(),
		Accounts: accounts{"alice@example.org": true, "bob@example.org": true},
		Services: delivery.NewMux().Add(f.svc), Remote: f.remote,
	}
	for _, full := range []string{"alice@example.org/home", "bob@example.org/work"} {
		s := &sink{}
		if _, _, ok := f.r.Registry.Bind(jid.MustParse(full), s, delivery.ConflictRefuse, nil); !ok {
			t.Fatalf("bind %s", full)
		}
		f.res[full] = s
	}
	return f
}

func parse(t *testing.T, s string) *stanza.Element {
	t.Helper()
	el, err := delivery.ParseStanza([]byte(s), delivery.StoredLimits(xmlstream.Limits{}))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return el
}

// send routes an IQ as a stream would: 'from' stamped, 'to' parsed
// (empty: none).
func (f *fixture) send(t *testing.T, from, to, typ, card string) {
	t.Helper()
	attrs := ` type="` + typ + `" id="v1" from="` + from + `"`
	if to != "" {
		attrs += ` to="` + to + `"`
	}
	iq := parse(t, `<iq`+attrs+`>`+card+`</iq>`)
	var tj jid.JID
	if to != "" {
		tj = jid.MustParse(to)
	}
	f.r.Route(iq, jid.MustParse(from), tj)
}

func condition(st *stanza.Element) string {
	if e := st.Child(stanza.NSClient, "error"); e != nil {
		if c := e.FirstElement(); c != nil {
			return c.Name.Local
		}
	}
	return ""
}

const (
	alice = "alice@example.org/home"
	bob   = "bob@example.org/work"
	card  = `<vCard xmlns="vcard-temp"><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>`
)

func TestSetAndGet(t *testing.T) {
	f := newFixture(t, 0)
	// XEP-0054 3.1: one's own vCard, none yet: an empty vCard.
	f.send(t, alice, "", "get", `<vCard xmlns="vcard-temp"/>`)
	if r := f.res[alice].take(t); r.Get("type") != "result" || r.Child(NS, "vCard") == nil || len(r.Child(NS, "vCard").Children) != 0 {
		t.Errorf("own vCard before any: %s", r)
	}
	// XEP-0054 3.3: someone else's, none yet: service-unavailable, as
	// for an account that does not exist.
	f.send(t, bob, "alice@example.org", "get", `<vCard xmlns="vcard-temp"/>`)
	if got := condition(f.res[bob].take(t)); got != "service-unavailable" {
		t.Errorf("another's vCard before any: %q", got)
	}
	f.send(t, bob, "nobody@example.org", "get", `<vCard xmlns="vcard-temp"/>`)
	if got := condition(f.res[bob].take(t)); got != "service-unavailable" {
		t.Errorf("vCard of no account: %q", got)
	}

	f.send(t, alice, "", "set", card)
	if r := f.res[alice].take(t); r.Get("type") != "result" || r.Get("id") != "v1" {
		t.Fatalf("set: %s", r)
	}
	for _, tc := range []struct{ from, to string }{{alice, ""}, {alice, "alice@example.org"}, {bob, "alice@example.org"}} {
		f.send(t, tc.from, tc.to, "get", `<vCard xmlns="vcard-temp"/>`)
		r := f.res[tc.from].take(t)
		v := r.Child(NS, "vCard")
		if r.Get("type") != "result" || v == nil || v.Child(NS, "FN").Text() != "Alice" ||
			v.Child(NS, "PHOTO").Child(NS, "BINVAL").Text() != "iVBORw0KGgo=" {
			t.Errorf("get from %s to %q: %s", tc.from, tc.to, r)
		}
		if r.Get("from") != "alice@example.org" {
			t.Errorf("answered from %q, want the bare JID", r.Get("from"))
		}
	}
	// The server answered for alice: her resource saw no request.
	if n := len(f.res[alice].got); n != 0 {
		t.Errorf("alice's resource got %d stanzas", n)
	}
}

// XEP-0054 3.2: only the account sets its vCard.
func TestSetForbidden(t *testing.T) {
	f := newFixture(t, 0)
	f.send(t, bob, "alice@example.org", "set", card)
	if got := condition(f.res[bob].take(t)); got != "forbidden" {
		t.Errorf("set of another's vCard: %q", got)
	}
	f.send(t, "mallory@example.net/x", "alice@example.org", "set", card)
	if got := condition(f.remote.take(t)); got != "forbidden" {
		t.Errorf("set from a remote domain: %q", got)
	}
	if f.st.sets != 0 {
		t.Errorf("%d forbidden sets reached the store", f.st.sets)
	}
}

// A get from another domain (as the s2s layer hands it to the router) is
// answered by the server and goes back through the remote side.
func TestRemoteGet(t *testing.T) {
	f := newFixture(t, 0)
	f.send(t, alice, "", "set", card)
	f.res[alice].take(t)
	f.send(t, "juliet@example.net/balcony", "alice@example.org", "get", `<vCard xmlns="vcard-temp"/>`)
	r := f.remote.take(t)
	if r.Get("type") != "result" || r.Get("to") != "juliet@example.net/balcony" || r.Child(NS, "vCard").Child(NS, "FN").Text() != "Alice" {
		t.Errorf("remote get: %s", r)
	}
}

// The limit is on the serialized vCard: one at the limit is kept, one
// byte more is not-acceptable, never reaches the store and leaves the old
// one in place.
func TestLimit(t *testing.T) {
	const frame = `<vCard xmlns="vcard-temp"><PHOTO><BINVAL></BINVAL></PHOTO></vCard>`
	const limit = 1000
	big := func(n int) string {
		return `<vCard xmlns="vcard-temp"><PHOTO><BINVAL>` + strings.Repeat("A", n) + `</BINVAL></PHOTO></vCard>`
	}
	f := newFixture(t, limit)
	f.send(t, alice, "", "set", big(limit-len(frame)))
	if r := f.res[alice].take(t); r.Get("type") != "result" {
		t.Fatalf("a vCard of exactly the limit: %s", r)
	}
	f.send(t, alice, "", "set", big(limit-len(frame)+1))
	if got := condition(f.res[alice].take(t)); got != "not-acceptable" {
		t.Errorf("one byte past the limit: %q", got)
	}
	if f.st.sets != 1 {
		t.Errorf("%d sets reached the store, want 1", f.st.sets)
	}
	if st := f.svc.Stats(); st.Refused != 1 || st.Limit != limit {
		t.Errorf("Stats = %+v", st)
	}
	f.send(t, bob, "alice@example.org", "get", `<vCard xmlns="vcard-temp"/>`)
	if r := f.res[bob].take(t); len(r.Child(NS, "vCard").Child(NS, "PHOTO").Child(NS, "BINVAL").Text()) != limit-len(frame) {
		t.Errorf("the kept vCard changed after a refusal")
	}
	if got := (&Service{}).Stats().Limit; got != DefaultMaxBytes {
		t.Errorf("default limit %d", got)
	}
}

// A store refusing past the limit (the replicated check) is
// not-acceptable too, and a store that cannot write now is
// service-unavailable.
func TestStoreErrors(t *testing.T) {
	f := newFixture(t, 0)
	f.svc.Store = refusing{delivery.ErrOverLimit}
	f.send(t, alice, "", "set", card)
	if got := condition(f.res[alice].take(t)); got != "not-acceptable" {
		t.Errorf("store over its limit: %q", got)
	}
	f.svc.Store = refusing{delivery.ErrStoreUnavailable}
	f.send(t, alice, "", "set", card)
	if got := condition(f.res[alice].take(t)); got != "service-unavailable" {
		t.Errorf("store unavailable: %q", got)
	}
}

type refusing struct{ err error }

func (r refusing) Get(string) ([]byte, bool, error) { return nil, false, nil }
func (r refusing) Set(context.Context, string, []byte, int) error {
	return r.err
}

func TestDisco(t *testing.T) {
	m := delivery.NewMux().Add(&Service{})
	if fs := m.Features(); len(fs) != 1 || fs[0] != NS {
		t.Errorf("server features %v, want [%s]", fs, NS)
	}
}
