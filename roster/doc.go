// Package roster is RFC 6121 sections 2 to 4 as domain logic: the
// subscription state machine of Appendix A as a pure table, roster items and
// their wire attributes, roster set validation, and the presence broadcast
// and probe decisions that follow from a subscription state.
//
// It has no sockets, no disk and no clock. Given the same inputs every
// function returns the same answer, which is what lets the consensus FSM
// call it inside Raft's Apply.
//
// # The state machine
//
// A contact's State, seen from the user, is one of the nine states of RFC
// 6121 A.1 plus the pre-approval flag of 3.4: twelve valid states in all
// (AllStates). Outbound decides what the user's server does with a
// subscription stanza the user sends (A.2, Tables 2-5); Inbound decides what
// it does with one a contact sends (A.3, Tables 6-9). The tables are
// transcribed as data in table.go, row for row; out.go and in.go add what
// the footnotes and sections 3.1 to 3.4 say, each rule beside its section.
//
// No other code in Herald decides a subscription state. Callers store the
// decision's Next and perform the listed effects; they never compute a state
// themselves.
//
// # Invariants
//
// The tests hold these in place for every (state, item exists, kind):
//
//   - Next is Valid; an input outside the machine changes nothing.
//   - Inbound never sets PendingOut and Outbound never sets PendingIn.
//   - The contact gains From only from the user: an outbound approval of a
//     pending request, or an inbound request meeting a pre-approval or an
//     existing From. Nothing is approved on the user's behalf otherwise
//     (3.1.3 item 1).
//   - Inbound never creates a roster item (3.1.3, Security Warning); a user
//     without an item for a contact is in "None" or "None + Pending In".
//   - Whatever a client sees of an item changes only with a roster push, so
//     roster versions (2.6) can move exactly with Push.
//   - A retransmitted stanza changes nothing the second time.
//   - Auto-replies never earn auto-replies: an exchange ends.
//
// # Usage
//
// The consensus FSM's Apply reads the stored record and runs Step
// (step.go) on it for every roster command; for "user sends presence of
// type k to contact" that comes to:
//
//	rec, found := store.Get(user, contact) // an Item
//	exists := found && rec.Visible()
//	d := roster.Outbound(rec.State, exists, k)
//	// write d.Next: as an item if exists || d.CreateItem, as a
//	// request-only record if d.Next.PendingIn, else delete the record;
//	// drop the stored request if d.DropPending; bump the roster version
//	// if d.Push. Then, after commit and in this order: d.Presence ==
//	// SendUnavailable, route if d.Route, push if d.Push, d.Presence ==
//	// SendAvailable.
//
// and for "contact sends presence of type k to user":
//
//	d := roster.Inbound(rec.State, exists, k)
//	// store the request stanza if d.KeepPending, delete it if
//	// d.DropPending; then deliver, push, presence and d.AutoReply as
//	// InDecision documents.
//
// Roster sets go through ParseItemJID, ValidateSet, ValidateRemove and
// CheckCapacity; deleting an item sends RemovalStanzas through Outbound.
// Presence broadcast asks BroadcastTo, initial presence ProbeOnInitial, and
// an inbound probe AnswerProbe.
//
// DESIGN.md says why the package is shaped this way and lists every choice
// made where the RFC says MAY or SHOULD, or where its prose and its tables
// disagree.
package roster
