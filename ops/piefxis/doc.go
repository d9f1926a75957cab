// Package piefxis reads and writes XEP-0227 (Portable Import/Export
// Format for XMPP-IM Servers) documents one account at a time.
//
// It sits in the admin API layer, under ops, because the format is what
// the admin API carries for heraldctl import and export; it imports only
// the standard library (encoding/xml, io), so a reader over a file of
// 100,000 accounts holds one account in memory, never the file.
//
// Invariants: Reader.Next returns whole accounts only; a malformed account
// is an *Error naming the line and element, and nothing of that account is
// returned. Pending subscription requests and offline messages are kept as
// the stanza bytes the file carries. Writer output reads back through
// Reader to the same accounts.
//
// Usage:
//
//	r := piefxis.NewReader(f)
//	for {
//		a, err := r.Next()
//		if err == io.EOF { break }
//		...
//	}
//	w := piefxis.NewWriter(out)
//	w.Write(a)
//	w.Close()
package piefxis
