package delivery

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Stanzas the server keeps or passes on in serialized form (offline
// messages in the state store, stanzas forwarded to another cluster node)
// are written by MarshalStanza and read back by ParseStanza, under limits
// StoredLimits derives from the ones the streams enforce. The serialized
// form is not the bytes the sender wrote: the server stamped its own
// 'from' (RFC 6120 8.1.2.1), and serializing may declare a namespace per
// prefixed attribute or child and escape characters the sender left raw.
// StoredLimits leaves room for that; whatever still does not fit must be
// refused to the sender at send time (FitsStored), never stored and then
// dropped at delivery.

// StoredHeadroom is the room, in bytes, StoredLimits adds to the stream's
// MaxStanza for what the server adds and re-serializing costs: a 'from'
// of a full JID (at most 3071 bytes, RFC 7622 3.1, escaped), the stream
// namespace declaration and a delay stamp (XEP-0203), with a margin for
// escaping.
const StoredHeadroom = 32 << 10

// StoredLimits returns the limits for reading back stanzas that arrived
// on streams bounded by stream. The depth is the same (serializing does
// not nest); attributes may double, since each prefixed attribute gets its
// own namespace declaration, plus the server's 'from' and the namespace.
func StoredLimits(stream xmlstream.Limits) xmlstream.Limits {
	if stream.MaxStanza <= 0 {
		stream.MaxStanza = xmlstream.DefaultMaxStanza
	}
	if stream.MaxDepth <= 0 {
		stream.MaxDepth = xmlstream.DefaultMaxDepth
	}
	if stream.MaxAttrs <= 0 {
		stream.MaxAttrs = xmlstream.DefaultMaxAttrs
	}
	return xmlstream.Limits{
		MaxStanza: stream.MaxStanza + StoredHeadroom,
		MaxDepth:  stream.MaxDepth,
		MaxAttrs:  2*stream.MaxAttrs + 2,
		MaxHeader: stream.MaxHeader,
	}
}

// MarshalStanza serializes st in the jabber:client namespace, the form
// ParseStanza reads.
func MarshalStanza(st *stanza.Element) []byte {
	return st.AppendXML(nil, stanza.NSClient)
}

// storedPrefix is the stream root a serialized stanza is read inside; it
// declares the namespace MarshalStanza leaves implicit.
const storedPrefix = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

// ErrTooLarge marks a stanza refused because of its size. An Offline
// store wraps it together with the *stanza.Error for the sender; the
// router's error reply then leaves out the original payload
// (RFC 6120 8.3.1).
var ErrTooLarge = errors.New("delivery: stanza too large to keep")

// ErrNoStanza is returned by ParseStanza for input holding no element.
var ErrNoStanza = errors.New("delivery: no stanza in serialized input")

// ParseStanza reads one stanza serialized by MarshalStanza (or by
// AppendXML with no parent namespace), under lim: a limit it breaks is a
// *xmlstream.StreamError.
func ParseStanza(b []byte, lim xmlstream.Limits) (*stanza.Element, error) {
	d := xmlstream.NewDecoder(io.MultiReader(strings.NewReader(storedPrefix), bytes.NewReader(b)), lim)
	if _, err := d.Next(); err != nil {
		return nil, err
	}
	ev, err := d.Next()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrNoStanza
		}
		return nil, err
	}
	if ev.Kind != xmlstream.Element {
		return nil, ErrNoStanza
	}
	return ev.Element, nil
}

// ReadStored reads back a stanza the server kept or a peer forwarded. It
// was checked when kept (FitsStored), or by the peer's own stream limits,
// so its size is not bounded again: lowering max_stanza later never makes
// a kept stanza undeliverable. Depth and attributes stay bounded by lim.
func ReadStored(b []byte, lim xmlstream.Limits) (*stanza.Element, error) {
	lim.MaxStanza = max(lim.MaxStanza, len(b)+1)
	return ParseStanza(b, lim)
}

// FitsStored reports whether st, serialized, can be read back under lim;
// it returns the serialized form. A stanza that does not fit must be
// refused to its sender (RFC 6120 8.3.3.11 not-acceptable), not kept.
func FitsStored(st *stanza.Element, lim xmlstream.Limits) ([]byte, bool) {
	b := MarshalStanza(st)
	_, err := ParseStanza(b, lim)
	return b, err == nil
}
