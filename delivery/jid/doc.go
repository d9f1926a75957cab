// Package jid implements XMPP addresses (JIDs) as defined by RFC 7622.
//
// A JID is a value type holding the canonical, fully prepared and enforced
// form of an address: [localpart "@"] domainpart ["/" resourcepart]. Every
// JID obtained from Parse, New or WithResource has been through
//
//   - the localpart: the UsernameCaseMapped profile of the PRECIS
//     IdentifierClass (RFC 7622 3.3, RFC 8265 3.3), so it is case-folded and
//     width-mapped, plus the exclusion of " & ' / : < > @ (RFC 7622 3.3.1);
//   - the domainpart: the final dot stripped (3.2), then IDNA2008 with the
//     UTS #46 case, width and normalisation mappings (3.2.1, 3.2.2) through
//     golang.org/x/net/idna, A-labels converted to U-labels, STD3 (LDH)
//     rules, the Bidi rule, and the RFC 1034 label and name lengths on the
//     A-label form; or an IPv6 literal in brackets, rewritten in its RFC 5952
//     form (IPv4 addresses pass as ordinary names);
//   - the resourcepart: the OpaqueString profile of the PRECIS FreeformClass
//     (RFC 7622 3.4, RFC 8265 4.2), which preserves case;
//   - each part 1 to 1023 octets after preparation (3.1).
//
// # Invariants
//
//   - Two JIDs denote the same address exactly when they are == (RFC 7622
//     3.2.3 compares prepared forms octet by octet); Equal is the same test.
//   - Parse(j.String()) == j for every JID j (preparation is idempotent;
//     FuzzParse holds this in place).
//   - String and Bare do not allocate; Parse of an already canonical ASCII
//     address does not allocate either: the JID keeps the input string.
//   - The zero JID is not a valid address; IsZero reports it.
//
// Parsing follows RFC 7622 3.1 and 3.2 to the letter: the input is split
// before any transformation, the resourcepart is everything after the first
// '/', and the localpart is what precedes the first '@' before that. So
// "a.example.com/b@example.net" is a domain with resource "b@example.net"
// (RFC 7622 3.5, example 15).
//
// # Choices beyond the RFC
//
//   - A resourcepart starting with a space is refused: RFC 7622 3.5 lists
//     "juliet@example.com/ foo" (example 18) as not a JID, although the
//     OpaqueString profile alone would accept it.
//   - A part longer than 4092 octets before preparation is refused without
//     running the PRECIS or IDNA code over it, to bound the work a hostile
//     address can cause. No part that prepares to 1023 octets or fewer is
//     that long, except through code points IDNA maps to nothing.
//   - IPvFuture literals are refused; IPv6 zone identifiers (RFC 6874) are
//     accepted and kept as given.
//   - XEP-0106 escaping is not applied: "foo\20bar" is just a localpart with
//     a backslash in it (RFC 7622 3.5, example 5).
//
// All errors wrap ErrMalformed; callers answer them with the <jid-malformed/>
// stanza error (RFC 7622 4, RFC 6120 8.3.3.8).
//
// # Usage
//
//	to, err := jid.Parse(attr)
//	if err != nil {
//		return stanza.JIDMalformed // errors.Is(err, jid.ErrMalformed)
//	}
//	if to.Bare() == session.JID.Bare() { ... }
//	full, err := account.WithResource(requested) // resource binding
//
// The package is pure: no network, no file system, no clock.
package jid
