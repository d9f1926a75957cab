package roster

import "github.com/heraldxmpp/herald/delivery/stanza"

// OpKind names a roster command.
type OpKind uint8

// The roster commands. Each is an intent; Step computes its effect.
const (
	OpSet    OpKind = iota + 1 // roster set: add or update name and groups (2.3)
	OpRemove                   // roster set with subscription="remove" (2.5)
	OpOut                      // the user sends a subscription stanza (3, A.2)
	OpIn                       // the user's server receives one for the user (3, A.3)
)

// Op is one roster command's intent: what happened, never its result.
type Op struct {
	Kind    OpKind
	User    string // bare JID whose roster changes
	Contact string // bare JID of the contact
	Name    string // OpSet
	Groups  []string
	Sub     Kind // OpOut, OpIn
}

// Effect is what Step decided for one Op: the record to store, the roster
// version, and everything the caller must do once the command commits.
type Effect struct {
	Before Item
	Found  bool // a record (item or bare request) existed
	// After is the record to keep, unless Delete is set. After.Removed is
	// set on a removal so that the push says subscription="remove".
	After  Item
	Delete bool
	// Push: the item changed in a way the user's interested resources must
	// see (2.1.6); Ver is then the new roster version (2.6.3).
	Push bool
	Ver  uint64
	Out  OutDecision // OpOut
	In   InDecision  // OpIn
	// Removal lists the stanzas an OpRemove sends the contact (2.5.2).
	Removal []Kind
	// KeepRequest: store the inbound subscribe as the pending request;
	// DropRequest: delete the stored one (3.1.3, 3.1.5, 3.2.2).
	KeepRequest, DropRequest bool
}

// Step computes the effect of op on the stored record cur (found says
// whether there is one), the roster version ver and the number of visible
// items. It is deterministic and is what consensus Apply runs, so two
// concurrent stanzas for the same pair are applied one after the other
// against the state each left, and neither update is lost.
func Step(op Op, cur Item, found bool, ver uint64, items int, lim Limits) (Effect, *SetError) {
	e := Effect{Before: cur, Found: found, After: cur, Ver: ver}
	if !found {
		cur = Item{JID: op.Contact}
		e.Before, e.After = cur, cur
	}
	exists := found && !cur.RequestOnly
	switch op.Kind {
	case OpSet:
		if !exists {
			if err := CheckCapacity(items, lim); err != nil {
				return e, err
			}
		}
		e.After = Item{JID: op.Contact, Name: op.Name, Groups: op.Groups, State: cur.State}
		// RFC 6121 2.3.2: every successful set is pushed.
		e.Push = true
	case OpRemove:
		if err := ValidateRemove(cur, found); err != nil {
			return e, err
		}
		e.Removal = RemovalStanzas(cur.State)
		e.Delete = true
		e.After.Removed = true
		e.Push = true // 2.5.2: the removal is pushed
		e.DropRequest = cur.State.PendingIn
	case OpOut:
		d := Outbound(cur.State, exists, op.Sub)
		if d.CreateItem && !exists {
			if err := CheckCapacity(items, lim); err != nil {
				return e, err
			}
		}
		e.Out = d
		e.settle(d.Next, exists || d.CreateItem)
		e.Push = d.Push
		e.DropRequest = d.DropPending
	case OpIn:
		d := Inbound(cur.State, exists, op.Sub)
		e.In = d
		e.settle(d.Next, exists)
		e.Push = d.Push && exists
		e.KeepRequest = d.KeepPending
		e.DropRequest = d.DropPending
	default:
		return e, &SetError{Condition: stanza.BadRequest, Text: "unknown roster operation"}
	}
	if e.Push {
		e.Ver = ver + 1
	}
	return e, nil
}

// settle records the next state: a visible item keeps its name and
// groups; without one, only a pending inbound request leaves a record
// (A.1 "None + Pending In" without an item), and nothing else does.
func (e *Effect) settle(next State, visible bool) {
	e.After.State = next
	switch {
	case visible:
		e.After.RequestOnly = false
	case next == (State{PendingIn: true}):
		e.After = Item{JID: e.After.JID, State: next, RequestOnly: true}
	default:
		e.Delete = true // nothing left to keep (a no-op when none existed)
		e.After = Item{JID: e.After.JID, State: next, RequestOnly: true}
	}
}
