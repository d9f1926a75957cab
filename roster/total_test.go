package roster

import (
	"fmt"
	"testing"
)

// input is one point of the state machine's domain.
type input struct {
	cur    State
	exists bool
	k      Kind
}

func (in input) String() string {
	return fmt.Sprintf("(%s, exists=%v, %s)", in.cur, in.exists, in.k)
}

// domain is every (state, item exists, kind) the machine answers: every
// valid state with an item, the itemless states without one, four kinds.
func domain() []input {
	var all []input
	for _, s := range AllStates() {
		for _, exists := range []bool{true, false} {
			if !exists && !s.Itemless() {
				continue
			}
			for _, k := range kinds {
				all = append(all, input{s, exists, k})
			}
		}
	}
	return all
}

// TestStates pins AllStates and Valid to A.1 and 3.4.2: the nine states,
// then the three that can hold a pre-approval, and nothing else among the
// 32 field combinations.
func TestStates(t *testing.T) {
	want := []State{
		{}, {PendingOut: true}, {PendingIn: true}, {PendingOut: true, PendingIn: true},
		{Sub: To}, {Sub: To, PendingIn: true},
		{Sub: From}, {Sub: From, PendingOut: true},
		{Sub: Both},
		{Approved: true}, {PendingOut: true, Approved: true}, {Sub: To, Approved: true},
	}
	got := AllStates()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("AllStates() = %v\nwant %v", got, want)
	}
	valid := map[State]bool{}
	for _, s := range want {
		valid[s] = true
	}
	for sub := Subscription(0); sub <= Both+1; sub++ {
		for bits := 0; bits < 8; bits++ {
			s := State{Sub: sub, PendingOut: bits&1 != 0, PendingIn: bits&2 != 0, Approved: bits&4 != 0}
			if s.Valid() != valid[s] {
				t.Errorf("%+v.Valid() = %v", s, s.Valid())
			}
		}
	}
	for i, s := range nine {
		if s.row() != idx(i) {
			t.Errorf("%s.row() = %d, want %d", s, s.row(), i)
		}
		s.Approved = true
		if s.Valid() && s.row() != idx(i) {
			t.Errorf("%s.row() = %d, want %d", s, s.row(), i)
		}
	}
}

