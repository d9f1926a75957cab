package roster

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Step is what consensus Apply runs for every roster command; these tests
// pin what it decides for each OpKind from each kind of stored record (none,
// a bare request, a visible item in each state).

const (
	stepUser    = "juliet@example.com"
	stepContact = "romeo@example.net"
)

// stepRecord is a stored record as Step receives it.
type stepRecord struct {
	name  string
	cur   Item
	found bool
}

// stepRecords returns every record Step can be given: nothing, a bare pending
// request (RequestOnly), and a visible item in each valid state.
func stepRecords() []stepRecord {
	rs := []stepRecord{
		{name: "missing"},
		{name: "request-only", found: true, cur: Item{JID: stepContact, State: State{PendingIn: true}, RequestOnly: true}},
	}
	for _, s := range AllStates() {
		rs = append(rs, stepRecord{name: "item " + s.Name(), found: true,
			cur: Item{JID: stepContact, Name: "Romeo", Groups: []string{"Friends"}, State: s}})
	}
	return rs
}

// stepOps returns every operation Step knows, for one contact.
func stepOps() []Op {
	ops := []Op{
		{Kind: OpSet, User: stepUser, Contact: stepContact, Name: "R", Groups: []string{"Verona"}},
		{Kind: OpRemove, User: stepUser, Contact: stepContact},
	}
	for _, k := range kinds {
		ops = append(ops,
			Op{Kind: OpOut, User: stepUser, Contact: stepContact, Sub: k},
			Op{Kind: OpIn, User: stepUser, Contact: stepContact, Sub: k})
	}
	return ops
}

// opName names an operation in subtest names.
func opName(op Op) string {
	switch op.Kind {
	case OpSet:
		return "set"
	case OpRemove:
		return "remove"
	case OpOut:
		return "out " + op.Sub.String()
	case OpIn:
		return "in " + op.Sub.String()
	}
	return fmt.Sprintf("OpKind(%d)", op.Kind)
}

func stepItem(t *testing.T, state string) Item {
	return Item{JID: stepContact, Name: "Romeo", Groups: []string{"Friends"}, State: st(t, state)}
}

func stepRequestOnly() Item {
	return Item{JID: stepContact, State: State{PendingIn: true}, RequestOnly: true}
}

func wantStepError(t *testing.T, err *SetError, cond stanza.Condition) {
	t.Helper()
	if err == nil || err.Condition != cond {
		t.Fatalf("error = %v, want %s", err, cond)
	}
}

