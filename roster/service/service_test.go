package service

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// svcStore is a Store that runs Step in memory, as consensus Apply does.
type svcStore struct {
	mu    sync.Mutex
	items map[string]map[string]roster.Item
	vers  map[string]uint64
	reqs  map[string]map[string]Request
}

func newSvcStore() *svcStore {
	return &svcStore{items: map[string]map[string]roster.Item{}, vers: map[string]uint64{}, reqs: map[string]map[string]Request{}}
}

func (m *svcStore) List(user string) ([]roster.Item, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []roster.Item
	for _, it := range m.items[user] {
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JID < out[j].JID })
	return out, m.vers[user], nil
}

func (m *svcStore) Get(user, contact string) (roster.Item, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[user][contact]
	return it, ok, nil
}

func (m *svcStore) Requests(user string) ([]Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Request
	for _, r := range m.reqs[user] {
		out = append(out, r)
	}
	return out, nil
}

func (m *svcStore) Apply(_ context.Context, op roster.Op, req *Request) (roster.Effect, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, found := m.items[op.User][op.Contact]
	visible := 0
	for _, it := range m.items[op.User] {
		if it.Visible() {
			visible++
		}
	}
	e, serr := roster.Step(op, cur, found, m.vers[op.User], visible, roster.Limits{})
	if serr != nil {
		return e, serr
	}
	if m.items[op.User] == nil {
		m.items[op.User], m.reqs[op.User] = map[string]roster.Item{}, map[string]Request{}
	}
	if e.Delete {
		delete(m.items[op.User], op.Contact)
	} else {
		m.items[op.User][op.Contact] = e.After
	}
	m.vers[op.User] = e.Ver
	if e.KeepRequest && req != nil {
		m.reqs[op.User][op.Contact] = *req
	}
	if e.DropRequest {
		delete(m.reqs[op.User], op.Contact)
	}
	return e, nil
}

// svcSender has one connected, available, interested resource per user of
// example.com and records what each is given as "push JID SUB" or
// "presence TYPE FROM".
type svcSender struct {
	mu     sync.Mutex
	got    map[jid.JID][]string
	remote []string
}

func (s *svcSender) IsLocal(domain string) bool { return domain == "example.com" }
func (s *svcSender) Exists(bare jid.JID) bool   { return bare.Domain() == "example.com" }
func (s *svcSender) SetInterested(jid.JID)      {}

// Remote records "TYPE TO" for each stanza sent to another domain.
func (s *svcSender) Remote(st *stanza.Element, _, to jid.JID) {
	typ := st.Get("type")
	if typ == "" {
		typ = "available"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remote = append(s.remote, typ+" "+to.String())
}

func (s *svcSender) takeRemote() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.remote
	s.remote = nil
	return got
}
func (s *svcSender) Offline(jid.JID, *stanza.Element) error { return nil }

func (s *svcSender) Resources(user jid.JID) []Resource {
	full, _ := user.WithResource("r")
	return []Resource{{JID: full, Available: true, Interested: true, Presence: stanza.NewElement(stanza.NSClient, "presence")}}
}

func (s *svcSender) Deliver(full jid.JID, st *stanza.Element) bool {
	line := st.Name.Local
	switch line {
	case "iq":
		it := st.FirstElement().FirstElement()
		line = "push " + it.Get("jid") + " " + it.Get("subscription")
	case "presence":
		typ := st.Get("type")
		if typ == "" {
			typ = "available"
		}
		line = "presence " + typ + " " + st.Get("from")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got == nil {
		s.got = map[jid.JID][]string{}
	}
	s.got[full.Bare()] = append(s.got[full.Bare()], line)
	return true
}

func (s *svcSender) take(user jid.JID) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got[user]
	delete(s.got, user)
	return got
}

func svcService() (*Service, *svcStore, *svcSender) {
	store, send := newSvcStore(), &svcSender{}
	return &Service{Store: store, Send: send, Now: func() int64 { return 1 }}, store, send
}

func svcExpect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// svcRemoveIQ is a client's roster set removing contact (2.5.1).
func svcRemoveIQ(contact string) (iq, q *stanza.Element) {
	q = stanza.NewElement(roster.NSRoster, "query").
		Append(stanza.NewElement(roster.NSRoster, "item").Set("jid", contact).Set("subscription", "remove"))
	iq = stanza.NewElement(stanza.NSClient, "iq").Set("type", "set").Set("id", "r1").Append(q)
	return iq, q
}

