package xmlstream

import (
	"bytes"
	"strconv"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// NSXMLNS is the namespace of namespace declarations (Namespaces in XML
// 1.0, section 3). In Header.Attr a declaration xmlns:p='uri' appears as
// Attr{Name: Name{Space: NSXMLNS, Local: "p"}, Value: "uri"}.
const NSXMLNS = "http://www.w3.org/2000/xmlns/"

// StreamCloseTag closes a stream (RFC 6120 4.4).
const StreamCloseTag = "</stream:stream>"

// Header is a stream header: the attributes of the root <stream/> element
// (RFC 6120 4.7).
type Header struct {
	To, From, ID, Version string
	Lang                  string // xml:lang
	// DefaultNS is the content namespace declared as the default namespace
	// (RFC 6120 4.8.2): jabber:client, jabber:server, or "" when the header
	// declares none (then first-level elements declare their own, the
	// "prefix-free canonicalization" of 4.8.2).
	DefaultNS string
	// Attr holds the other attributes in document order, and the
	// namespace declarations other than the default one and the one for
	// the root's own prefix (e.g. xmlns:db for Server Dialback) as
	// attributes in NSXMLNS.
	Attr []stanza.Attr
}

// AppendStreamHeader appends an XML declaration and a stream header to dst
// (RFC 6120 4.2 and 11.5). The stream namespace is bound to the prefix
// "stream", the prefix every implementation accepts (RFC 6120 4.8.5).
// Empty fields are left out: a response to a header without 'version' has
// none (4.7.5, rule 4), and a response to a header without 'from' has no
// 'to' (4.7.2); setting them is the caller's job. Attributes in another
// namespace get a generated prefix "nsN" declared beside them.
func AppendStreamHeader(dst []byte, h Header) []byte {
	dst = append(dst, "<?xml version='1.0'?><stream:stream"...)
	if h.DefaultNS != "" {
		dst = appendAttr(dst, "xmlns", h.DefaultNS)
	}
	dst = append(dst, " xmlns:stream='"+stanza.NSStream+"'"...)
	np := 0
	for _, a := range h.Attr {
		switch a.Name.Space {
		case "":
			dst = appendAttr(dst, a.Name.Local, a.Value)
		case NSXMLNS:
			if a.Name.Local == "stream" {
				continue
			}
			dst = appendAttr(dst, "xmlns:"+a.Name.Local, a.Value)
		case stanza.NSXML:
			dst = appendAttr(dst, "xml:"+a.Name.Local, a.Value)
		default:
			np++
			p := "ns" + strconv.Itoa(np)
			dst = appendAttr(dst, "xmlns:"+p, a.Name.Space)
			dst = appendAttr(dst, p+":"+a.Name.Local, a.Value)
		}
	}
	for _, a := range [...]struct{ name, value string }{
		{"to", h.To}, {"from", h.From}, {"id", h.ID}, {"version", h.Version}, {"xml:lang", h.Lang},
	} {
		if a.value != "" {
			dst = appendAttr(dst, a.name, a.value)
		}
	}
	return append(dst, '>')
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = appendEscaped(dst, value, true)
	return append(dst, '\'')
}

// appendEscaped is the one XML escaper, shared with the element
// serializer.
func appendEscaped(dst []byte, s string, attr bool) []byte { return stanza.AppendEscaped(dst, s, attr) }

// parseHeader parses the prolog and the root start tag at b[0].
func (d *Decoder) parseHeader(b []byte) (int, error) {
	p := &d.p
	p.reset()
	// RFC 6120 11.6: only UTF-8. A UTF-16 stream starts with a byte order
	// mark or has a zero byte next to its first '<'.
	if b[0] == 0xFE || b[0] == 0xFF || b[0] == 0 || b[0] == '<' && len(b) > 1 && b[1] == 0 {
		return 0, errEncoding("only UTF-8 is allowed")
	}
	i := 0
	if d.restarted {
		// Whitespace between the last element of the stream that ended and
		// the new header separates first-level elements of the old stream
		// (RFC 6120 11.7): a client that ends <auth/> with a newline sends
		// it before it knows that the stream restarts.
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			return 0, errIncomplete
		}
	}
	// XML 1.0 2.8: the XML declaration, if any, is the very first thing of
	// the stream's document; every stream, restarts included, may start
	// with one (RFC 6120 11.5, 4.3.3). Anywhere else "<?" is a processing
	// instruction and refused below.
	const decl = "<?xml"
	switch rest := b[i:]; {
	case len(rest) <= len(decl) && string(rest) == decl[:len(rest)]:
		return 0, errIncomplete
	case bytes.HasPrefix(rest, []byte(decl)) && (isSpace(rest[len(decl)]) || rest[len(decl)] == '?'):
		n, err := xmlDecl(rest)
		if err != nil {
			return 0, err
		}
		i += n
	}
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) {
		return 0, errIncomplete
	}
	if b[i] != '<' {
		return 0, errNotWellFormed("character data before the stream header")
	}
	if i+1 >= len(b) {
		return 0, errIncomplete
	}
	switch b[i+1] {
	case '?':
		return 0, errRestricted("processing instructions are not allowed")
	case '!':
		switch k := bang(b[i+2:]); k {
		case bangCDATA:
			return 0, errNotWellFormed("character data before the stream header")
		default:
			return 0, bangError(k)
		}
	case '/':
		return 0, errNotWellFormed("end tag before the stream header")
	}
	return d.rootTag(b, i)
}

