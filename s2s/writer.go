package s2s

import (
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// The sending side of a connection, once TLS is up, is an
// xmlstream.Writer: what is sent is serialized at once into its pending
// buffer, and a writer goroutine exists only while there is something to
// write, so an idle link pins neither a goroutine nor a buffer. Stanzas
// are tied to their bytes as entries, so that a connection that drops can
// hand the ones it never wrote back to its link, which reconnects and
// sends them.
//
// Bounds: the link refuses stanzas past Config.MaxQueue waiting (it
// bounces them with <resource-constraint/>); on an inbound stream, which
// carries only protocol bytes (dialback answers), more than maxCtl bytes
// waiting mean the peer sends requests and does not read the answers,
// and the connection is closed. A write that blocks longer than
// Config.WriteTimeout closes the connection; the stanzas of that write
// are lost (no stream management on s2s), the ones behind it go back to
// the link.

// entry is one stanza waiting on a link.
type entry struct {
	st       *stanza.Element
	from, to jid.JID
	// kept is when a subscription stanza was first kept back by a failed
	// setup; zero otherwise.
	kept time.Time
}

// maxCtl is the protocol bytes waiting on an inbound stream before the
// peer is cut off.
const maxCtl = 64 << 10

// push queues a stanza on an outbound stream. It returns false when the
// stream is ending or gone; the caller keeps the stanza.
func (c *outConn) push(e entry) bool {
	return c.q.PushItem(func(b []byte) []byte { return appendStanza(b, e.st) }, e)
}

// appendCloseTag ends a stream (RFC 6120 4.4).
func appendCloseTag(b []byte) []byte { return append(b, xmlstream.StreamCloseTag...) }

// appendStreamError is a stream error and the closing tag (RFC 6120
// 4.9.1.1).
func appendStreamError(e *xmlstream.StreamError) func([]byte) []byte {
	return func(b []byte) []byte { return appendCloseTag(e.AppendXML(b)) }
}

// appendStanza serializes a stanza for a jabber:server stream. A stanza
// from a local client is in jabber:client; naming its own namespace as
// the parent leaves it (and its jabber:client descendants) without an
// xmlns, so it takes the stream's jabber:server (RFC 6120 4.8.3), while
// children in other namespaces keep theirs.
func appendStanza(b []byte, st *stanza.Element) []byte {
	parent := stanza.NSServer
	if st.Name.Space == stanza.NSClient {
		parent = stanza.NSClient
	}
	return st.AppendXML(b, parent)
}
