// Package service carries out RFC 6121 sections 2 to 4 between users: it
// answers roster IQs, takes subscription stanzas in both directions,
// broadcasts presence and answers probes. Every decision comes from the
// pure table in package roster, run inside the replicated store's Apply
// (Store.Apply, one Raft command); this package holds what the table
// cannot: locks, contexts, the clock, token buckets and the stanzas sent
// after a commit.
//
// It reaches the outside through two interfaces it declares: Store (the
// replicated roster state; cmd/heraldd implements it over consensus) and
// Sender (the stanza plane; cmd/heraldd implements it over the delivery
// registry and router). It registers with the router as a delivery.Service
// for jabber:iq:roster.
//
// Invariants:
//   - The pushes of one user's roster changes leave this node in version
//     order (RFC 6121 2.6.3): apply and push run under a per-user stripe.
//   - An inbound stanza reaches the user before the push it causes (3.1.6,
//     3.2.3, 3.3.3).
//   - Everything a client can make it remember is bounded: the per-account
//     subscribe token buckets (MaxBuckets, least recently used evicted
//     first) and each resource's directed-presence recipients
//     (MaxDirected; past it the directed presence is refused with
//     policy-violation). Stats reports both for the metrics endpoint.
//
// Usage:
//
//	rs := &service.Service{Store: store, Send: sender, Now: clock,
//		SubscribeRate: 60, Limits: roster.DefaultLimits()}
//	mux.Add(rs)           // roster IQs
//	router.Presence = rs  // subscription stanzas and probes
//	c2s.Config{Presence: rs /* , ... */}
package service