// xmlDecl parses XMLDecl (XML 1.0 2.8) at b[0].
func xmlDecl(b []byte) (int, error) {
	bad := func() (int, error) { return 0, errNotWellFormed("malformed XML declaration") }
	i := len("<?xml")
	seen := 0 // 1: version, 2: encoding, 3: standalone
	for {
		ws := i
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return 0, errIncomplete
		}
		if b[i] == '?' {
			if i+1 >= len(b) {
				return 0, errIncomplete
			}
			if b[i+1] != '>' || seen == 0 {
				return bad()
			}
			return i + 2, nil
		}
		if i == ws {
			return bad()
		}
		s := i
		for i < len(b) && b[i] >= 'a' && b[i] <= 'z' && i-s < 16 {
			i++
		}
		if i >= len(b) {
			return 0, errIncomplete
		}
		name := string(b[s:i])
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return 0, errIncomplete
		}
		if b[i] != '=' {
			return bad()
		}
		for i++; i < len(b) && isSpace(b[i]); i++ {
		}
		if i >= len(b) {
			return 0, errIncomplete
		}
		q := b[i]
		if q != '\'' && q != '"' {
			return bad()
		}
		i++
		// Every value (VersionNum, EncName, yes|no) is made of these
		// characters; stopping at any other keeps the declaration from
		// running past the "?>" the finder saw.
		vs := i
		for i < len(b) && b[i] != q && i-vs < 64 && declValue(b[i]) {
			i++
		}
		if i >= len(b) {
			return 0, errIncomplete
		}
		if b[i] != q {
			return bad()
		}
		val := b[vs:i]
		i++
		switch {
		case name == "version" && seen == 0:
			// VersionNum ::= '1.' [0-9]+
			if len(val) < 3 || val[0] != '1' || val[1] != '.' || !allDigits(val[2:]) {
				return bad()
			}
			seen = 1
		case name == "encoding" && seen == 1:
			if !encName(val) {
				return bad()
			}
			// RFC 6120 11.6: implementations MUST NOT use any encoding
			// other than UTF-8; close with <unsupported-encoding/>.
			if !bytes.EqualFold(val, []byte("UTF-8")) {
				return 0, errEncoding("only UTF-8 is allowed")
			}
			seen = 2
		case name == "standalone" && (seen == 1 || seen == 2):
			// RFC 6120 11.5: a receiver MUST either ignore the standalone
			// declaration or close the stream; it is ignored.
			if string(val) != "yes" && string(val) != "no" {
				return bad()
			}
			seen = 3
		default:
			return bad()
		}
	}
}

