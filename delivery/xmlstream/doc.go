// Package xmlstream is the XML stream layer of RFC 6120 section 4 for
// client-to-server and server-to-server connections: a Decoder that turns
// the bytes of one direction of a connection into a stream header,
// first-level elements (as stanza.Element trees) and the closing tag;
// AppendStreamHeader and StreamCloseTag for the other direction; and the
// stream errors of RFC 6120 4.9 as *StreamError.
//
// # Usage
//
//	d := xmlstream.NewDecoder(conn, xmlstream.Limits{})
//	for {
//		ev, err := d.Next()
//		var se *xmlstream.StreamError
//		if errors.As(err, &se) {
//			// Our header first if the peer's was the problem
//			// (RFC 6120 4.9.1.2), then the error and the closing tag.
//			out = se.AppendXML(out)
//			out = append(out, xmlstream.StreamCloseTag...)
//		}
//		if err != nil {
//			return err // io.EOF: the peer hung up between elements
//		}
//		switch ev.Kind {
//		case xmlstream.StreamOpen:  // answer with AppendStreamHeader
//		case xmlstream.Element:     // ev.Element: a stanza, <starttls/>, <auth/>...
//		case xmlstream.StreamClose: // answer with StreamCloseTag
//		}
//	}
//
// After STARTTLS succeeds, call d.Reset(tlsConn): it refuses (ErrBuffered)
// if the peer sent anything but whitespace after <starttls/> in the clear.
// After SASL succeeds, call d.Restart(): bytes already read belong to the
// new stream.
//
// # The stream skeleton
//
// Both client and server listeners (c2s, s2s) are built on the same
// pieces, so that a stream behaves the same whoever opened it:
//
//   - Streams keeps a listener side's listeners and open streams: Serve
//     (over Accept), Shutdown (<system-shutdown/> to every stream, then a
//     wait bounded by a context), and Go for goroutines Shutdown waits for.
//   - ReadError is the one translation of a read error into what the peer
//     is owed (RFC 6120 4.9); HangUp is what a handler returns once it has
//     closed the connection itself; NewStreamID makes the id of every
//     response header.
//   - Writer is the sending side once negotiation is over: one pending
//     buffer, a writer goroutine only while there is something to write,
//     items tied to their bytes (reported written, or unsent when the
//     connection fails), and a written-down policy past its bounds (more
//     than Max bytes waiting: the peer is cut off at once; a write
//     blocked for Timeout: likewise).
//
// # Invariants
//
//   - Every syntax or limit problem is a *StreamError with the condition
//     RFC 6120 asks for, and it is final. Read errors pass through
//     unchanged and are not final (a read deadline can be retried): io.EOF
//     at a boundary between first-level elements, io.ErrUnexpectedEOF
//     inside a header or element.
//   - The result does not depend on how the peer split its bytes: one byte
//     per Read, everything in one Read and anything between give the same
//     events and the same error. FuzzDecoder checks this.
//   - Memory is bounded by the limits, not by the input: the read buffer
//     grows to at most MaxStanza (MaxHeader for a header; 4 KiB if that is
//     smaller), and an element that breaks the limit costs a few times
//     MaxStanza of transient allocation however large it claims to be. A decoder waiting between elements
//     holds no read buffer: it reads into a 16-byte array inside the
//     Decoder and takes a pooled 4 KiB buffer only when an element starts.
//   - A returned Element shares nothing mutable with the Decoder or with
//     other elements. Its strings share one backing block per element.
//   - Decoded text never contains a character XML 1.0 forbids, so
//     stanza.Element.AppendXML of any decoded element decodes to the same
//     tree.
//
// # Decisions on the RFC's open points
//
//   - CDATA sections are accepted: RFC 6120 11.1 prohibits comments,
//     processing instructions, DTDs and non-predefined entity references,
//     not CDATA. Their content merges with the surrounding text.
//   - A reference to an entity other than the five predefined ones is
//     restricted-xml (11.1 lists entity references among the prohibited
//     features); a malformed reference (&;, &#xZZ;, &#0;) is
//     not-well-formed.
//   - An undeclared namespace prefix is not-well-formed: 11.3 rule 4 sends
//     namespace-well-formedness errors there, and 4.9.3.13's example is
//     exactly an undeclared prefix. bad-namespace-prefix (4.9.3.2) is kept
//     for a prefix on jabber:client or jabber:server content (4.8.5) and
//     for elements in the xml namespace.
//   - Bytes that are not UTF-8 are unsupported-encoding (4.9.3.22: "or has
//     otherwise improperly encoded the stream (e.g., by violating the rules
//     of the UTF-8 encoding)"), as are a declared encoding other than UTF-8
//     and a UTF-16 byte order mark (11.6). UTF-8 that encodes a character
//     XML forbids (a control character, U+FFFE) is not-well-formed.
//   - Character data between first-level elements other than whitespace is
//     bad-format: it is well-formed XML, but 11.7 allows only whitespace
//     there.
//   - The root must be {http://etherx.jabber.org/streams}stream under any
//     prefix. A wrong namespace is invalid-namespace (4.8.1); the right
//     namespace with another local name is bad-format. The content
//     namespace must be jabber:client, jabber:server or absent (4.8.3
//     allows refusing others with invalid-namespace).
//   - The XML declaration is allowed only as the first bytes of a stream
//     (XML 1.0 2.8), including a restarted one (behind whitespace left from
//     the stream that ended there, RFC 6120 11.7); elsewhere it is a
//     processing instruction, hence restricted-xml. Its standalone
//     declaration is ignored (11.5 allows ignoring it).
//   - Attribute values get XML 1.0 3.3.3 normalisation (literal tab, CR and
//     LF become a space); text gets 2.11 end-of-line handling.
//   - A size or depth limit is policy-violation (4.9.3.14); an oversized
//     element carries <stanza-too-big xmlns='urn:xmpp:errors'/> as 4.9.3.14's
//     example does.
//
// # Design
//
// encoding/xml is not used: it allocates per token, accepts what RFC 6120
// 11.1 forbids, and cannot bound an element's size before buffering it.
// Instead there are two pieces (parse.go, finder.go). The parser is a
// plain recursive-descent reader over a byte slice that holds a whole
// element, or a prefix of one; on a prefix it answers "need more" or the
// error it would give on the whole. It writes into scratch arrays that the
// Decoder reuses, and build turns them into the element tree with one
// allocation per kind (elements, attributes, children, one string block)
// plus one per text node; common names, namespaces, values and
// indentation are interned and cost nothing. The finder is a small
// resumable state machine that only tracks markup delimiters, to say when
// a buffered element is complete. When an element arrives in one read the
// parser runs once and the finder never; when it trickles in, the finder
// sees each byte once and the parser runs when the finder says so (and
// whenever the buffered prefix has doubled), so trickling costs linear
// time, not quadratic. A resumable byte-at-a-time tokenizer would avoid
// the second scan but put a state check on every byte of the common case.
package xmlstream
