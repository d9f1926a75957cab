package consensus

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// The roster write path through real Raft and real Pebble: every change is
// one RosterOp whose Apply runs roster.Step against the stored record.

// rop builds a RosterOp.
func rop(kind roster.OpKind, user, contact string) RosterOp {
	return RosterOp{Op: uint8(kind), User: user, Contact: contact, At: ts}
}

func subOp(kind roster.OpKind, k roster.Kind, user, contact string) RosterOp {
	c := rop(kind, user, contact)
	c.Sub = uint8(k)
	return c
}

// applyRoster proposes c and returns what the table decided.
func applyRoster(t testing.TB, n *Node, c RosterOp) roster.Effect {
	t.Helper()
	res := propose(t, n, c)
	if res.Roster == nil {
		t.Fatalf("RosterOp %+v: no effect in the result", c)
	}
	return *res.Roster
}

// countsOf reads the user's stored counts (zero when there are none).
func countsOf(t testing.TB, n *Node, user string) rosterCounts {
	t.Helper()
	v, ok, err := get(n.db, rosterCountsKey(user))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return rosterCounts{}
	}
	c, err := decodeCounts(v)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rosterView is everything stored for one user's roster.
type rosterView struct {
	Items   []roster.Item
	Ver     uint64
	Pending []PendingRequest
	Counts  rosterCounts
}

func viewOf(t testing.TB, n *Node, user string) rosterView {
	t.Helper()
	items, ver, err := n.Roster(user)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := n.PendingRequests(user)
	if err != nil {
		t.Fatal(err)
	}
	return rosterView{Items: items, Ver: ver, Pending: reqs, Counts: countsOf(t, n, user)}
}

// checkConsistent holds the counts to what is stored: the item count is the
// number of visible records, the pending count the number of stored
// requests, the version the one Roster reports; and a record is in a
// PendingIn state exactly when its request is stored (RFC 6121 3.1.3 item
// 4: the request is kept until answered).
func checkConsistent(t testing.TB, n *Node, user string) rosterView {
	t.Helper()
	v := viewOf(t, n, user)
	visible := 0
	pendingIn := map[string]bool{}
	for _, it := range v.Items {
		if it.Visible() {
			visible++
		}
		if !it.Valid() {
			t.Errorf("%s holds an invalid record %+v", user, it)
		}
		if it.State.PendingIn {
			pendingIn[it.JID] = true
		}
	}
	stored := map[string]bool{}
	for _, r := range v.Pending {
		stored[r.From] = true
	}
	if !reflect.DeepEqual(pendingIn, stored) {
		t.Errorf("%s: records pending in %v, requests stored from %v", user, pendingIn, stored)
	}
	if v.Counts.items != uint64(visible) || v.Counts.pending != uint64(len(v.Pending)) || v.Counts.ver != v.Ver {
		t.Errorf("%s: counts %+v, but %d visible items, %d requests, version %d",
			user, v.Counts, visible, len(v.Pending), v.Ver)
	}
	return v
}

func wantItem(t testing.TB, n *Node, user, contact string, want roster.Item) {
	t.Helper()
	got, ok, err := n.RosterItem(user, contact)
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("RosterItem(%s, %s) = %+v, %v, %v; want %+v", user, contact, got, ok, err, want)
	}
}

