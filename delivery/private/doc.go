// Package private is XEP-0049 private XML storage: an account keeps XML
// elements on the server (client preferences, XEP-0048 bookmarks) and
// reads them back, and nobody else can do either.
//
// Elements are kept per account and per element (namespace and name), as
// the client serialized them once the server parsed them, through the
// replicated Store the package declares (cmd/heraldd satisfies it with a
// Raft command). They go with the account.
//
// Invariants:
//   - Only the account's own resources reach its storage: an IQ to
//     another bare JID is forbidden (XEP-0049 2.3, 5).
//   - A request names exactly one element, in a namespace of its own that
//     is not reserved ('jabber:*', 'http://jabber.org/*', 'vcard-temp'):
//     anything else is not-acceptable (XEP-0049 2.3). The XEP lets a set
//     carry several elements of one namespace; one element per set keeps
//     each write whole, as common servers do.
//   - An account's elements together never count more than MaxBytes
//     (namespaces, names and serialized XML; DefaultMaxBytes, 64 KiB): a
//     set past it is not-acceptable (RFC 6120 8.3.3.9) and nothing
//     changes; an element larger than the limit, or that would not read
//     back under the stored-stanza limits, is refused before anything is
//     proposed. Stats counts the refusals (delivery.Keeper).
//   - A get for an element never stored answers the element empty.
//
// Usage:
//
//	svc := &private.Service{Store: store, Keeper: delivery.Keeper{
//		MaxBytes: 64 << 10, Stored: delivery.StoredLimits(streamLimits)}}
//	mux.Add(svc)
package private