// RFC 6121 2.3.2: a roster set adds the item, and every successful set is
// pushed with a new version (2.6.3).
func TestStepSetCreates(t *testing.T) {
	op := Op{Kind: OpSet, User: stepUser, Contact: stepContact, Name: "Romeo", Groups: []string{"Friends", "Verona"}}
	e, err := Step(op, Item{}, false, 7, 3, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := Effect{
		Before: Item{JID: stepContact},
		After:  Item{JID: stepContact, Name: "Romeo", Groups: []string{"Friends", "Verona"}},
		Push:   true,
		Ver:    8,
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("Step = %+v\nwant %+v", e, want)
	}
}

// 2.3.2 and 2.1.2: a roster set changes name and groups only; the
// subscription state belongs to the presence stanzas (2.1.2.5, A), so an
// update keeps it in every state, including a pre-approval. Updating an
// item of a full roster adds nothing and is accepted.
func TestStepSetUpdateKeepsState(t *testing.T) {
	for _, s := range AllStates() {
		t.Run(s.Name(), func(t *testing.T) {
			cur := Item{JID: stepContact, Name: "Romeo", Groups: []string{"Friends"}, State: s}
			op := Op{Kind: OpSet, User: stepUser, Contact: stepContact, Name: "Montague"}
			lim := Limits{MaxItems: 5}
			e, err := Step(op, cur, true, 41, 5, lim)
			if err != nil {
				t.Fatalf("update at capacity: %v", err)
			}
			want := Item{JID: stepContact, Name: "Montague", State: s}
			if !reflect.DeepEqual(e.After, want) || e.Delete || !e.Found || !reflect.DeepEqual(e.Before, cur) {
				t.Errorf("After = %+v (delete=%v found=%v), want %+v", e.After, e.Delete, e.Found, want)
			}
			if !e.Push || e.Ver != 42 {
				t.Errorf("Push=%v Ver=%d, want a push at version 42", e.Push, e.Ver)
			}
			if e.KeepRequest || e.DropRequest || e.Removal != nil {
				t.Errorf("a set touched the request or sent stanzas: %+v", e)
			}
		})
	}
}

// 2.3.3: a set that would add an item beyond the server's limit is
// not-acceptable; nothing changes, the version stays.
func TestStepSetCapacity(t *testing.T) {
	op := Op{Kind: OpSet, User: stepUser, Contact: stepContact, Name: "Romeo"}
	for _, c := range []struct {
		name  string
		items int
		lim   Limits
		ok    bool
	}{
		{"below the limit", 2, Limits{MaxItems: 3}, true},
		{"at the limit", 3, Limits{MaxItems: 3}, false},
		{"over the limit", 4, Limits{MaxItems: 3}, false},
		{"default limit 1000, below", 999, Limits{}, true},
		{"default limit 1000, at", 1000, Limits{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := Step(op, Item{}, false, 9, c.items, c.lim)
			if c.ok {
				if err != nil || !e.Push || e.Ver != 10 {
					t.Fatalf("Step = %+v, %v; want an accepted set", e, err)
				}
				return
			}
			wantStepError(t, err, stanza.NotAcceptable)
			if e.Push || e.Ver != 9 {
				t.Errorf("a refused set pushed (%v) or moved the version to %d", e.Push, e.Ver)
			}
		})
	}
}

// 3.1.3, Security Warning: a request from a stranger is a stepRecord, not an
// item. A roster set for that contact turns it into an item that keeps the
// pending request (A.1 "None + Pending In" with an item), and the stored
// stanza stays where it is. It adds an item, so it counts against the
// limit.
func TestStepSetOnRequestOnly(t *testing.T) {
	op := Op{Kind: OpSet, User: stepUser, Contact: stepContact, Name: "Romeo", Groups: []string{"Pending"}}
	e, err := Step(op, stepRequestOnly(), true, 3, 0, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := Item{JID: stepContact, Name: "Romeo", Groups: []string{"Pending"}, State: State{PendingIn: true}}
	if !reflect.DeepEqual(e.After, want) || !e.After.Visible() || e.Delete {
		t.Errorf("After = %+v (delete=%v), want visible %+v", e.After, e.Delete, want)
	}
	if !e.Push || e.Ver != 4 || e.KeepRequest || e.DropRequest {
		t.Errorf("Push=%v Ver=%d Keep=%v Drop=%v; want a push at 4 and the request left alone",
			e.Push, e.Ver, e.KeepRequest, e.DropRequest)
	}
	_, err = Step(op, stepRequestOnly(), true, 3, 10, Limits{MaxItems: 10})
	wantStepError(t, err, stanza.NotAcceptable)
}

// 2.5.3: removing an item that is not in the roster is item-not-found; a
// bare request is not in the roster.
func TestStepRemoveNotFound(t *testing.T) {
	op := Op{Kind: OpRemove, User: stepUser, Contact: stepContact}
	for _, c := range []struct {
		name  string
		cur   Item
		found bool
	}{
		{"missing", Item{}, false},
		{"request-only", stepRequestOnly(), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := Step(op, c.cur, c.found, 5, 1, Limits{})
			wantStepError(t, err, stanza.ItemNotFound)
			if e.Push || e.Delete || e.Ver != 5 || e.DropRequest || e.Removal != nil {
				t.Errorf("a refused removal did something: %+v", e)
			}
		})
	}
}

// 2.5.2: removing an item deletes it, pushes subscription='remove', sends
// the contact what cancels each direction (RemovalStanzas), and answers a
// pending request by dropping the stored stanza.
func TestStepRemove(t *testing.T) {
	for _, c := range []struct {
		state   string
		removal []Kind
	}{
		{"None", nil},
		{"None + Pending Out", []Kind{Unsubscribe}},
		{"None + Pending In", []Kind{Unsubscribed}},
		{"None + Pending Out+In", []Kind{Unsubscribe, Unsubscribed}},
		{"To", []Kind{Unsubscribe}},
		{"To + Pending In", []Kind{Unsubscribe, Unsubscribed}},
		{"From", []Kind{Unsubscribed}},
		{"From + Pending Out", []Kind{Unsubscribe, Unsubscribed}},
		{"Both", []Kind{Unsubscribe, Unsubscribed}},
		{"None + Approved", nil}, // 3.4.2: the pre-approval dies with the item
		{"None + Pending Out + Approved", []Kind{Unsubscribe}},
		{"To + Approved", []Kind{Unsubscribe}},
	} {
		t.Run(c.state, func(t *testing.T) {
			cur := stepItem(t, c.state)
			e, err := Step(Op{Kind: OpRemove, User: stepUser, Contact: stepContact}, cur, true, 11, 1, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.Removal, c.removal) {
				t.Errorf("Removal = %v, want %v", e.Removal, c.removal)
			}
			if !e.Delete || !e.After.Removed || e.After.JID != stepContact || e.After.SubscriptionAttr() != "remove" {
				t.Errorf("After = %+v, Delete = %v; want a deleted item pushed as remove", e.After, e.Delete)
			}
			if !e.Push || e.Ver != 12 {
				t.Errorf("Push=%v Ver=%d, want a push at 12", e.Push, e.Ver)
			}
			if e.DropRequest != cur.State.PendingIn || e.KeepRequest {
				t.Errorf("Drop=%v Keep=%v in %s", e.DropRequest, e.KeepRequest, c.state)
			}
			if !reflect.DeepEqual(e.Before, cur) {
				t.Errorf("Before = %+v, want %+v", e.Before, cur)
			}
		})
	}
}

// 3.1.2: an outbound subscribe to a contact the user never added creates the
// item with ask='subscribe', pushed; the item counts against the limit.
func TestStepOutSubscribeCreates(t *testing.T) {
	op := Op{Kind: OpOut, User: stepUser, Contact: stepContact, Sub: Subscribe}
	e, err := Step(op, Item{}, false, 0, 0, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Out.CreateItem || !e.Out.Route || !e.Push || e.Ver != 1 {
		t.Errorf("Out = %+v Push=%v Ver=%d; want a created, routed and pushed item at 1", e.Out, e.Push, e.Ver)
	}
	if want := (Item{JID: stepContact, State: State{PendingOut: true}}); !reflect.DeepEqual(e.After, want) || e.Delete {
		t.Errorf("After = %+v (delete=%v), want %+v", e.After, e.Delete, want)
	}

	// A full roster refuses the new item, and nothing is routed.
	e, err = Step(op, Item{}, false, 4, 2, Limits{MaxItems: 2})
	wantStepError(t, err, stanza.NotAcceptable)
	if e.Push || e.Ver != 4 || e.Out.Route {
		t.Errorf("refused subscribe: %+v", e)
	}
	// So does a bare request becoming an item (3.1.2 on "None + Pending In").
	_, err = Step(op, stepRequestOnly(), true, 4, 2, Limits{MaxItems: 2})
	wantStepError(t, err, stanza.NotAcceptable)
	// An item that exists already is not a new one.
	if _, err := Step(op, stepItem(t, "From"), true, 4, 2, Limits{MaxItems: 2}); err != nil {
		t.Errorf("subscribe on an existing item at capacity: %v", err)
	}
	// Stanzas that create nothing pass a full roster: an unsubscribe to a
	// stranger is routed (Table 3 "None") and leaves no stepRecord.
	e, err = Step(Op{Kind: OpOut, User: stepUser, Contact: stepContact, Sub: Unsubscribe}, Item{}, false, 4, 2, Limits{MaxItems: 2})
	if err != nil || !e.Out.Route || e.Push || e.Ver != 4 || !e.Delete {
		t.Errorf("unsubscribe to a stranger at capacity = %+v, %v", e, err)
	}
}

// 3.1.5, 3.1.3 Security Warning: approving a bare request creates the item
// ("From"), and the stored request is answered.
func TestStepOutApproveRequestOnly(t *testing.T) {
	op := Op{Kind: OpOut, User: stepUser, Contact: stepContact, Sub: Subscribed}
	e, err := Step(op, stepRequestOnly(), true, 6, 0, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Item{JID: stepContact, State: State{Sub: From}}); !reflect.DeepEqual(e.After, want) || e.Delete {
		t.Errorf("After = %+v (delete=%v), want %+v", e.After, e.Delete, want)
	}
	if !e.Out.CreateItem || !e.Out.Route || !e.Push || e.Ver != 7 || !e.DropRequest || e.Out.Presence != SendAvailable {
		t.Errorf("approval = %+v", e)
	}
}

// 3.1.3 and its Security Warning: an inbound subscribe from a stranger is
// kept as a bare request: no item, no push, no version change, and the
// roster limit does not apply (the request limit is the store's).
func TestStepInSubscribeStranger(t *testing.T) {
	op := Op{Kind: OpIn, User: stepUser, Contact: stepContact, Sub: Subscribe}
	e, err := Step(op, Item{}, false, 9, 5, Limits{MaxItems: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.After, stepRequestOnly()) || e.Delete || e.After.Visible() {
		t.Errorf("After = %+v (delete=%v), want a bare request", e.After, e.Delete)
	}
	if !e.KeepRequest || e.DropRequest || e.Push || e.Ver != 9 || !e.In.Deliver {
		t.Errorf("Keep=%v Drop=%v Push=%v Ver=%d Deliver=%v; want the request kept and delivered, nothing pushed",
			e.KeepRequest, e.DropRequest, e.Push, e.Ver, e.In.Deliver)
	}
	// A second request from the same contact keeps the first (3.1.3 item 4,
	// Table 6 "None + Pending In": SHOULD NOT deliver).
	e2, err := Step(op, e.After, true, 9, 5, Limits{MaxItems: 5})
	if err != nil || e2.KeepRequest || e2.DropRequest || e2.Delete || e2.In.Deliver || e2.Push || !reflect.DeepEqual(e2.After, stepRequestOnly()) {
		t.Errorf("a duplicate request = %+v, %v", e2, err)
	}
}

// 3.3.3, last paragraph: an unsubscribe withdraws a pending request; a bare
// request then leaves nothing behind, and is not pushed (it never was in
// the roster).
func TestStepInUnsubscribeCancelsRequest(t *testing.T) {
	op := Op{Kind: OpIn, User: stepUser, Contact: stepContact, Sub: Unsubscribe}
	e, err := Step(op, stepRequestOnly(), true, 2, 0, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Delete || !e.DropRequest || e.KeepRequest || e.Push || e.Ver != 2 {
		t.Errorf("Delete=%v Drop=%v Keep=%v Push=%v Ver=%d; want the stepRecord and request gone, no push",
			e.Delete, e.DropRequest, e.KeepRequest, e.Push, e.Ver)
	}
	if e.After.State != (State{}) || !e.In.Deliver || e.In.AutoReply != Unsubscribed {
		t.Errorf("After = %+v, In = %+v", e.After, e.In)
	}

	// With an item the request goes, the item stays, and the push shows
	// nothing visible changed: "None + Pending In" and "None" look alike.
	cur := stepItem(t, "None + Pending In")
	e, err = Step(op, cur, true, 2, 1, Limits{})
	if err != nil || e.Delete || !e.DropRequest || e.Push || e.Ver != 2 {
		t.Fatalf("unsubscribe on an item = %+v, %v", e, err)
	}
	if want := stepItem(t, "None"); !reflect.DeepEqual(e.After, want) {
		t.Errorf("After = %+v, want %+v (name and groups kept)", e.After, want)
	}
}

// 3.1.6: the approval of the user's request reaches a visible item and is
// pushed; the item keeps its name and groups.
func TestStepInSubscribedKeepsItem(t *testing.T) {
	op := Op{Kind: OpIn, User: stepUser, Contact: stepContact, Sub: Subscribed}
	e, err := Step(op, stepItem(t, "None + Pending Out"), true, 20, 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := stepItem(t, "To"); !reflect.DeepEqual(e.After, want) || e.Delete || !e.Push || e.Ver != 21 {
		t.Errorf("Step = %+v, want %+v pushed at 21", e, want)
	}
}

func TestStepUnknownOp(t *testing.T) {
	e, err := Step(Op{Kind: 0, User: stepUser, Contact: stepContact}, stepItem(t, "Both"), true, 3, 1, Limits{})
	wantStepError(t, err, stanza.BadRequest)
	if e.Push || e.Ver != 3 || e.Delete {
		t.Errorf("unknown op did something: %+v", e)
	}
}

// TestStepTotal runs every operation on every stepRecord and holds the
// invariants the store relies on:
//
//   - the version moves by exactly one with a push and not otherwise
//     (2.6.3), and a refused command changes nothing;
//   - what is kept is a stepRecord a store may hold (Item.Valid), and a bare
//     request is never pushed;
//   - a request is kept only when the state gains PendingIn, and dropped
//     only when it loses it, so the stored stanza follows the state;
//   - OpIn never creates an item (3.1.3, Security Warning);
//   - name and groups survive every presence stanza.
func TestStepTotal(t *testing.T) {
	for _, r := range stepRecords() {
		for _, op := range stepOps() {
			t.Run(r.name+"/"+opName(op), func(t *testing.T) {
				const ver = 100
				e, err := Step(op, r.cur, r.found, ver, 0, Limits{})
				if err != nil {
					if e.Push || e.Ver != ver || e.KeepRequest || e.DropRequest || e.Delete {
						t.Errorf("refused (%v) but did something: %+v", err, e)
					}
					return
				}
				if e.Found != r.found {
					t.Errorf("Found = %v", e.Found)
				}
				if e.Push != (e.Ver == ver+1) || (!e.Push && e.Ver != ver) {
					t.Errorf("Push=%v Ver=%d from %d", e.Push, e.Ver, ver)
				}
				before := r.cur.State
				after := e.After.State
				if e.Delete {
					after = State{}
				}
				if !e.Delete {
					if !e.After.Valid() {
						t.Errorf("keeps an invalid stepRecord %+v", e.After)
					}
					if e.Push && e.After.RequestOnly {
						t.Errorf("pushes a bare request %+v", e.After)
					}
				}
				if e.KeepRequest != (!before.PendingIn && after.PendingIn) {
					t.Errorf("KeepRequest=%v from %s to %s", e.KeepRequest, before, after)
				}
				if e.DropRequest != (before.PendingIn && !after.PendingIn) {
					t.Errorf("DropRequest=%v from %s to %s", e.DropRequest, before, after)
				}
				wasItem := r.found && !r.cur.RequestOnly
				isItem := !e.Delete && e.After.Visible()
				if op.Kind == OpIn && isItem != wasItem {
					t.Errorf("OpIn changed item existence: %v -> %v", wasItem, isItem)
				}
				if (op.Kind == OpIn || op.Kind == OpOut) && wasItem && isItem &&
					(e.After.Name != r.cur.Name || !slices.Equal(e.After.Groups, r.cur.Groups)) {
					t.Errorf("a presence stanza changed name/groups: %+v", e.After)
				}
				if e.After.JID != stepContact {
					t.Errorf("After.JID = %q", e.After.JID)
				}
			})
		}
	}
}