// Answer, SetItem and RemoveItem act for the user exactly as the user's
// own stanzas do, and a removal cancels both subscriptions (2.5.2), for a
// client's roster set and an operator's RemoveItem alike.
func TestServiceOnBehalf(t *testing.T) {
	for _, viaIQ := range []bool{false, true} {
		name := "RemoveItem"
		if viaIQ {
			name = "roster set"
		}
		t.Run(name, func(t *testing.T) { svcOnBehalf(t, viaIQ) })
	}
}

func svcOnBehalf(t *testing.T, viaIQ bool) {
	juliet, romeo := jid.MustParse("juliet@example.com"), jid.MustParse("romeo@example.com")
	s, store, send := svcService()
	s.Outbound(romeo, juliet, stanza.NewElement(stanza.NSClient, "presence").Set("type", "subscribe"))
	send.take(romeo)
	svcExpect(t, "juliet is asked", send.take(juliet), "presence subscribe romeo@example.com")

	if err := s.Answer(juliet, romeo, true); err != nil {
		t.Fatal(err)
	}
	svcExpect(t, "juliet after approving", send.take(juliet), "push romeo@example.com from")
	svcExpect(t, "romeo after juliet approved", send.take(romeo),
		"presence subscribed juliet@example.com", "push juliet@example.com to", "presence available juliet@example.com/r")
	if reqs, _ := store.Requests(juliet.String()); len(reqs) != 0 {
		t.Errorf("the request is still stored after approval: %v", reqs)
	}

	if err := s.SetItem(juliet, romeo, "Romeo", []string{"Verona"}); err != nil {
		t.Fatal(err)
	}
	svcExpect(t, "juliet after naming romeo", send.take(juliet), "push romeo@example.com from")
	if err := s.SetItem(juliet, romeo, "", []string{"x", "x"}); err == nil || err.Condition != stanza.BadRequest {
		t.Errorf("duplicate groups: %v, want bad-request (2.3.3)", err)
	}
	if err := s.SetItem(juliet, juliet, "", nil); err == nil || err.Condition != stanza.NotAllowed {
		t.Errorf("juliet in her own roster: %v, want not-allowed", err)
	}

	if viaIQ {
		iq, q := svcRemoveIQ("romeo@example.com")
		full, _ := juliet.WithResource("r")
		if _, err := s.HandleIQ(iq, q, full, juliet); err != nil {
			t.Fatal(err)
		}
	} else if err := s.RemoveItem(juliet, romeo); err != nil {
		t.Fatal(err)
	}
	svcExpect(t, "juliet after removing romeo", send.take(juliet), "push romeo@example.com remove")
	// 3.2.2: unavailable presence first, then the "unsubscribed".
	svcExpect(t, "romeo after juliet removed him", send.take(romeo),
		"presence unavailable juliet@example.com/r", "presence unsubscribed juliet@example.com", "push juliet@example.com none")
	if it, _, _ := store.Get(romeo.String(), juliet.String()); it.State != (roster.State{}) {
		t.Errorf("romeo's item for juliet is %s after she removed him, want None", it.State.Name())
	}
	if err := s.RemoveItem(juliet, romeo); err == nil || err.Condition != stanza.ItemNotFound {
		t.Errorf("removing twice: %v, want item-not-found (2.5.3)", err)
	}
}

// RFC 6121 3.2.2: when the user cancels a contact's subscription, the
// contact gets the unavailable presence while still subscribed, that is
// before the "unsubscribed".
func TestCancelSendsUnavailableFirst(t *testing.T) {
	juliet, romeo := jid.MustParse("juliet@example.com"), jid.MustParse("romeo@example.com")
	s, _, send := svcService()
	s.Outbound(romeo, juliet, stanza.NewElement(stanza.NSClient, "presence").Set("type", "subscribe"))
	if err := s.Answer(juliet, romeo, true); err != nil {
		t.Fatal(err)
	}
	send.take(romeo)
	send.take(juliet)
	s.Outbound(juliet, romeo, stanza.NewElement(stanza.NSClient, "presence").Set("type", "unsubscribed"))
	svcExpect(t, "romeo after juliet cancelled", send.take(romeo),
		"presence unavailable juliet@example.com/r", "presence unsubscribed juliet@example.com", "push juliet@example.com none")
}
