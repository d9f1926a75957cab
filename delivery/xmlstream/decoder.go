package xmlstream

import (
	"io"
	"sync"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Limits bounds what a Decoder accepts. A zero field takes its default.
// Exceeding a limit is a <policy-violation/> stream error
// (RFC 6120 4.9.3.14).
type Limits struct {
	// MaxStanza is the largest first-level element, in raw bytes from its
	// '<' to its last '>'. The read buffer never grows past it (or past
	// 4 KiB, if that is larger), whatever the peer sends.
	MaxStanza int
	// MaxDepth is the deepest nesting accepted. A first-level element (a
	// stanza) is at depth 1, its children at depth 2.
	MaxDepth int
	// MaxAttrs is the most attributes, namespace declarations included, on
	// one element.
	MaxAttrs int
	// MaxHeader is the largest stream header, counting the XML declaration
	// and any whitespace before the root tag.
	MaxHeader int
}

// Defaults for Limits.
const (
	DefaultMaxStanza = 256 << 10
	DefaultMaxDepth  = 32
	DefaultMaxAttrs  = 64
	DefaultMaxHeader = 16 << 10

	maxLimit = 1 << 30 // keeps every offset within int32
)

func (l Limits) withDefaults() Limits {
	fix := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
		if *v > maxLimit {
			*v = maxLimit
		}
	}
	fix(&l.MaxStanza, DefaultMaxStanza)
	fix(&l.MaxDepth, DefaultMaxDepth)
	fix(&l.MaxAttrs, DefaultMaxAttrs)
	fix(&l.MaxHeader, DefaultMaxHeader)
	return l
}

// EventKind says what an Event carries.
type EventKind uint8

// Event kinds.
const (
	StreamOpen  EventKind = iota + 1 // the stream header; Event.Header is set
	Element                          // a first-level element; Event.Element is set
	StreamClose                      // the stream's closing tag
)

func (k EventKind) String() string {
	switch k {
	case StreamOpen:
		return "StreamOpen"
	case Element:
		return "Element"
	case StreamClose:
		return "StreamClose"
	}
	return "EventKind(?)"
}

// Event is one thing read from the stream.
type Event struct {
	Kind   EventKind
	Header Header
	// Element is a complete first-level child of the stream root: a stanza,
	// or stream:features, stream:error, starttls, auth and the like. A
	// child without a namespace declaration has the stream's default
	// namespace (jabber:client on a client stream). The tree's elements,
	// and its strings, share a few backing allocations: keeping any part
	// keeps the whole element alive (use strings.Clone or Copy for
	// long-lived pieces of a large element).
	Element *stanza.Element
	// Size is the unit's raw size in bytes.
	Size int
}

// Decoder states.
const (
	stHeader = iota // expecting a stream header
	stOpen          // inside the stream root
	stClosed        // after the closing tag
)

const (
	bufSize  = 4 << 10 // the pooled read buffer
	idleRead = 16      // the array an idle decoder reads into
)

var bufPool = sync.Pool{New: func() any { return new([bufSize]byte) }}

// Decoder reads an XML stream (RFC 6120 4) from an io.Reader, one event at
// a time. It is not safe for concurrent use.
type Decoder struct {
	r    io.Reader
	lim  Limits
	buf  []byte // nil while idle
	r0   int    // buf[r0:r1] is read but not yet consumed
	r1   int
	rerr error // a read error that came with data, returned when more is needed

	state     uint8
	err       error // a stream error: every later Next returns it
	emptyRoot bool  // the header was <stream:stream/>
	restarted bool  // the stream follows another on the same reader (Restart)

	p   parser
	f   finder
	hdr Header

	small [idleRead]byte
}

// NewDecoder returns a decoder reading from r, expecting a stream header
// first.
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	d := &Decoder{r: r, lim: lim.withDefaults()}
	d.p.maxDepth = d.lim.MaxDepth
	d.p.maxAttrs = d.lim.MaxAttrs
	return d
}

