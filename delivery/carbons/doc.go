// Package carbons is XEP-0280 Message Carbons: a resource that enables
// carbons gets a copy of the messages its account's other resources send
// and receive, so every device of a user sees the whole conversation.
//
// It is a delivery.Service. The enable and disable IQs (XEP-0280 4, 5)
// set the Carbons flag of the resource's registry entry, which the
// registry shares with the other cluster nodes like its priority, so a
// copy reaches a carbons-enabled resource on any node and the flag goes
// away with the session. Two hooks make the copies:
//
//   - Out, for a message a local resource sends: a <sent/> copy to each
//     other carbons-enabled resource of the sender (XEP-0280 8).
//   - Delivered, for a message the router handed to an account: a
//     <received/> copy to each carbons-enabled resource of the recipient
//     that neither got the original nor was addressed by it (XEP-0280 7).
//
// Which messages are copied follows XEP-0280 6.1 (Eligible): chat; normal
// with a body; messages carrying receipts, chat states or markers; never
// groupchat, errors, or messages marked <private/> (XEP-0280 9) or
// <no-copy/> (XEP-0334 4.3); never a private message from a MUC occupant.
// Messages between two resources of one account get received copies
// only, so no resource sees one message twice.
//
// Invariants:
//   - A copy goes straight to the resource's Sink: it is never routed, so
//     it is never copied again, kept offline or bounced to the original
//     sender (XEP-0280 10.3).
//   - A copy's 'from' is the account's bare JID and its 'to' the full JID
//     of the resource receiving it (XEP-0280 7, 8), so clients can check
//     its origin (XEP-0280 11).
//   - The service keeps no state of its own: the flag lives in the
//     registry entry, bounded by the resources an account may bind.
//
// Usage:
//
//	mux.Add(&carbons.Service{Registry: reg})
package carbons
