// Package blocking is XEP-0191 Blocking Command: an account's list of
// blocked JIDs, the IQs that read and change it, and its enforcement on
// the stanzas the account sends and receives.
//
// It is a delivery.Service. The list is replicated state: the service
// declares the Store it needs, and cmd/heraldd satisfies it with
// consensus (the BlockOp command, the 'b' keys under the user, deleted
// with the account). Blocklist gets, blocks and unblocks are IQs to the
// account's own bare JID (XEP-0191 3.2-3.5); a change is pushed to every
// resource of the account, on any cluster node (a superset of the
// resources that asked for the list, which the XEP requires).
//
// Enforcement is two hooks on the router (delivery.Hook):
//
//   - In: a stanza from a blocked JID to the account is not delivered:
//     presence is dropped without an answer, a message and an IQ get or set
//     are answered with service-unavailable, other IQs dropped (XEP-0191
//     3.3), so the account looks offline to the blocked JID.
//   - Out: a stanza the account sends to a blocked JID is not routed; a
//     message or an IQ is answered with not-acceptable and the
//     <blocked xmlns='urn:xmpp:blocking:errors'/> condition (XEP-0191 3.3).
//     Presence is dropped without an error: the roster's broadcasts to a
//     blocked contact travel the same path, and the user must not be
//     flooded with errors for them.
//
// A JID matches an item as XEP-0191 6 says: the full JID, the bare JID,
// domain/resource, or the domain. A user's own resources are never
// blocked from one another (XEP-0191 5).
//
// When the user blocks a JID, every available resource sends it
// unavailable presence if the JID may see the user's presence; when the
// user unblocks it, the resources' current presence (XEP-0191 3.3, 3.4).
//
// Invariants:
//   - A list never holds more than Max JIDs (default DefaultMax); a block
//     past it is refused with policy-violation and nothing is proposed or
//     kept of it.
//   - Enforcement reads the replicated list on this node (a point read per
//     match form); when the read fails the stanza passes (the failure is
//     counted), so a storage fault never silences an account.
//
// Usage:
//
//	mux.Add(&blocking.Service{Store: store, Router: router, Max: 1000})
package blocking