// Next returns the next event: StreamOpen first, then Element for each
// first-level element, then StreamClose. Whitespace between first-level
// elements is consumed silently (RFC 6120 4.6.1 and 11.7). After
// StreamClose, Next returns io.EOF without reading.
//
// A syntax or limit problem is a *StreamError; it is final, and Next
// returns it again on every later call. Read errors are returned as they
// are (io.EOF when the peer closes at an element boundary,
// io.ErrUnexpectedEOF when it closes inside one) and are not final: after
// a read deadline expires, Next may be called again and resumes where it
// was.
func (d *Decoder) Next() (Event, error) {
	if d.err != nil {
		return Event{}, d.err
	}
	var ev Event
	var err error
	switch d.state {
	case stHeader:
		ev, err = d.header()
	case stOpen:
		ev, err = d.element()
	default:
		return Event{}, io.EOF
	}
	if se, ok := err.(*StreamError); ok {
		d.err = se
		d.dropBuf()
		d.p.shrink()
	}
	return ev, err
}

// Restart begins a new stream on the same reader, as after SASL success
// (RFC 6120 6.4.6 and 4.3.3): the namespace scope and header of the old
// stream are forgotten and the next event is StreamOpen. Bytes already
// buffered belong to the new stream and are kept; the peer may have sent
// the new header right behind the element that ended the old one. A stream
// error stays final (RFC 6120 4.9.1.1): Restart does not clear it.
func (d *Decoder) Restart() {
	d.state = stHeader
	d.restarted = true
	d.emptyRoot = false
	d.hdr = Header{}
	d.p.hdrNS = d.p.hdrNS[:0]
	d.p.hdrDef = sref{}
	d.p.dyn = d.p.dyn[:0]
	d.p.rootQ = nil
}

// Reset begins a new stream over r, as after TLS negotiation
// (RFC 6120 5.4.3.3). Nothing received over the old reader may carry over:
// if bytes other than whitespace are buffered it returns ErrBuffered and
// changes nothing (they arrived before TLS took effect; rule 2 of 5.4.3.3
// says to discard such data, and reading it as part of the protected
// stream would allow command injection). Buffered whitespace is dropped.
func (d *Decoder) Reset(r io.Reader) error {
	for d.r0 < d.r1 && isSpace(d.buf[d.r0]) {
		d.r0++
	}
	if d.r0 < d.r1 {
		return ErrBuffered
	}
	d.r = r
	d.rerr = nil
	d.releaseBuf()
	d.Restart()
	d.restarted = false // the first stream over the new layer
	return nil
}

// Header returns the header of the current stream (zero before
// StreamOpen).
func (d *Decoder) Header() Header { return d.hdr }

func (d *Decoder) header() (Event, error) {
	if d.r0 == d.r1 {
		// The XML declaration must be the very first thing (XML 1.0 2.8), so
		// whitespace is kept here for the parser to judge.
		if err := d.idle(false); err != nil {
			return Event{}, err
		}
	}
	n, err := d.unit(true, d.lim.MaxHeader)
	if err != nil {
		return Event{}, err
	}
	d.r0 += n
	d.state = stOpen
	d.emptyRoot = d.p.tempty
	d.p.shrink()
	d.releaseBuf()
	return Event{Kind: StreamOpen, Header: d.hdr, Size: n}, nil
}

func (d *Decoder) element() (Event, error) {
	if d.emptyRoot {
		d.state = stClosed
		return Event{Kind: StreamClose}, nil
	}
	for {
		// RFC 6120 11.7: whitespace between first-level elements, e.g. the
		// keepalives of 4.6.1.
		for d.r0 < d.r1 && isSpace(d.buf[d.r0]) {
			d.r0++
		}
		if d.r0 < d.r1 {
			break
		}
		if err := d.idle(true); err != nil {
			return Event{}, err
		}
	}
	n, err := d.unit(false, d.lim.MaxStanza)
	if err != nil {
		return Event{}, err
	}
	d.r0 += n
	if d.p.closed {
		// Whatever follows the closing tag is not part of the stream.
		d.state = stClosed
		d.dropBuf()
		return Event{Kind: StreamClose, Size: n}, nil
	}
	el := d.p.build()
	d.p.shrink()
	// Hold no buffer while the caller handles the element, if nothing
	// else arrived with it.
	d.releaseBuf()
	return Event{Kind: Element, Element: el, Size: n}, nil
}

