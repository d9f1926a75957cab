package xmlstream

import "bytes"

// The finder answers one question cheaply and incrementally: is the unit
// that starts at the beginning of the buffer complete yet? It looks only at
// the bytes that delimit markup ('<', '>', quotes, CDATA and PI ends) and
// keeps its state between reads, so every byte is scanned once however the
// peer splits its writes. The parser, which is not incremental, then runs
// once on a unit the finder calls complete, instead of once per read: a
// stanza trickled in one byte per segment costs linear, not quadratic,
// time.
//
// The finder is exact on well-formed input: when it reports a unit
// complete, the parser reaches the same end. On malformed input it may
// report "parse now" early (a comment, a '<' inside a tag, nesting beyond
// the limit), and then the parser finds the error. It never decides
// anything itself.

const (
	fText  uint8 = iota // character data
	fLT                 // after '<'
	fStart              // inside a start tag
	fQuote              // inside an attribute value
	fEnd                // inside an end tag
	fBang               // after "<!"
	fCDATA              // inside a CDATA section
	fPI                 // inside the XML declaration
)

// What feed found.
const (
	needMore = iota
	complete
	early // something the parser will reject; parse now
)

type finder struct {
	pos      int // bytes of the unit scanned so far
	state    uint8
	quote    byte
	slash    bool // the last byte of the start tag so far was '/'
	bangDash bool // matching "--" rather than "[CDATA["
	match    int
	depth    int
	maxDepth int
	header   bool // the unit is the stream header (prolog and root tag)
	noEarly  bool // early answers disabled (see Decoder.unit)
	done     bool
}

func (f *finder) reset(header bool, maxDepth int) {
	*f = finder{header: header, maxDepth: maxDepth}
}

// feed scans b[f.pos:], b being the unit's bytes buffered so far.
func (f *finder) feed(b []byte) int {
	if f.done {
		return complete
	}
	i := f.pos
	defer func() { f.pos = i }()
	for i < len(b) {
		switch f.state {
		case fText:
			if f.header {
				c := b[i]
				i++
				switch {
				case c == '<':
					f.state = fLT
				case isSpace(c):
				default:
					if !f.noEarly {
						return early
					}
				}
				continue
			}
			k := bytes.IndexByte(b[i:], '<')
			if k < 0 {
				i = len(b)
				continue
			}
			i += k + 1
			f.state = fLT
		case fLT:
			c := b[i]
			i++
			switch c {
			case '/':
				f.state = fEnd
			case '!':
				f.state = fBang
				f.match = 0
			case '?':
				if f.header && i == 2 {
					f.state = fPI
					f.match = 0
					continue
				}
				f.state = fText
				if !f.noEarly {
					return early
				}
			default:
				f.state = fStart
				f.slash = false
			}
		case fStart:
			c := b[i]
			i++
			switch c {
			case '"', '\'':
				f.quote = c
				f.state = fQuote
			case '/':
				f.slash = true
			case '>':
				f.state = fText
				if f.slash {
					if f.depth == 0 {
						f.done = true
						return complete
					}
					continue
				}
				f.depth++
				if f.header {
					f.done = true
					return complete
				}
				if f.depth > f.maxDepth && !f.noEarly {
					return early
				}
			case '<':
				if !f.noEarly {
					return early
				}
			default:
				f.slash = false
			}
		case fQuote:
			for i < len(b) && b[i] != f.quote && b[i] != '<' {
				i++
			}
			if i == len(b) {
				continue
			}
			c := b[i]
			i++
			if c == '<' {
				if !f.noEarly {
					return early
				}
				continue
			}
			f.state = fStart
			f.slash = false
		case fEnd:
			k := bytes.IndexByte(b[i:], '>')
			if k < 0 {
				i = len(b)
				continue
			}
			i += k + 1
			f.state = fText
			f.depth--
			if f.header {
				if !f.noEarly {
					return early
				}
				continue
			}
			if f.depth <= 0 {
				f.done = true
				return complete
			}
		case fBang:
			c := b[i]
			i++
			if f.match == 0 {
				f.bangDash = c == '-'
				if c != '-' && c != '[' {
					f.state = fText
					if !f.noEarly {
						return early
					}
					continue
				}
			} else {
				want := byte('-')
				if !f.bangDash {
					want = "[CDATA["[f.match]
				}
				if c != want {
					f.state = fText
					if !f.noEarly {
						return early
					}
					continue
				}
			}
			f.match++
			switch {
			case f.bangDash && f.match == 2: // a comment
				f.state = fText
				if !f.noEarly {
					return early
				}
			case !f.bangDash && f.match == len("[CDATA["):
				f.state = fCDATA
				f.match = 0
				if (f.header || f.depth == 0) && !f.noEarly {
					// Not allowed in the prolog or between first-level
					// elements.
					return early
				}
			}
		case fCDATA:
			c := b[i]
			i++
			switch {
			case c == ']':
				f.match++
			case c == '>' && f.match >= 2:
				f.state = fText
				f.match = 0
			default:
				f.match = 0
			}
		case fPI:
			c := b[i]
			i++
			switch {
			case c == '?':
				f.match = 1
			case c == '>' && f.match == 1:
				f.state = fText
			default:
				f.match = 0
			}
		}
	}
	return needMore
}
