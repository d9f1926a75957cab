// Package vcard is XEP-0054 vcard-temp: an account publishes its vCard
// on the server, and anyone (on this server or, over federation, on
// another) reads it from the account's bare JID, answered by the server.
//
// XEP-0153 avatars ride on it: the PHOTO's BINVAL is part of the vCard
// and counts against its limit; the avatar hash travels in presence
// (vcard-temp:x:update), which the server passes on unchanged. The server
// itself has nothing more to do for XEP-0153.
//
// The vCard is kept as the client serialized it once the server parsed
// it, through the replicated Store the package declares (cmd/heraldd
// satisfies it with a Raft command), and goes with the account.
//
// Invariants:
//   - Only the account sets its vCard: a set to another bare JID is
//     forbidden (XEP-0054 3.2).
//   - A get for a user with no vCard is an empty vCard for the user
//     (one of the two answers XEP-0054 3.1 allows, the one clients that
//     read before they write can use) and service-unavailable for anyone
//     else, the same answer as for an account that does not exist
//     (XEP-0054 3.3).
//   - A serialized vCard never exceeds MaxBytes (DefaultMaxBytes, 128 KiB,
//     PHOTO included): a larger one is not-acceptable (RFC 6120 8.3.3.9)
//     and never proposed; Stats counts the refusals (delivery.Keeper).
//
// Usage:
//
//	svc := &vcard.Service{Store: store, Keeper: delivery.Keeper{
//		MaxBytes: 128 << 10, Stored: delivery.StoredLimits(streamLimits)}}
//	mux.Add(svc)
package vcard