// idle waits for the next bytes with no buffer held: an idle connection
// costs the Decoder struct and nothing from the pool. With skipWS,
// whitespace that arrives while idle is consumed there.
func (d *Decoder) idle(skipWS bool) error {
	d.releaseBuf()
	if d.rerr != nil {
		err := d.rerr
		d.rerr = nil
		return err
	}
	for zero := 0; ; {
		n, err := d.r.Read(d.small[:])
		k := 0
		if skipWS {
			for k < n && isSpace(d.small[k]) {
				k++
			}
		}
		if k < n {
			d.grabBuf()
			d.r0, d.r1 = 0, copy(d.buf, d.small[k:n])
			d.rerr = err
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			if zero++; zero >= 100 {
				return io.ErrNoProgress
			}
		}
	}
}

func (d *Decoder) grabBuf() {
	if d.buf == nil {
		d.buf = bufPool.Get().(*[bufSize]byte)[:]
	}
}

// releaseBuf gives the buffer back when nothing is left in it.
func (d *Decoder) releaseBuf() {
	if d.r0 == d.r1 {
		d.dropBuf()
	}
}

// dropBuf gives the buffer back, discarding what it holds.
func (d *Decoder) dropBuf() {
	if d.buf == nil {
		return
	}
	if cap(d.buf) == bufSize {
		bufPool.Put((*[bufSize]byte)(d.buf[:bufSize]))
	}
	d.buf = nil
	d.r0, d.r1 = 0, 0
}

// more reads at least one byte into the buffer, making room by moving the
// current unit to the front or by growing up to limit bytes.
func (d *Decoder) more(limit int) error {
	if d.rerr != nil {
		err := d.rerr
		d.rerr = nil
		return err
	}
	d.grabBuf()
	if d.r1 == len(d.buf) {
		if d.r0 > 0 {
			d.r1 = copy(d.buf, d.buf[d.r0:d.r1])
			d.r0 = 0
		} else {
			n := 2 * len(d.buf)
			if n > limit {
				n = limit
			}
			nb := make([]byte, n)
			copy(nb, d.buf[:d.r1])
			if cap(d.buf) == bufSize {
				bufPool.Put((*[bufSize]byte)(d.buf[:bufSize]))
			}
			d.buf = nb
		}
	}
	for zero := 0; ; {
		n, err := d.r.Read(d.buf[d.r1:])
		d.r1 += n
		if n > 0 {
			d.rerr = err
			return nil
		}
		if err != nil {
			return err
		}
		if zero++; zero >= 100 {
			return io.ErrNoProgress
		}
	}
}

// unit parses the header or the first-level unit at buf[r0], reading until
// it is complete, erroneous, or larger than limit.
//
// The parser is tried directly while the buffered prefix at least doubles
// between tries (one try when the whole unit is already buffered, the
// common case). Otherwise the finder decides when a try can succeed. The
// parser only ever sees the first limit bytes, so whether the stream fails
// with a syntax error or with the size limit does not depend on how the
// bytes were split into reads.
func (d *Decoder) unit(header bool, limit int) (int, error) {
	d.f.reset(header, d.lim.MaxDepth)
	tried := 0
	for {
		b := d.buf[d.r0:d.r1]
		if len(b) > limit {
			b = b[:limit]
		}
		try := tried == 0 || len(b) >= 2*tried || len(b) >= limit
		found := needMore
		if !try {
			found = d.f.feed(b)
			try = found != needMore
		}
		if try && len(b) > tried {
			n, err := d.parse(header, b)
			if err != errIncomplete {
				return n, err
			}
			tried = len(b)
			if len(b) >= limit {
				if header {
					return 0, errPolicy("stream header too big")
				}
				return 0, errStanzaTooBig()
			}
			switch found {
			case complete:
				// Cannot happen on any input: the finder and the parser
				// disagree about where the unit ends.
				return 0, errNotWellFormed("unterminated element")
			case early:
				// Cannot happen either; never try early again, so a
				// disagreement costs at most one more parse.
				d.f.noEarly = true
			}
		}
		if err := d.more(limit); err != nil {
			if err != io.EOF {
				return 0, err
			}
			// Report a syntax error the buffered bytes already contain
			// rather than the truncation.
			b = d.buf[d.r0:d.r1]
			if len(b) > limit {
				b = b[:limit]
			}
			if len(b) > tried {
				if n, err := d.parse(header, b); err != errIncomplete {
					return n, err
				}
			}
			return 0, io.ErrUnexpectedEOF
		}
	}
}

func (d *Decoder) parse(header bool, b []byte) (int, error) {
	if header {
		return d.parseHeader(b)
	}
	n, closed, err := d.p.first(b)
	d.p.closed = closed
	return n, err
}
