package roster

import (
	"slices"
	"testing"
)

func TestItemWire(t *testing.T) {
	it := Item{JID: "romeo@example.net", State: st(t, "From + Pending Out")}
	if it.SubscriptionAttr() != "from" || !it.Ask() || it.Approved() || !it.Visible() || !it.Valid() {
		t.Errorf("%+v: sub %q ask %v approved %v", it, it.SubscriptionAttr(), it.Ask(), it.Approved())
	}
	it = Item{JID: "romeo@example.net", State: st(t, "To + Approved")}
	if it.SubscriptionAttr() != "to" || it.Ask() || !it.Approved() {
		t.Errorf("%+v: sub %q ask %v approved %v", it, it.SubscriptionAttr(), it.Ask(), it.Approved())
	}
	// 2.5.2: the push of a deletion says subscription='remove' and nothing
	// else.
	gone := Item{JID: "romeo@example.net", State: st(t, "None + Pending Out + Approved"), Removed: true}
	if gone.SubscriptionAttr() != "remove" || gone.Ask() || gone.Approved() {
		t.Errorf("removed: sub %q ask %v approved %v", gone.SubscriptionAttr(), gone.Ask(), gone.Approved())
	}
}

func TestItemValid(t *testing.T) {
	for _, c := range []struct {
		it   Item
		want bool
	}{
		{Item{JID: "a@b", State: st(t, "Both"), Name: "A", Groups: []string{"g"}}, true},
		{Item{JID: "a@b", State: st(t, "None + Pending In"), RequestOnly: true}, true},
		{Item{JID: "a@b", State: st(t, "None"), RequestOnly: true}, false},
		{Item{JID: "a@b", State: st(t, "To + Pending In"), RequestOnly: true}, false},
		{Item{JID: "a@b", State: st(t, "None + Pending In"), RequestOnly: true, Name: "A"}, false},
		{Item{JID: "a@b", State: st(t, "None + Pending In"), RequestOnly: true, Groups: []string{"g"}}, false},
		{Item{JID: "a@b", State: State{Sub: Both, PendingOut: true}}, false},
		{Item{State: st(t, "None")}, false},
	} {
		if got := c.it.Valid(); got != c.want {
			t.Errorf("%+v.Valid() = %v, want %v", c.it, got, c.want)
		}
		if c.it.Visible() == c.it.RequestOnly {
			t.Errorf("%+v.Visible() = %v", c.it, c.it.Visible())
		}
	}
}

// TestRemovalStanzas: 2.5.2 for every state, and the result leaves the
// state machine at "None" when fed through Outbound, every stanza routed.
func TestRemovalStanzas(t *testing.T) {
	want := map[string][]Kind{
		"None":                          nil,
		"None + Pending Out":            {Unsubscribe},
		"None + Pending In":             {Unsubscribed},
		"None + Pending Out+In":         {Unsubscribe, Unsubscribed},
		"To":                            {Unsubscribe}, // 2.5.2 item 1
		"To + Pending In":               {Unsubscribe, Unsubscribed},
		"From":                          {Unsubscribed}, // 2.5.2 item 2
		"From + Pending Out":            {Unsubscribe, Unsubscribed},
		"Both":                          {Unsubscribe, Unsubscribed}, // 2.5.2 item 3
		"None + Approved":               nil,
		"None + Pending Out + Approved": {Unsubscribe},
		"To + Approved":                 {Unsubscribe},
	}
	for _, s := range AllStates() {
		w, ok := want[s.Name()]
		if !ok {
			t.Fatalf("no expectation for %s", s)
		}
		got := RemovalStanzas(s)
		if !slices.Equal(got, w) {
			t.Errorf("RemovalStanzas(%s) = %v, want %v", s, got, w)
		}
		cur := s
		for _, k := range got {
			d := Outbound(cur, true, k)
			if !d.Route {
				t.Errorf("%s: removal stanza %s from %s is not routed", s, k, cur)
			}
			if (d.Presence == SendUnavailable) != (cur.Sub.HasFrom() && k == Unsubscribed) {
				t.Errorf("%s: removal stanza %s from %s: presence %s", s, k, cur, d.Presence)
			}
			cur = d.Next
		}
		if cur.Sub != None || cur.PendingOut || cur.PendingIn || cur.Approved != s.Approved {
			t.Errorf("%s: removal stanzas leave %s", s, cur)
		}
	}
}
