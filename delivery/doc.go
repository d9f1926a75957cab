// Package delivery is Herald's stanza plane: who is connected where
// (Registry), how a stanza reaches them (Router, the rules of RFC 6120 10
// and RFC 6121 8), and the one seam through which the server's own
// services plug into it (Service and Mux, service.go).
//
// In a cluster, a Cluster (remote.go) hooks the resources of the other
// nodes into the Registry, announces this node's changes to them over the
// cluster's peer channel and forwards stanzas to the node that holds a
// session; when a node goes away its entries are dropped and one survivor
// sends the unavailable presence its resources owed.
//
// Stanzas kept or passed on in serialized form (offline messages and
// pending requests in the state store, stanzas forwarded to another node)
// are written and read back by one pair, MarshalStanza and ReadStored
// (stored.go), under StoredLimits: the stream limits plus the room the
// server's own additions need.
//
// Its subpackages hold the shared XMPP primitives: jid (RFC 7622
// addresses), stanza (the element tree and stanza errors) and xmlstream
// (the restricted-XML stream reader and writer); and the services: disco
// (XEP-0030 discovery, XEP-0199 ping, XEP-0092 version), carbons
// (XEP-0280), blocking (XEP-0191), private (XEP-0049 private XML) and
// vcard (XEP-0054). Services that keep XML for an
// account share Keeper (keeper.go): the byte limit, the read-back check,
// the refusal count and the translation of store errors.
//
// # Services
//
// Everything the server answers itself (disco, the roster, and the
// account services and components to come: PEP, archive, blocking, vCard,
// group chat, upload) is a Service, shaped the same way:
//
//   - One package per protocol family, under the top-level folder whose
//     concern it extends (most under delivery/). It imports delivery, jid
//     and stanza, never another service.
//   - It registers with the router through Register(*Mux), once, while
//     cmd/heraldd wires the server: for IQ payloads to the server's domain
//     (HandleServer) or to an account's bare JID (HandleUser), or for a
//     component domain such as conference.example.org (Component), which
//     then receives every stanza for that domain and the entities on it.
//     Two services for one payload or one domain panic at wiring time.
//   - It declares what disco shows through the same Mux: Feature and
//     Identity for the server, AccountFeature for accounts; component
//     domains are listed in the server's disco#items. The disco service
//     reads them when asked, so no list is kept anywhere else.
//   - Replicated state goes through Raft like every other write: the
//     service declares the narrow store interface it needs (as
//     roster/service's Store), with commands that state intents (the
//     roster's RosterOp); consensus holds the
//     service's own command types and its section of the one keyspace, and
//     cmd/heraldd satisfies the interface with consensus.Node.Propose.
//     Apply stays deterministic; effects follow the commit.
//   - cmd/heraldd builds it and adds it to the mux before any listener
//     opens.
//
// A service answering urn:example:echo for the server, and its wiring:
//
//	package echo
//
//	const NS = "urn:example:echo"
//
//	type Service struct{}
//
//	func (Service) Register(m *delivery.Mux) {
//		m.Feature(NS)
//		m.HandleServer(stanza.Name{Space: NS, Local: "echo"}, answer)
//	}
//
//	func answer(iq, payload *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
//		if iq.Get("type") != "get" {
//			return nil, stanza.NewError(stanza.BadRequest, "")
//		}
//		return delivery.Result(iq, from, to).Append(payload), nil
//	}
//
//	// cmd/heraldd
//	mux := delivery.NewMux().Add(&disco.Disco{Name: "Herald"}, disco.Ping{}, echo.Service{})
//	router := &delivery.Router{Services: mux /* , ... */}
//
// Account services that act on the stanzas an account sends and receives
// rather than on IQs (carbons, blocking; later an archive, client state
// indication, push) add a Hook (hook.go) through the same Mux:
//
//   - Out sees a message, presence or IQ a local resource sends, before
//     routing; In sees a stanza for an existing local account, before the
//     RFC 6121 8.5 rules; either returns false when it disposed of the
//     stanza (refused or dropped it), and routing stops there.
//   - Delivered sees a message after delivery, with the resources that
//     took it (none when it was kept offline).
//   - Stanzas that reach a local resource without Route (the roster
//     layer's presence between local accounts) pass Router.Admit, which
//     runs the same Out and In hooks.
//   - Hooks run in registration order (cmd/heraldd's Add order, so a
//     blocking list that refuses a message runs before the carbons that
//     would copy it), on the routing path, and must not block. With no
//     hook registered the router allocates nothing for them.
//   - A hook that needs per-resource state the whole cluster must see
//     keeps it in the Registry's Resource (Carbons), which every node
//     announces to the others.
//
// Presence subscriptions and probes reach the roster through
// Router.Presence.
//
// Invariants:
//   - The router never blocks on a recipient: Sink.Deliver queues or
//     refuses at once, and so does Component.HandleStanza. The router
//     touches Raft only to store a message for an account with no
//     available resource; a hook may read this node's replicated state
//     (the blocking list: a local point read, never a Raft round trip).
//   - Stanzas reach the router with 'from' already stamped by the stream
//     that received them; the router never trusts a client's 'from'.
//   - The 'to' of a delivered stanza is never rewritten (RFC 6121 8.5.2).
//   - An error stanza is never answered with an error (RFC 6120 8.3.1).
//   - The Mux is filled before the router serves and only read afterwards.
//   - Whatever an Offline store keeps can be delivered: what would not
//     read back under StoredLimits is refused to its sender (FitsStored).
//
// Usage:
//
//	reg := delivery.NewRegistry()
//	r := &delivery.Router{Domains: map[string]bool{"example.org": true},
//		Registry: reg, Accounts: accounts, Offline: offline,
//		Services: delivery.NewMux().Add(&disco.Disco{Name: "Herald"}, disco.Ping{})}
//	reg.Bind(full, session, delivery.ConflictRename, newResource)
//	r.Route(st, full, to)
package delivery
