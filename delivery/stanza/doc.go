// Package stanza is the XML element tree every part of Herald passes
// around, its serializer, and the stanza errors of RFC 6120 8.3.
//
// An Element holds expanded names (namespace URI + local name); prefixes do
// not survive parsing and AppendXML writes default-namespace declarations
// only where an element's namespace differs from its parent's, so a stanza
// parsed from a client stream re-serializes for a client or a server
// stream by naming the stream's namespace as the parent.
//
// Whatever text an Element's attribute values, character data and
// namespace names hold (its local names are the caller's to get right),
// AppendXML writes well-formed XML that the stream reader
// (delivery/xmlstream) parses back to the same tree; a character XML cannot
// carry is written as U+FFFD. FuzzRoundTrip and
// FuzzEscape hold this in place, with seed corpora in testdata/fuzz.
//
// The package is pure: no I/O, no clock.
//
//	st := stanza.NewElement(stanza.NSClient, "message").Set("to", "bob@example.org")
//	st.Append(stanza.NewElement(stanza.NSClient, "body").AppendText("hi"))
//	wire := st.AppendXML(nil, stanza.NSClient) // <message to="bob@example.org"><body>hi</body></message>
//	reply := stanza.Bounce(st, stanza.NewError(stanza.ServiceUnavailable, ""))
package stanza