func declValue(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// encName is EncName (XML 1.0 4.3.3): [A-Za-z] ([A-Za-z0-9._] | '-')*.
func encName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// rootTag parses the root start tag at b[i] and sets up the stream scope.
func (d *Decoder) rootTag(b []byte, i int) (int, error) {
	p := &d.p
	j, err := p.tag(b, i)
	if err != nil {
		return 0, err
	}
	def, err := p.declare(b, sref{})
	if err != nil {
		return 0, err
	}
	var space sref
	if p.tqc < 0 {
		space = def
	} else {
		s, ok := p.resolve(b, p.tqi, p.tqc)
		if !ok {
			return 0, errNotWellFormed("undeclared namespace prefix")
		}
		space = s
	}
	// RFC 6120 4.8.1: the root MUST be qualified by the stream namespace;
	// otherwise close with <invalid-namespace/> (4.9.3.10).
	if !p.refIs(space, stanza.NSStream) {
		return 0, &StreamError{Condition: InvalidNamespace, Text: "the stream root must be in the stream namespace"}
	}
	local := b[p.tqi:p.tqj]
	if p.tqc >= 0 {
		local = b[p.tqc+1 : p.tqj]
	}
	if string(local) != "stream" {
		return 0, &StreamError{Condition: BadFormat, Text: "the stream root must be <stream/>"}
	}
	var blob string
	if len(p.blob) > 0 {
		blob = string(p.blob)
	}
	h := Header{}
	// RFC 6120 4.8.2-4.8.3: the content namespace is never the stream
	// namespace; a server supports jabber:client and jabber:server and MAY
	// refuse others, closing with <invalid-namespace/>.
	switch {
	case p.refIs(def, stanza.NSStream):
		// Prefix-free style: children name their own namespace, and an
		// undeclared one inherits the stream namespace.
	case p.refIs(def, stanza.NSClient), p.refIs(def, stanza.NSServer), p.refIs(def, ""),
		p.refIs(def, stanza.NSComponent): // XEP-0114 3
		h.DefaultNS = p.str(def, blob)
	default:
		return 0, &StreamError{Condition: InvalidNamespace, Text: "unsupported content namespace"}
	}
	// Attributes and declarations, in document order.
	prefixed := 0
	for k := range p.raw {
		r := &p.raw[k]
		value := p.str(r.val, blob)
		switch {
		case r.kind == attrDefNS:
			continue
		case r.kind == attrNS:
			pre := b[r.qc+1 : r.qj]
			if string(pre) == "xml" || p.tqc >= 0 && string(pre) == string(b[p.tqi:p.tqc]) {
				continue
			}
			h.Attr = append(h.Attr, stanza.Attr{Name: stanza.Name{Space: NSXMLNS, Local: string(pre)}, Value: value})
		case r.qc < 0:
			switch name := string(b[r.qi:r.qj]); name {
			case "to":
				h.To = value
			case "from":
				h.From = value
			case "id":
				h.ID = value
			case "version":
				h.Version = value
			default:
				h.Attr = append(h.Attr, stanza.Attr{Name: stanza.Name{Local: name}, Value: value})
			}
		default:
			s, ok := p.resolve(b, int(r.qi), int(r.qc))
			if !ok {
				return 0, errNotWellFormed("undeclared namespace prefix")
			}
			prefixed++
			space := p.str(s, blob)
			local := string(b[r.qc+1 : r.qj])
			if space == stanza.NSXML && local == "lang" {
				h.Lang = value
				continue
			}
			h.Attr = append(h.Attr, stanza.Attr{Name: stanza.Name{Space: space, Local: local}, Value: value})
		}
	}
	if prefixed > 1 {
		// Namespaces in XML 1.0, 6.3: no two attributes with the same
		// expanded name (xml:lang is always unique by its raw name).
		for x := range h.Attr {
			for y := x + 1; y < len(h.Attr); y++ {
				if h.Attr[x].Name.Space != "" && h.Attr[x].Name.Space != NSXMLNS && h.Attr[x].Name == h.Attr[y].Name {
					return 0, errNotWellFormed("duplicate attribute")
				}
			}
		}
	}

	// The stream scope: the header's declarations apply to every
	// first-level element (Namespaces in XML 1.0, section 6.1).
	p.dyn = p.dyn[:0]
	p.hdrNS = p.hdrNS[:0]
	fix := func(r sref) sref {
		if r.off < 0 {
			return r
		}
		if r.off == r.end {
			return sref{}
		}
		s := blob[r.off:r.end]
		if k := lookup(p.blob[r.off:r.end]); k >= 0 {
			return internRef(k)
		}
		p.dyn = append(p.dyn, s)
		return internRef(len(internStr) + len(p.dyn) - 1)
	}
	for _, nd := range p.ns {
		p.hdrNS = append(p.hdrNS, hdrDecl{prefix: string(b[nd.pi:nd.pj]), uri: fix(nd.uri)})
	}
	p.hdrDef = fix(def)
	p.rootQ = append([]byte(nil), b[p.tqi:p.tqj]...)
	d.hdr = h
	return j, nil
}