// RFC 6121 3.1: alice asks bob, bob's server keeps the request with its
// extensions, bob approves, alice's server learns it. Each side's version
// moves with each push and only then.
func TestRosterHandshake(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const alice, bob = "alice@localhost", "bob@localhost"
	propose(t, n, CreateAccount{Name: alice, Created: ts})
	propose(t, n, CreateAccount{Name: bob, Created: ts})
	// Stored as given, byte for byte: the request is opaque to the store.
	request := []byte("<presence from='alice@localhost' to='bob@localhost' type='subscribe' id='s1'>" +
		"<nick xmlns='http://jabber.org/protocol/nick'>Alice \xc3\xa9</nick>  \n<x xmlns='urn:ext'/></presence>\xff")

	// 3.1.2: alice's item appears with ask='subscribe', pushed at version 1.
	e := applyRoster(t, n, subOp(roster.OpOut, roster.Subscribe, alice, bob))
	if !e.Out.Route || !e.Out.CreateItem || !e.Push || e.Ver != 1 {
		t.Fatalf("alice's subscribe: %+v", e)
	}
	wantItem(t, n, alice, bob, roster.Item{JID: bob, State: roster.State{PendingOut: true}})

	// 3.1.3: bob's server keeps the request, outside his roster; no push.
	in := subOp(roster.OpIn, roster.Subscribe, bob, alice)
	in.Stanza, in.At = request, ts+1
	e = applyRoster(t, n, in)
	if !e.KeepRequest || !e.In.Deliver || e.Push || e.Ver != 0 {
		t.Fatalf("bob receives the subscribe: %+v", e)
	}
	wantItem(t, n, bob, alice, roster.Item{JID: alice, State: roster.State{PendingIn: true}, RequestOnly: true})
	want := []PendingRequest{{From: alice, Stanza: request, At: ts + 1}}
	if reqs, err := n.PendingRequests(bob); err != nil || !reflect.DeepEqual(reqs, want) {
		t.Fatalf("PendingRequests(bob) = %+v, %v; want %+v", reqs, err, want)
	}
	// 3.1.3 item 4: one request per contact; a repeat keeps the first.
	again := in
	again.Stanza, again.At = []byte("<presence type='subscribe' id='s2'/>"), ts+2
	if e := applyRoster(t, n, again); e.KeepRequest || e.DropRequest || e.In.Deliver {
		t.Errorf("repeated subscribe: %+v", e)
	}
	if reqs, _ := n.PendingRequests(bob); !reflect.DeepEqual(reqs, want) {
		t.Errorf("after a repeat, PendingRequests(bob) = %+v; want the first %+v", reqs, want)
	}
	if v := checkConsistent(t, n, bob); v.Counts != (rosterCounts{ver: 0, items: 0, pending: 1}) {
		t.Errorf("bob's counts = %+v", v.Counts)
	}

	// 3.1.5: bob approves; his item appears with From, the request goes.
	e = applyRoster(t, n, subOp(roster.OpOut, roster.Subscribed, bob, alice))
	if !e.Out.Route || !e.Out.CreateItem || !e.DropRequest || !e.Push || e.Ver != 1 || e.Out.Presence != roster.SendAvailable {
		t.Fatalf("bob approves: %+v", e)
	}
	wantItem(t, n, bob, alice, roster.Item{JID: alice, State: roster.State{Sub: roster.From}})
	if reqs, err := n.PendingRequests(bob); err != nil || len(reqs) != 0 {
		t.Errorf("PendingRequests(bob) after approval = %+v, %v", reqs, err)
	}

	// 3.1.6: alice's server gets the approval: To, pushed at version 2.
	e = applyRoster(t, n, subOp(roster.OpIn, roster.Subscribed, alice, bob))
	if !e.In.Deliver || !e.Push || e.Ver != 2 {
		t.Fatalf("alice receives subscribed: %+v", e)
	}
	wantItem(t, n, alice, bob, roster.Item{JID: bob, State: roster.State{Sub: roster.To}})

	// A stanza the table ignores (Table 8 "To": SHOULD NOT deliver) keeps
	// the version: only pushes move it (2.6.3).
	if e := applyRoster(t, n, subOp(roster.OpIn, roster.Subscribed, alice, bob)); e.Push || e.Ver != 2 || e.In.Deliver {
		t.Errorf("a repeated subscribed: %+v", e)
	}
	if v := checkConsistent(t, n, alice); v.Counts != (rosterCounts{ver: 2, items: 1, pending: 0}) {
		t.Errorf("alice's counts = %+v", v.Counts)
	}
	if v := checkConsistent(t, n, bob); v.Counts != (rosterCounts{ver: 1, items: 1, pending: 0}) {
		t.Errorf("bob's counts = %+v", v.Counts)
	}
}

// appliedOp is one RosterOp as the FSM answered it.
type appliedOp struct {
	cmd RosterOp
	res Result
	err error
}

// rosterModel is a sequential replay of the store: roster.Step applied in log
// order against what the previous step left, with the store's bookkeeping
// of requests and counts.
type rosterModel struct {
	recs     map[string]roster.Item // contact -> record
	reqs     map[string][]byte      // contact -> kept request stanza
	ver      uint64
	items    int
	lastName map[string]string
}

func newRosterModel() *rosterModel {
	return &rosterModel{recs: map[string]roster.Item{}, reqs: map[string][]byte{}, lastName: map[string]string{}}
}