// TestNames ties each A.1 name to its fields and its wire form (A.1 says
// how each state "is reflected in the user's roster").
func TestNames(t *testing.T) {
	for _, c := range []struct {
		s    State
		name string
		sub  string
		ask  bool
	}{
		{State{}, "None", "none", false},
		{State{PendingOut: true}, "None + Pending Out", "none", true},
		{State{PendingIn: true}, "None + Pending In", "none", false},
		{State{PendingOut: true, PendingIn: true}, "None + Pending Out+In", "none", true},
		{State{Sub: To}, "To", "to", false},
		{State{Sub: To, PendingIn: true}, "To + Pending In", "to", false},
		{State{Sub: From}, "From", "from", false},
		{State{Sub: From, PendingOut: true}, "From + Pending Out", "from", true},
		{State{Sub: Both}, "Both", "both", false},
		{State{Approved: true}, "None + Approved", "none", false},
		{State{PendingOut: true, Approved: true}, "None + Pending Out + Approved", "none", true},
		{State{Sub: To, Approved: true}, "To + Approved", "to", false},
	} {
		it := Item{JID: "romeo@example.net", State: c.s}
		if c.s.Name() != c.name || it.SubscriptionAttr() != c.sub || it.Ask() != c.ask || it.Approved() != c.s.Approved {
			t.Errorf("%+v: name %q sub %q ask %v approved %v, want %q %q %v %v", c.s,
				c.s.Name(), it.SubscriptionAttr(), it.Ask(), it.Approved(), c.name, c.sub, c.ask, c.s.Approved)
		}
	}
	if n := (State{Sub: Both, PendingIn: true}).Name(); n[:7] != "invalid" {
		t.Errorf("invalid state named %q", n)
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range kinds {
		if got, ok := ParseKind(k.String()); !ok || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	for _, typ := range []string{"", "probe", "unavailable", "error", "Subscribe", "subscribe "} {
		if k, ok := ParseKind(typ); ok || k != 0 {
			t.Errorf("ParseKind(%q) = %v, %v; want no kind", typ, k, ok)
		}
	}
}

// TestTotalOutbound runs Outbound over its whole domain and checks the
// invariants doc.go lists.
func TestTotalOutbound(t *testing.T) {
	for _, in := range domain() {
		d := Outbound(in.cur, in.exists, in.k)
		cur, next := in.cur, d.Next
		hasItem := in.exists || d.CreateItem
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("Outbound%s = %+v: "+format, append([]any{in, d}, args...)...)
		}
		if !next.Valid() {
			fail("invalid next state")
		}
		if !hasItem && !next.Itemless() {
			fail("no item, yet a state that needs one")
		}
		if d.CreateItem && in.exists {
			fail("creates an item that exists")
		}
		if next.PendingIn && !cur.PendingIn {
			fail("outbound set PendingIn") // only the contact can ask
		}
		if next.Sub.HasTo() && !cur.Sub.HasTo() {
			fail("outbound granted To") // only the contact can grant it
		}
		if next.Sub.HasFrom() && !cur.Sub.HasFrom() && !(cur.PendingIn && in.k == Subscribed) {
			fail("From without the user approving a pending request")
		}
		if next.Approved && !cur.Approved && in.k != Subscribed {
			fail("pre-approval without a \"subscribed\"")
		}
		if in.k == Subscribed && d.Route && !cur.PendingIn {
			fail("routed a pre-approval (3.4.2 MUST NOT)")
		}
		if d.DropPending != (cur.PendingIn && !next.PendingIn) {
			fail("DropPending does not match the state")
		}
		if hasItem && (d.CreateItem || cur.wire() != next.wire()) && !d.Push {
			fail("the item changed without a push")
		}
		if d.Push && !hasItem {
			fail("push without an item")
		}
		if (d.Presence == SendUnavailable) != (cur.Sub.HasFrom() && !next.Sub.HasFrom()) {
			fail("unavailable presence must go exactly when From ends")
		}
		if (d.Presence == SendAvailable) != (!cur.Sub.HasFrom() && next.Sub.HasFrom()) {
			fail("current presence must go exactly when From begins")
		}
		if (in.k == Subscribe || in.k == Unsubscribe) && !d.Route {
			fail("Tables 2 and 3 route in every row")
		}
		// A retransmission changes nothing and shows the user nothing.
		again := Outbound(next, hasItem, in.k)
		if again.Next != next || again.Push || again.CreateItem || again.Presence != NoPresence || again.DropPending {
			fail("not idempotent: again %+v", again)
		}
	}
}

// TestTotalInbound runs Inbound over its whole domain and checks the
// invariants doc.go lists.
func TestTotalInbound(t *testing.T) {
	for _, in := range domain() {
		d := Inbound(in.cur, in.exists, in.k)
		cur, next := in.cur, d.Next
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("Inbound%s = %+v: "+format, append([]any{in, d}, args...)...)
		}
		if !next.Valid() {
			fail("invalid next state")
		}
		if !in.exists && !next.Itemless() {
			fail("inbound created an item (3.1.3 Security Warning)")
		}
		if next.PendingOut && !cur.PendingOut {
			fail("inbound set PendingOut") // only the user can ask
		}
		if next.Sub.HasTo() && !cur.Sub.HasTo() && !cur.PendingOut {
			fail("To without a pending request from the user")
		}
		// Never approved on the user's behalf (3.1.3 item 1).
		if next.Sub.HasFrom() && !cur.Sub.HasFrom() && !cur.Approved {
			fail("From granted without the user's pre-approval")
		}
		if d.AutoReply == Subscribed && !cur.Approved && !cur.Sub.HasFrom() {
			fail("\"subscribed\" sent without the user's approval")
		}
		if next.Approved && !cur.Approved {
			fail("inbound set a pre-approval")
		}
		if d.HasAutoReply != (d.AutoReply != 0) {
			fail("HasAutoReply disagrees with AutoReply")
		}
		if d.HasAutoReply && in.k != Subscribe && in.k != Unsubscribe {
			fail("an auto-reply to an auto-reply")
		}
		if d.AutoReply == Subscribe || d.AutoReply == Unsubscribe {
			fail("the server never asks or unsubscribes on the user's behalf")
		}
		if d.KeepPending != (!cur.PendingIn && next.PendingIn) {
			fail("KeepPending does not match the state")
		}
		if d.DropPending != (cur.PendingIn && !next.PendingIn) {
			fail("DropPending does not match the state")
		}
		if d.Push != (in.exists && cur.wire() != next.wire()) {
			fail("Push must follow exactly the item's wire form")
		}
		if d.Deliver && next == cur {
			fail("delivered a stanza that changed nothing (A.3: S.N.)")
		}
		if !d.Deliver && next != cur && !(in.k == Subscribe && cur.Approved) {
			fail("a state change the user does not see")
		}
		if (d.Presence == SendUnavailable) != (cur.Sub.HasFrom() && !next.Sub.HasFrom()) {
			fail("unavailable presence must go exactly when From ends")
		}
		if d.Presence == SendAvailable && (in.k != Subscribe || !next.Sub.HasFrom()) {
			fail("current presence to a contact that is not subscribed")
		}
		again := Inbound(next, in.exists, in.k)
		if again.Next != next || again.Deliver || again.Push || again.KeepPending || again.DropPending {
			fail("not idempotent: again %+v", again)
		}
	}
}

// TestOutsideDomain: inputs the machine does not answer change nothing, do
// nothing and do not panic.
func TestOutsideDomain(t *testing.T) {
	var bad []input
	for sub := Subscription(0); sub <= Both+1; sub++ {
		for bits := 0; bits < 8; bits++ {
			s := State{Sub: sub, PendingOut: bits&1 != 0, PendingIn: bits&2 != 0, Approved: bits&4 != 0}
			for _, exists := range []bool{true, false} {
				for k := Kind(0); k <= Unsubscribed+1; k++ {
					if !s.Valid() || (!exists && !s.Itemless()) || k == 0 || k > Unsubscribed {
						bad = append(bad, input{s, exists, k})
					}
				}
			}
		}
	}
	for _, in := range bad {
		if d := Outbound(in.cur, in.exists, in.k); d != (OutDecision{Next: in.cur}) {
			t.Errorf("Outbound%s = %+v, want no effect", in, d)
		}
		if d := Inbound(in.cur, in.exists, in.k); d != (InDecision{Next: in.cur}) {
			t.Errorf("Inbound%s = %+v, want no effect", in, d)
		}
	}
}

func BenchmarkInbound(b *testing.B) {
	all := domain()
	for i := 0; b.Loop(); i++ {
		in := all[i%len(all)]
		_ = Inbound(in.cur, in.exists, in.k)
	}
}

func BenchmarkOutbound(b *testing.B) {
	all := domain()
	for i := 0; b.Loop(); i++ {
		in := all[i%len(all)]
		_ = Outbound(in.cur, in.exists, in.k)
	}
}
