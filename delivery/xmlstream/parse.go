package xmlstream

import (
	"errors"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// errIncomplete is the parser's "need more bytes": it never leaves the
// package.
var errIncomplete = errors.New("xmlstream: incomplete")

// The parser works on a byte slice that holds a whole unit (the stream
// header, or one first-level element) or a prefix of it. It is a pure
// function of those bytes: on a prefix it returns either errIncomplete or
// the same error it would return on any extension of the prefix. The
// Decoder relies on this to retry after more bytes arrive, and the finder
// (finder.go) relies on it to know when a retry cannot fail for want of
// bytes. Nothing it records survives a failed attempt.
//
// It builds the tree in scratch arrays first (elements, attributes,
// children, one byte block for every string) and then materialises it in
// build with one allocation per kind, so the cost of a stanza is a handful
// of allocations however many elements it has.

// sref is a string under construction: blob[off:end], or when off < 0 the
// interned (or header-scoped) string number -1-off.
type sref struct{ off, end int32 }

func internRef(k int) sref { return sref{off: int32(-1 - k)} }

type xel struct {
	space, local sref
	attr0, attr1 int32
	nchild       int32
	fill         int32 // next free child slot, during build
}

type xattr struct{ space, local, value sref }

type xnode struct {
	parent int32
	el     int32 // the child element, or -1 for character data
	text   sref
}

type frame struct {
	el     int32
	qi, qj int32 // the raw qualified name, for the end tag
	nsMark int32 // len(ns) before this element's declarations
	def    sref  // default namespace in scope for the children
}

type nsDecl struct {
	pi, pj int32 // prefix in the unit's bytes
	uri    sref
}

// hdrDecl is a prefix the stream header declared (RFC 6120 4.8.5: it
// applies to the whole stream).
type hdrDecl struct {
	prefix string
	uri    sref
}

const (
	attrPlain = iota
	attrDefNS // xmlns='...'
	attrNS    // xmlns:p='...'
)

type rawAttr struct {
	qi, qc, qj int32 // name, colon (-1) and end in the unit's bytes
	kind       uint8
	val        sref
}

type parser struct {
	maxDepth, maxAttrs int

	blob  []byte
	els   []xel
	attrs []xattr
	nodes []xnode
	stack []frame
	ns    []nsDecl
	raw   []rawAttr

	// The last start tag: qualified name and whether it was empty.
	tqi, tqc, tqj int
	tempty        bool
	closed        bool // the unit was the stream's closing tag

	// Stream scope, set from the header.
	hdrNS  []hdrDecl
	hdrDef sref
	dyn    []string // strings of the header scope not in the intern table
	rootQ  []byte   // the root's raw qualified name
}

func (p *parser) reset() {
	p.blob = p.blob[:0]
	p.els = p.els[:0]
	p.attrs = p.attrs[:0]
	p.nodes = p.nodes[:0]
	p.stack = p.stack[:0]
	p.ns = p.ns[:0]
	p.raw = p.raw[:0]
}

// shrink drops scratch arrays that a large stanza grew, so that an idle
// decoder holds only a small amount of memory.
func (p *parser) shrink() {
	if cap(p.blob) > 16<<10 {
		p.blob = nil
	}
	if cap(p.els) > 256 {
		p.els = nil
	}
	if cap(p.attrs) > 512 {
		p.attrs = nil
	}
	if cap(p.nodes) > 512 {
		p.nodes = nil
	}
	if cap(p.stack) > 64 {
		p.stack = nil
	}
	if cap(p.ns) > 64 {
		p.ns = nil
	}
}

// fixed returns the string of an interned or header-scoped ref.
func (p *parser) fixed(r sref) string {
	k := int(-1 - r.off)
	if k < len(internStr) {
		return internStr[k]
	}
	return p.dyn[k-len(internStr)]
}

func (p *parser) refIs(r sref, s string) bool {
	if r.off < 0 {
		return p.fixed(r) == s
	}
	return string(p.blob[r.off:r.end]) == s
}

func (p *parser) refEq(a, b sref) bool {
	if a == b {
		return true
	}
	if a.off < 0 {
		return p.refIs(b, p.fixed(a))
	}
	return p.refIs(b, string(p.blob[a.off:a.end]))
}

// name returns a ref to the name bytes b: interned, or copied to the blob.
func (p *parser) name(b []byte) sref {
	if k := lookup(b); k >= 0 {
		return internRef(k)
	}
	off := int32(len(p.blob))
	p.blob = append(p.blob, b...)
	return sref{off, int32(len(p.blob))}
}

// value turns blob[start:] into a ref, reusing an interned string (and
// giving the blob bytes back) when there is one.
func (p *parser) value(start int) sref {
	if n := len(p.blob) - start; n > 0 && n <= maxIntern {
		if k := lookup(p.blob[start:]); k >= 0 {
			p.blob = p.blob[:start]
			return internRef(k)
		}
	}
	return sref{int32(start), int32(len(p.blob))}
}

// first parses one first-level unit at b[0]: an element, the stream's end
// tag (close reports which), or something not allowed there.
func (p *parser) first(b []byte) (n int, close bool, err error) {
	p.reset()
	if b[0] != '<' {
		// RFC 6120 11.7: only whitespace may separate first-level elements.
		// Other character data is well-formed XML, so this is not
		// <not-well-formed/> but <bad-format/> (4.9.3.1).
		return 0, false, &StreamError{Condition: BadFormat, Text: "character data between first-level elements"}
	}
	if len(b) < 2 {
		return 0, false, errIncomplete
	}
	switch b[1] {
	case '/':
		n, err = endTag(b, 0, p.rootQ)
		return n, err == nil, err
	case '?':
		return 0, false, errRestricted("processing instructions are not allowed")
	case '!':
		switch k := bang(b[2:]); k {
		case bangCDATA:
			return 0, false, &StreamError{Condition: BadFormat, Text: "character data between first-level elements"}
		default:
			return 0, false, bangError(k)
		}
	}
	n, err = p.element(b)
	return n, false, err
}

func (p *parser) element(b []byte) (int, error) {
	i, err := p.startTag(b, 0)
	if err != nil {
		return 0, err
	}
	for len(p.stack) > 0 {
		if i >= len(b) {
			return 0, errIncomplete
		}
		if b[i] != '<' {
			if i, err = p.text(b, i); err != nil {
				return 0, err
			}
			continue
		}
		if i+1 >= len(b) {
			return 0, errIncomplete
		}
		switch b[i+1] {
		case '/':
			f := &p.stack[len(p.stack)-1]
			i, err = endTag(b, i, b[f.qi:f.qj])
			if err == nil {
				p.ns = p.ns[:f.nsMark]
				p.stack = p.stack[:len(p.stack)-1]
			}
		case '!':
			i, err = p.cdata(b, i)
		case '?':
			return 0, errRestricted("processing instructions are not allowed")
		default:
			i, err = p.startTag(b, i)
		}
		if err != nil {
			return 0, err
		}
	}
	return i, nil
}

// endTag matches '</' q S? '>' at b[i] and returns the index after it.
func endTag(b []byte, i int, q []byte) (int, error) {
	j := i + 2
	n := len(q)
	if rest := b[j:]; len(rest) < n {
		if string(rest) != string(q[:len(rest)]) {
			return 0, errNotWellFormed("mismatched end tag")
		}
		return 0, errIncomplete
	}
	if string(b[j:j+n]) != string(q) {
		return 0, errNotWellFormed("mismatched end tag")
	}
	j += n
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	if j >= len(b) {
		return 0, errIncomplete
	}
	if b[j] != '>' {
		// A longer name, or anything else in an end tag.
		return 0, errNotWellFormed("mismatched end tag")
	}
	return j + 1, nil
}

// tag parses '<' QName (S Attribute)* S? ('>' | '/>') at b[i]. The name
// goes to p.tq*, the attributes to p.raw.
func (p *parser) tag(b []byte, i int) (int, error) {
	i++
	qc, j, err := qname(b, i)
	if err != nil {
		return 0, err
	}
	p.tqi, p.tqc, p.tqj = i, qc, j
	p.raw = p.raw[:0]
	for {
		ws := j
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j >= len(b) {
			return 0, errIncomplete
		}
		switch b[j] {
		case '>':
			p.tempty = false
			return j + 1, nil
		case '/':
			if j+1 >= len(b) {
				return 0, errIncomplete
			}
			if b[j+1] != '>' {
				return 0, errNotWellFormed("expected '>' after '/'")
			}
			p.tempty = true
			return j + 2, nil
		}
		if j == ws {
			return 0, errNotWellFormed("expected whitespace before attribute")
		}
		if len(p.raw) >= p.maxAttrs {
			return 0, errPolicy("too many attributes")
		}
		ai := j
		ac, aj, err := qname(b, j)
		if err != nil {
			return 0, err
		}
		for j = aj; j < len(b) && isSpace(b[j]); j++ {
		}
		if j >= len(b) {
			return 0, errIncomplete
		}
		if b[j] != '=' {
			return 0, errNotWellFormed("expected '=' after attribute name")
		}
		for j++; j < len(b) && isSpace(b[j]); j++ {
		}
		if j >= len(b) {
			return 0, errIncomplete
		}
		q := b[j]
		if q != '"' && q != '\'' {
			return 0, errNotWellFormed("attribute value must be quoted")
		}
		start := len(p.blob)
		if j, err = p.attrValue(b, j+1, q); err != nil {
			return 0, err
		}
		an := b[ai:aj]
		// XML 1.0 3.1 WFC Unique Att Spec.
		for k := range p.raw {
			r := &p.raw[k]
			if int(r.qj-r.qi) == len(an) && string(b[r.qi:r.qj]) == string(an) {
				return 0, errNotWellFormed("duplicate attribute")
			}
		}
		kind := uint8(attrPlain)
		switch {
		case ac < 0 && string(an) == "xmlns":
			kind = attrDefNS
		case ac >= 0 && string(b[ai:ac]) == "xmlns":
			kind = attrNS
		}
		p.raw = append(p.raw, rawAttr{qi: int32(ai), qc: int32(ac), qj: int32(aj), kind: kind, val: p.value(start)})
	}
}

// declare applies the namespace declarations among p.raw (Namespaces in
// XML 1.0, section 3) and returns the default namespace for the element.
func (p *parser) declare(b []byte, def sref) (sref, error) {
	for k := range p.raw {
		r := &p.raw[k]
		switch r.kind {
		case attrDefNS:
			if p.refIs(r.val, stanza.NSXML) || p.refIs(r.val, NSXMLNS) {
				return def, errNotWellFormed("reserved namespace name")
			}
			def = r.val
		case attrNS:
			pre := b[r.qc+1 : r.qj]
			switch {
			case string(pre) == "xmlns":
				return def, errNotWellFormed("the xmlns prefix must not be declared")
			case string(pre) == "xml":
				if !p.refIs(r.val, stanza.NSXML) {
					return def, errNotWellFormed("the xml prefix is reserved")
				}
				continue
			case p.refIs(r.val, stanza.NSXML) || p.refIs(r.val, NSXMLNS):
				return def, errNotWellFormed("reserved namespace name")
			case r.val.off >= 0 && r.val.off == r.val.end:
				// Namespaces in XML 1.0 has no prefix undeclaring.
				return def, errNotWellFormed("empty namespace name for a prefix")
			}
			p.ns = append(p.ns, nsDecl{pi: r.qc + 1, pj: r.qj, uri: r.val})
		}
	}
	return def, nil
}

// resolve maps the prefix b[pi:pj] to its namespace: this unit's
// declarations, then the stream header's, then the predeclared xml prefix.
func (p *parser) resolve(b []byte, pi, pj int) (sref, bool) {
	pre := b[pi:pj]
	for k := len(p.ns) - 1; k >= 0; k-- {
		d := &p.ns[k]
		if int(d.pj-d.pi) == len(pre) && string(b[d.pi:d.pj]) == string(pre) {
			return d.uri, true
		}
	}
	for k := len(p.hdrNS) - 1; k >= 0; k-- {
		if p.hdrNS[k].prefix == string(pre) {
			return p.hdrNS[k].uri, true
		}
	}
	if string(pre) == "xml" {
		return refNSXML, true
	}
	return sref{}, false
}

// startTag parses a start tag at b[i] inside a first-level unit and
// records the element.
func (p *parser) startTag(b []byte, i int) (int, error) {
	j, err := p.tag(b, i)
	if err != nil {
		return 0, err
	}
	if len(p.stack) >= p.maxDepth {
		return 0, errPolicy("elements nested too deeply")
	}
	parent := int32(-1)
	def := p.hdrDef
	if n := len(p.stack); n > 0 {
		parent = p.stack[n-1].el
		def = p.stack[n-1].def
	}
	nsMark := int32(len(p.ns))
	if def, err = p.declare(b, def); err != nil {
		return 0, err
	}
	el := xel{attr0: int32(len(p.attrs))}
	if p.tqc < 0 {
		el.space = def
		el.local = p.name(b[p.tqi:p.tqj])
	} else {
		s, ok := p.resolve(b, p.tqi, p.tqc)
		if !ok {
			// RFC 6120 4.9.3.13's example of a namespace-well-formedness
			// error is exactly an undeclared prefix.
			return 0, errNotWellFormed("undeclared namespace prefix")
		}
		// RFC 6120 4.8.5: no prefix for jabber:client or jabber:server
		// content; SHOULD close with <bad-namespace-prefix/>. Elements in the
		// xml namespace have no use in XMPP and no serialisation without
		// the prefix, so that prefix is refused the same way (4.9.3.2: "a
		// namespace prefix that is unsupported").
		if p.refIs(s, stanza.NSClient) || p.refIs(s, stanza.NSServer) || s == refNSXML {
			return 0, &StreamError{Condition: BadNamespacePrefix, Text: "unsupported namespace prefix"}
		}
		el.space = s
		el.local = p.name(b[p.tqc+1 : p.tqj])
	}
	prefixed := 0
	for k := range p.raw {
		r := &p.raw[k]
		if r.kind != attrPlain {
			continue
		}
		a := xattr{value: r.val}
		if r.qc < 0 {
			a.local = p.name(b[r.qi:r.qj])
		} else {
			s, ok := p.resolve(b, int(r.qi), int(r.qc))
			if !ok {
				return 0, errNotWellFormed("undeclared namespace prefix")
			}
			a.space = s
			a.local = p.name(b[r.qc+1 : r.qj])
			prefixed++
		}
		p.attrs = append(p.attrs, a)
	}
	el.attr1 = int32(len(p.attrs))
	if prefixed > 1 {
		// Namespaces in XML 1.0, 6.3: no two attributes with the same
		// expanded name.
		as := p.attrs[el.attr0:el.attr1]
		for x := range as {
			for y := x + 1; y < len(as); y++ {
				if as[x].space != (sref{}) && p.refEq(as[x].space, as[y].space) && p.refEq(as[x].local, as[y].local) {
					return 0, errNotWellFormed("duplicate attribute")
				}
			}
		}
	}
	idx := int32(len(p.els))
	p.els = append(p.els, el)
	if parent >= 0 {
		p.nodes = append(p.nodes, xnode{parent: parent, el: idx})
		p.els[parent].nchild++
	}
	if p.tempty {
		p.ns = p.ns[:nsMark]
	} else {
		p.stack = append(p.stack, frame{el: idx, qi: int32(p.tqi), qj: int32(p.tqj), nsMark: nsMark, def: def})
	}
	return j, nil
}