func (m *rosterModel) step(c RosterOp) (roster.Effect, *roster.SetError) {
	cur, found := m.recs[c.Contact]
	op := roster.Op{Kind: roster.OpKind(c.Op), User: c.User, Contact: c.Contact,
		Name: c.Name, Groups: c.Groups, Sub: roster.Kind(c.Sub)}
	e, err := roster.Step(op, cur, found, m.ver, m.items, roster.Limits{MaxItems: int(c.MaxItems)})
	if err != nil {
		return e, err
	}
	was := found && cur.Visible()
	is := !e.Delete && e.After.Visible()
	switch {
	case was && !is:
		m.items--
	case !was && is:
		m.items++
	}
	if e.Delete {
		delete(m.recs, c.Contact)
	} else {
		m.recs[c.Contact] = e.After
	}
	_, has := m.reqs[c.Contact]
	switch {
	case e.KeepRequest && !has:
		m.reqs[c.Contact] = c.Stanza
	case e.DropRequest && has:
		delete(m.reqs, c.Contact)
	}
	if op.Kind == roster.OpSet {
		m.lastName[c.Contact] = c.Name
	}
	m.ver = e.Ver
	return e, nil
}

// Two concurrent stanzas for the same pair cannot lose each other's update:
// many goroutines propose interleaved roster sets and subscription stanzas
// for the same (user, contact) at once, Raft batches them into shared
// Pebble batches, and the final state is exactly what applying them one
// after the other in log order gives. Each command's own effect is the one
// a sequential replay computes at its index, so each saw the state the
// previous one left.
func TestRosterConcurrentSamePair(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const user = "juliet@localhost"
	contacts := []string{"romeo@example.net", "nurse@example.net", "tybalt@example.net"}
	propose(t, n, CreateAccount{Name: user, Created: ts})

	// Every kind of command, so that states move in all directions,
	// items appear and disappear and requests are kept and dropped.
	presence := []RosterOp{
		subOp(roster.OpIn, roster.Subscribe, user, ""),
		subOp(roster.OpOut, roster.Subscribed, user, ""),
		subOp(roster.OpOut, roster.Subscribe, user, ""),
		subOp(roster.OpIn, roster.Subscribed, user, ""),
		subOp(roster.OpIn, roster.Unsubscribe, user, ""),
		subOp(roster.OpOut, roster.Unsubscribed, user, ""),
		subOp(roster.OpIn, roster.Unsubscribed, user, ""),
		subOp(roster.OpOut, roster.Unsubscribe, user, ""),
		rop(roster.OpRemove, user, ""),
	}
	const setters, others, rounds = 50, 50, 4
	var (
		mu   sync.Mutex
		log  []appliedOp
		wg   sync.WaitGroup
		errc = make(chan error, setters+others)
	)
	run := func(c RosterOp) {
		res, err := n.Propose(context.Background(), c)
		var se *roster.SetError
		if err != nil && !errors.As(err, &se) {
			errc <- fmt.Errorf("Propose(%+v): %w", c, err)
			return
		}
		if err == nil && res.Roster == nil {
			errc <- fmt.Errorf("Propose(%+v): no effect", c)
			return
		}
		mu.Lock()
		log = append(log, appliedOp{cmd: c, res: res, err: err})
		mu.Unlock()
	}
	for g := range setters {
		wg.Go(func() {
			for i := range rounds {
				// Most of the traffic is on one pair; the other contacts
				// keep the counts honest.
				contact := contacts[0]
				if i == rounds-1 {
					contact = contacts[g%len(contacts)]
				}
				c := rop(roster.OpSet, user, contact)
				c.Name = fmt.Sprintf("name-%d-%d", g, i)
				c.Groups = []string{fmt.Sprintf("group-%d", g), "all"}
				run(c)
			}
		})
	}
	for g := range others {
		wg.Go(func() {
			for i := range rounds {
				c := presence[(g+i)%len(presence)]
				c.Contact = contacts[0]
				if i == rounds-1 {
					c.Contact = contacts[(g+1)%len(contacts)]
				}
				c.Stanza = fmt.Appendf(nil, "<presence type='subscribe' id='g%d-%d'/>", g, i)
				c.At = ts + int64(g*rounds+i)
				run(c)
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(log) != (setters+others)*rounds {
		t.Fatalf("%d commands answered, want %d", len(log), (setters+others)*rounds)
	}

	slices.SortFunc(log, func(a, b appliedOp) int { return cmp.Compare(a.res.Index, b.res.Index) })
	m := newRosterModel()
	for i, a := range log {
		if i > 0 && a.res.Index == log[i-1].res.Index {
			t.Fatalf("two commands at index %d", a.res.Index)
		}
		e, serr := m.step(a.cmd)
		var got *roster.SetError
		errors.As(a.err, &got)
		switch {
		case (serr == nil) != (got == nil) || (serr != nil && serr.Condition != got.Condition):
			t.Fatalf("index %d %+v: store said %v, replay says %v", a.res.Index, a.cmd, a.err, serr)
		case serr == nil && !reflect.DeepEqual(*a.res.Roster, e):
			t.Fatalf("index %d %+v:\nstore decided  %+v\nreplay decides %+v", a.res.Index, a.cmd, *a.res.Roster, e)
		}
	}

	for _, contact := range contacts {
		got, ok, err := n.RosterItem(user, contact)
		if err != nil {
			t.Fatal(err)
		}
		want, wantOK := m.recs[contact]
		if ok != wantOK || (ok && !reflect.DeepEqual(got, want)) {
			t.Errorf("RosterItem(%s) = %+v (%v); replay gives %+v (%v)", contact, got, ok, want, wantOK)
		}
		// The last roster set wins unless a removal came after it.
		if ok && got.Visible() && got.Name != "" && got.Name != m.lastName[contact] {
			t.Errorf("%s is named %q, the last set said %q", contact, got.Name, m.lastName[contact])
		}
	}
	v := checkConsistent(t, n, user)
	if v.Ver != m.ver || v.Counts.items != uint64(m.items) {
		t.Errorf("version %d, %d items; replay gives %d, %d", v.Ver, v.Counts.items, m.ver, m.items)
	}
	if len(v.Pending) != len(m.reqs) {
		t.Errorf("%d stored requests, replay keeps %d", len(v.Pending), len(m.reqs))
	}
	for _, r := range v.Pending {
		if !bytes.Equal(r.Stanza, m.reqs[r.From]) {
			t.Errorf("request from %s is %q; replay kept %q", r.From, r.Stanza, m.reqs[r.From])
		}
	}
	t.Logf("%d commands, final version %d, %d items, %d requests", len(log), v.Ver, v.Counts.items, len(v.Pending))
}

// RFC 6121 3.1.3, second Security Warning: a server may cap the requests it
// keeps. At the cap a new contact's subscribe is refused and writes
// nothing; a contact whose request is already kept may repeat it, and an
// answered request makes room.
func TestRosterPendingCap(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const user = "juliet@localhost"
	propose(t, n, CreateAccount{Name: user, Created: ts})
	subscribe := func(from string, id string) RosterOp {
		c := subOp(roster.OpIn, roster.Subscribe, user, from)
		c.Stanza = []byte("<presence type='subscribe' id='" + id + "'/>")
		c.MaxPending = 2
		return c
	}
	applyRoster(t, n, subscribe("a@example.net", "a1"))
	applyRoster(t, n, subscribe("b@example.net", "b1"))
	// An item with no request counts for nothing against the cap, and
	// gets one when its contact asks (if there is room).
	set := rop(roster.OpSet, user, "d@example.net")
	applyRoster(t, n, set)
	before := checkConsistent(t, n, user)

	ctx := context.Background()
	for _, from := range []string{"c@example.net", "d@example.net"} {
		idx := n.AppliedIndex()
		res, err := n.Propose(ctx, subscribe(from, "x"))
		if !errors.Is(err, ErrPendingFull) {
			t.Fatalf("subscribe from %s at the cap: %v, want ErrPendingFull", from, err)
		}
		if res.Index <= idx || res.Roster != nil {
			t.Errorf("refused command: %+v (applied index was %d)", res, idx)
		}
		if after := checkConsistent(t, n, user); !reflect.DeepEqual(after, before) {
			t.Errorf("a refused subscribe from %s wrote:\nbefore %+v\nafter  %+v", from, before, after)
		}
	}
	if _, ok, _ := n.RosterItem(user, "c@example.net"); ok {
		t.Error("the refused contact has a record")
	}
	// A repeat from a contact already waiting is no new request.
	if e := applyRoster(t, n, subscribe("a@example.net", "a2")); e.KeepRequest || e.Push {
		t.Errorf("repeat from a: %+v", e)
	}
	// Other stanzas from new contacts are not requests.
	applyRoster(t, n, func() RosterOp {
		c := subOp(roster.OpIn, roster.Unsubscribe, user, "c@example.net")
		c.MaxPending = 2
		return c
	}())
	if after := checkConsistent(t, n, user); !reflect.DeepEqual(after, before) {
		t.Errorf("state changed at the cap:\nbefore %+v\nafter  %+v", before, after)
	}

	// Answering a's request (3.1.5) frees a place; c gets it, d is refused.
	applyRoster(t, n, subOp(roster.OpOut, roster.Subscribed, user, "a@example.net"))
	applyRoster(t, n, subscribe("c@example.net", "c1"))
	if _, err := n.Propose(ctx, subscribe("d@example.net", "d1")); !errors.Is(err, ErrPendingFull) {
		t.Errorf("third request: %v, want ErrPendingFull", err)
	}
	v := checkConsistent(t, n, user)
	var from []string
	for _, r := range v.Pending {
		from = append(from, r.From+" "+string(r.Stanza))
	}
	if want := []string{"b@example.net <presence type='subscribe' id='b1'/>", "c@example.net <presence type='subscribe' id='c1'/>"}; !slices.Equal(from, want) {
		t.Errorf("pending = %q, want %q", from, want)
	}
	// Zero is no cap.
	for i := range 5 {
		c := subscribe(fmt.Sprintf("z%d@example.net", i), "z")
		c.MaxPending = 0
		applyRoster(t, n, c)
	}
	if v := checkConsistent(t, n, user); v.Counts.pending != 7 {
		t.Errorf("pending count %d, want 7", v.Counts.pending)
	}
}

// DeleteAccount takes the roster with it: items, bare requests, stored
// requests and counts, and nothing of another user's. A new account of the
// same name starts from nothing.
func TestRosterDeleteAccount(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const alice, alice2, bob = "alice@localhost", "alice2@localhost", "bob@localhost"
	for _, u := range []string{alice, alice2, bob} {
		propose(t, n, CreateAccount{Name: u, Created: ts})
	}
	fill := func(user string) {
		c := rop(roster.OpSet, user, "carol@example.net")
		c.Name, c.Groups = "Carol", []string{"Friends"}
		applyRoster(t, n, c)
		applyRoster(t, n, subOp(roster.OpOut, roster.Subscribe, user, bob))
		in := subOp(roster.OpIn, roster.Subscribe, user, "dave@example.net")
		in.Stanza = []byte("<presence type='subscribe'/>")
		applyRoster(t, n, in)
	}
	fill(alice)
	fill(alice2)
	in := subOp(roster.OpIn, roster.Subscribe, bob, alice)
	in.Stanza = []byte("<presence from='alice@localhost' type='subscribe'/>")
	applyRoster(t, n, in)
	alice2Before, bobBefore := checkConsistent(t, n, alice2), checkConsistent(t, n, bob)
	if v := checkConsistent(t, n, alice); len(v.Items) != 3 || len(v.Pending) != 1 || v.Counts.ver != 2 {
		t.Fatalf("alice before the delete: %+v", v)
	}

	propose(t, n, DeleteAccount{Name: alice})
	if v := viewOf(t, n, alice); len(v.Items) != 0 || v.Ver != 0 || len(v.Pending) != 0 || v.Counts != (rosterCounts{}) {
		t.Errorf("alice's roster after the delete: %+v", v)
	}
	if _, ok, _ := get(n.db, rosterCountsKey(alice)); ok {
		t.Error("alice's counts survive the delete")
	}
	if _, err := n.Propose(context.Background(), subOp(roster.OpOut, roster.Subscribe, alice, bob)); !errors.Is(err, ErrNotFound) {
		t.Errorf("RosterOp for a deleted account: %v, want ErrNotFound", err)
	}
	// Other users keep theirs, including a neighbour in key order and a
	// contact's record of alice (the account is gone, not the contact's
	// view of it).
	if v := checkConsistent(t, n, alice2); !reflect.DeepEqual(v, alice2Before) {
		t.Errorf("alice2 changed:\nbefore %+v\nafter  %+v", alice2Before, v)
	}
	if v := checkConsistent(t, n, bob); !reflect.DeepEqual(v, bobBefore) {
		t.Errorf("bob changed:\nbefore %+v\nafter  %+v", bobBefore, v)
	}

	// A new alice counts from zero: one request fits under a cap of one.
	propose(t, n, CreateAccount{Name: alice, Created: ts + 1})
	in = subOp(roster.OpIn, roster.Subscribe, alice, "erin@example.net")
	in.Stanza, in.MaxPending = []byte("<presence/>"), 1
	applyRoster(t, n, in)
	c := rop(roster.OpSet, alice, "frank@example.net")
	c.MaxItems = 1
	if e := applyRoster(t, n, c); e.Ver != 1 {
		t.Errorf("first push of the new account at version %d, want 1", e.Ver)
	}
	if v := checkConsistent(t, n, alice); v.Counts != (rosterCounts{ver: 1, items: 1, pending: 1}) {
		t.Errorf("new alice: %+v", v.Counts)
	}
}

// fillRosters writes a handshake, a bare request, a few items and a removal
// for two users, and returns their views.
func fillRosters(t *testing.T, n *Node) (a, b rosterView) {
	const alice, bob = "alice@localhost", "bob@localhost"
	for _, u := range []string{alice, bob} {
		if _, err := n.Propose(context.Background(), CreateAccount{Name: u, Created: ts}); err != nil && !errors.Is(err, ErrExists) {
			t.Fatal(err)
		}
	}
	applyRoster(t, n, subOp(roster.OpOut, roster.Subscribe, alice, bob))
	in := subOp(roster.OpIn, roster.Subscribe, bob, alice)
	in.Stanza = []byte("<presence from='alice@localhost' type='subscribe'><nick>A</nick></presence>")
	applyRoster(t, n, in)
	applyRoster(t, n, subOp(roster.OpOut, roster.Subscribed, bob, alice))
	applyRoster(t, n, subOp(roster.OpIn, roster.Subscribed, alice, bob))
	for i := range 5 {
		c := rop(roster.OpSet, alice, fmt.Sprintf("c%d@example.net", i))
		c.Name = fmt.Sprint("contact ", i)
		applyRoster(t, n, c)
	}
	applyRoster(t, n, rop(roster.OpRemove, alice, "c2@example.net"))
	in = subOp(roster.OpIn, roster.Subscribe, alice, "stranger@example.org")
	in.Stanza = []byte("<presence type='subscribe' id='q'/>")
	applyRoster(t, n, in)
	return checkConsistent(t, n, alice), checkConsistent(t, n, bob)
}

// The roster survives restarts, and replay never counts twice: entries
// Pebble already holds are skipped, a lost Pebble is rebuilt from the whole
// log or from a Raft snapshot plus the tail, and in every case the counts
// match the records and the next command continues from them.
func TestRosterRestart(t *testing.T) {
	const alice, bob = "alice@localhost", "bob@localhost"
	// next checks that the counts carry on: the version moves from where
	// it was, and the caps see the true numbers.
	next := func(t *testing.T, n *Node, a rosterView) {
		t.Helper()
		c := rop(roster.OpSet, alice, "new@example.net")
		c.MaxItems = uint32(a.Counts.items) + 1
		if e := applyRoster(t, n, c); e.Ver != a.Ver+1 {
			t.Errorf("next push at version %d, want %d", e.Ver, a.Ver+1)
		}
		c.Contact = "newer@example.net"
		if _, err := n.Propose(context.Background(), c); err == nil {
			t.Error("the item cap let one more in: the item count went down")
		}
		in := subOp(roster.OpIn, roster.Subscribe, alice, "asker@example.org")
		in.Stanza, in.MaxPending = []byte("<presence/>"), uint32(a.Counts.pending)+1
		applyRoster(t, n, in)
		in.Contact = "asker2@example.org"
		if _, err := n.Propose(context.Background(), in); !errors.Is(err, ErrPendingFull) {
			t.Errorf("the pending cap let one more in (%v): the pending count went down", err)
		}
		checkConsistent(t, n, alice)
	}

	t.Run("pebble kept", func(t *testing.T) {
		n := open(t, t.TempDir())
		a, b := fillRosters(t, n)
		applied := n.AppliedIndex()
		// An entry Pebble already holds, delivered again, is refused.
		out := n.fsm.ApplyBatch([]*raft.Log{{Index: applied, Type: raft.LogCommand,
			Data: Encode(rop(roster.OpSet, alice, "dup@example.net"))}})
		if r, _ := out[0].(response); r.err == nil {
			t.Errorf("replayed entry applied: %+v", r)
		}
		for range 3 {
			n = reopen(t, n)
			if got := checkConsistent(t, n, alice); !reflect.DeepEqual(got, a) {
				t.Fatalf("alice after restart:\n got %+v\nwant %+v", got, a)
			}
			if got := checkConsistent(t, n, bob); !reflect.DeepEqual(got, b) {
				t.Fatalf("bob after restart:\n got %+v\nwant %+v", got, b)
			}
		}
		next(t, n, a)
	})

	t.Run("pebble lost, whole log replayed", func(t *testing.T) {
		n := open(t, t.TempDir(), memState)
		a, b := fillRosters(t, n)
		for range 2 {
			n = reopen(t, n, memState) // a new, empty Pebble each time
			if got := checkConsistent(t, n, alice); !reflect.DeepEqual(got, a) {
				t.Fatalf("alice after replay:\n got %+v\nwant %+v", got, a)
			}
			if got := checkConsistent(t, n, bob); !reflect.DeepEqual(got, b) {
				t.Fatalf("bob after replay:\n got %+v\nwant %+v", got, b)
			}
		}
		next(t, n, a)
	})

	t.Run("pebble lost, snapshot and tail", func(t *testing.T) {
		n := open(t, t.TempDir())
		fillRosters(t, n)
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
		// More after the snapshot: the tail Raft replays on top of it.
		a, b := fillRosters(t, n)
		dir := n.cfg.Dir
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
			t.Fatal(err)
		}
		n = open(t, dir)
		if got := checkConsistent(t, n, alice); !reflect.DeepEqual(got, a) {
			t.Fatalf("alice after rebuild:\n got %+v\nwant %+v", got, a)
		}
		if got := checkConsistent(t, n, bob); !reflect.DeepEqual(got, b) {
			t.Fatalf("bob after rebuild:\n got %+v\nwant %+v", got, b)
		}
		next(t, n, a)
	})
}

// A roster set the RFC refuses is a domain error: committed, nothing
// written, and the client gets the condition (2.3.3, 2.5.3).
func TestRosterSetErrors(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const user = "juliet@localhost"
	propose(t, n, CreateAccount{Name: user, Created: ts})
	c := rop(roster.OpSet, user, "a@example.net")
	c.MaxItems = 1
	applyRoster(t, n, c)
	before := checkConsistent(t, n, user)
	ctx := context.Background()
	for _, c := range []struct {
		cmd  RosterOp
		cond stanza.Condition
	}{
		{func() RosterOp { c := rop(roster.OpSet, user, "b@example.net"); c.MaxItems = 1; return c }(), stanza.NotAcceptable},
		{func() RosterOp {
			c := subOp(roster.OpOut, roster.Subscribe, user, "b@example.net")
			c.MaxItems = 1
			return c
		}(), stanza.NotAcceptable},
		{rop(roster.OpRemove, user, "b@example.net"), stanza.ItemNotFound},
	} {
		_, err := n.Propose(ctx, c.cmd)
		var se *roster.SetError
		if !errors.As(err, &se) || se.Condition != c.cond {
			t.Errorf("Propose(%+v) = %v, want %s", c.cmd, err, c.cond)
		}
	}
	if after := checkConsistent(t, n, user); !reflect.DeepEqual(after, before) {
		t.Errorf("refused commands wrote:\nbefore %+v\nafter  %+v", before, after)
	}
	for _, bad := range []RosterOp{
		{Op: 0, User: user, Contact: "a@example.net"},
		{Op: uint8(roster.OpIn) + 1, User: user, Contact: "a@example.net"},
		{Op: uint8(roster.OpSet), User: user},
		{Op: uint8(roster.OpSet), User: "nodomain", Contact: "a@example.net"},
	} {
		if _, err := n.Propose(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Propose(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := n.Propose(ctx, rop(roster.OpSet, "nobody@localhost", "a@example.net")); !errors.Is(err, ErrNotFound) {
		t.Errorf("RosterOp without an account: %v, want ErrNotFound", err)
	}
}

// A pointer to a RosterOp is a command like the value (Encode and Propose
// take either), and a nil one is refused, not a panic.
func TestRosterOpPointer(t *testing.T) {
	c := &RosterOp{Op: 1, User: "a@x", Contact: "b@x"}
	if got, want := Encode(c), Encode(*c); string(got) != string(want) {
		t.Fatalf("Encode(&op) = %x, want %x", got, want)
	}
	if deref((*RosterOp)(nil)) != nil {
		t.Fatal("a nil *RosterOp did not deref to nil")
	}
}
