// Package delivery is Herald's stanza plane: who is connected where
// (Registry) and how a stanza reaches them (Router, the rules of RFC 6120
// 10 and RFC 6121 8), plus the server's own IQ responder (Service: XEP-0030
// disco, XEP-0199 ping, XEP-0092 version, and a mux other packages add
// handlers to).
//
// In a cluster, a Cluster (remote.go) hooks the resources of the other
// nodes into the Registry, announces this node's changes to them over the
// cluster's peer channel and forwards stanzas to the node that holds a
// session; when a node goes away its entries are dropped and one survivor
// sends the unavailable presence its resources owed.
//
// Its subpackages hold the shared XMPP primitives: jid (RFC 7622
// addresses), stanza (the element tree and stanza errors) and xmlstream
// (the restricted-XML stream reader and writer).
//
// Invariants:
//   - The router never blocks on a recipient: Sink.Deliver queues or
//     refuses at once. Raft and Pebble are touched only to store a message
//     for an account with no available resource.
//   - Stanzas reach the router with 'from' already stamped by the stream
//     that received them; the router never trusts a client's 'from'.
//   - The 'to' of a delivered stanza is never rewritten (RFC 6121 8.5.2).
//   - An error stanza is never answered with an error (RFC 6120 8.3.1).
//
// Usage:
//
//	reg := delivery.NewRegistry()
//	r := &delivery.Router{Domains: map[string]bool{"example.org": true},
//		Registry: reg, Accounts: accounts, Offline: offline,
//		Server: delivery.NewService("Herald", version, accounts)}
//	reg.Bind(full, session, delivery.ConflictRename, newResource)
//	r.Route(st, full, to)
package delivery
