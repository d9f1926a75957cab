package xmlstream

import (
	"bytes"
	"unicode/utf8"
)

// Character data, CDATA sections, references and attribute values: the
// parts of a unit whose bytes are copied, unescaped, into the string block.

// What follows "<!".
const (
	bangIncomplete = iota
	bangComment
	bangCDATA
	bangDecl  // <!DOCTYPE, <!ENTITY, ...
	bangOther // anything else
)

func bang(rest []byte) int {
	const cd, cm = "[CDATA[", "--"
	switch {
	case bytes.HasPrefix(rest, []byte(cd)):
		return bangCDATA
	case bytes.HasPrefix(rest, []byte(cm)):
		return bangComment
	case len(rest) == 0 || len(rest) < len(cd) && string(rest) == cd[:len(rest)] ||
		len(rest) < len(cm) && string(rest) == cm[:len(rest)]:
		return bangIncomplete
	case rest[0] >= 'A' && rest[0] <= 'Z':
		return bangDecl
	}
	return bangOther
}

func bangError(k int) error {
	switch k {
	case bangIncomplete:
		return errIncomplete
	case bangComment:
		return errRestricted("comments are not allowed")
	case bangDecl:
		return errRestricted("document type and markup declarations are not allowed")
	}
	return errNotWellFormed("invalid markup")
}

// cdata handles "<!" inside an element: a CDATA section (XML 1.0 2.7),
// which RFC 6120 11.1 does not prohibit, or a restricted construct.
func (p *parser) cdata(b []byte, i int) (int, error) {
	if k := bang(b[i+2:]); k != bangCDATA {
		return 0, bangError(k)
	}
	start := len(p.blob)
	j := i + 2 + len("[CDATA[")
	for {
		s := j
		for j < len(b) && class[b[j]]&cCData == 0 {
			j++
		}
		p.blob = append(p.blob, b[s:j]...)
		if j >= len(b) {
			return 0, errIncomplete
		}
		switch c := b[j]; {
		case c == ']':
			if len(b)-j < 3 {
				if string(b[j:]) == "]]>"[:len(b)-j] {
					return 0, errIncomplete
				}
			} else if b[j+1] == ']' && b[j+2] == '>' {
				p.addText(start)
				return j + 3, nil
			}
			p.blob = append(p.blob, ']')
			j++
		case c == '\r':
			if j+1 >= len(b) {
				return 0, errIncomplete
			}
			if b[j+1] == '\n' {
				j++
			}
			p.blob = append(p.blob, '\n')
			j++
		case c >= utf8.RuneSelf:
			w, err := char(b, j)
			if err != nil {
				return 0, err
			}
			p.blob = append(p.blob, b[j:j+w]...)
			j += w
		default:
			return 0, errNotWellFormed("character not allowed in XML")
		}
	}
}

// text reads character data up to the next '<'.
func (p *parser) text(b []byte, i int) (int, error) {
	start := len(p.blob)
	for {
		s := i
		for i < len(b) && class[b[i]]&cText == 0 {
			i++
		}
		p.blob = append(p.blob, b[s:i]...)
		if i >= len(b) {
			return 0, errIncomplete
		}
		switch c := b[i]; {
		case c == '<':
			p.addText(start)
			return i, nil
		case c == '&':
			var err error
			if i, err = p.ref(b, i); err != nil {
				return 0, err
			}
		case c == '\r':
			// XML 1.0 2.11: "\r\n" and a lone "\r" become "\n".
			if i+1 >= len(b) {
				return 0, errIncomplete
			}
			if b[i+1] == '\n' {
				i++
			}
			p.blob = append(p.blob, '\n')
			i++
		case c == ']':
			// XML 1.0 2.4: "]]>" must not appear in content.
			if i+1 >= len(b) {
				return 0, errIncomplete
			}
			if b[i+1] == ']' {
				if i+2 >= len(b) {
					return 0, errIncomplete
				}
				if b[i+2] == '>' {
					return 0, errNotWellFormed("']]>' in character data")
				}
			}
			p.blob = append(p.blob, ']')
			i++
		case c >= utf8.RuneSelf:
			w, err := char(b, i)
			if err != nil {
				return 0, err
			}
			p.blob = append(p.blob, b[i:i+w]...)
			i += w
		default:
			return 0, errNotWellFormed("character not allowed in XML")
		}
	}
}

// addText records blob[start:] as character data of the open element,
// merging it with a directly preceding text node (text around a CDATA
// section is one node, as it is after serialisation).
func (p *parser) addText(start int) {
	if len(p.blob) == start {
		return
	}
	parent := p.stack[len(p.stack)-1].el
	if n := len(p.nodes); n > 0 {
		last := &p.nodes[n-1]
		if last.el < 0 && last.parent == parent && int(last.text.end) == start {
			last.text.end = int32(len(p.blob))
			return
		}
	}
	p.nodes = append(p.nodes, xnode{parent: parent, el: -1, text: sref{int32(start), int32(len(p.blob))}})
	p.els[parent].nchild++
}

// ref decodes the reference at b[i] == '&' into the blob. Only character
// references and the five predefined entities are allowed.
func (p *parser) ref(b []byte, i int) (int, error) {
	const maxRef = 32
	j := i + 1
	if j >= len(b) {
		return 0, errIncomplete
	}
	if b[j] == '#' {
		// XML 1.0 4.1 CharRef.
		j++
		base := uint32(10)
		if j < len(b) && b[j] == 'x' {
			base = 16
			j++
		}
		var v uint32
		digits := 0
		for ; ; j++ {
			if j >= len(b) {
				return 0, errIncomplete
			}
			c := b[j]
			if c == ';' {
				break
			}
			var d uint32
			switch {
			case c >= '0' && c <= '9':
				d = uint32(c - '0')
			case base == 16 && c >= 'a' && c <= 'f':
				d = uint32(c-'a') + 10
			case base == 16 && c >= 'A' && c <= 'F':
				d = uint32(c-'A') + 10
			default:
				return 0, errNotWellFormed("malformed character reference")
			}
			if digits++; digits > maxRef {
				return 0, errNotWellFormed("malformed character reference")
			}
			if v <= utf8.MaxRune {
				v = v*base + d
			}
		}
		if digits == 0 {
			return 0, errNotWellFormed("malformed character reference")
		}
		// XML 1.0 4.1 WFC Legal Character.
		if v > utf8.MaxRune || !isChar(rune(v)) {
			return 0, errNotWellFormed("reference to a character not allowed in XML")
		}
		p.blob = utf8.AppendRune(p.blob, rune(v))
		return j + 1, nil
	}
	// XML 1.0 4.1 EntityRef: '&' Name ';'.
	k := j
	for ; ; k++ {
		if k >= len(b) {
			return 0, errIncomplete
		}
		c := b[k]
		if c == ';' {
			break
		}
		if k-j >= maxRef {
			return 0, errNotWellFormed("malformed entity reference")
		}
		if c < utf8.RuneSelf && class[c]&cName == 0 && c != ':' ||
			k == j && c < utf8.RuneSelf && class[c]&cNameStart == 0 && c != ':' {
			return 0, errNotWellFormed("malformed entity reference")
		}
	}
	var c byte
	switch string(b[j:k]) {
	case "lt":
		c = '<'
	case "gt":
		c = '>'
	case "amp":
		c = '&'
	case "apos":
		c = '\''
	case "quot":
		c = '"'
	case "":
		return 0, errNotWellFormed("malformed entity reference")
	default:
		// RFC 6120 11.1: entity references other than the predefined
		// entities (XML 1.0 4.6) are restricted XML.
		return 0, errRestricted("entity references other than the predefined entities are not allowed")
	}
	p.blob = append(p.blob, c)
	return k + 1, nil
}

// attrValue reads an attribute value up to the closing quote q, applying
// the normalisation of XML 1.0 3.3.3 for CDATA attributes (every attribute
// is CDATA without a DTD): literal whitespace becomes a space.
func (p *parser) attrValue(b []byte, i int, q byte) (int, error) {
	for {
		s := i
		for i < len(b) && class[b[i]]&cAttr == 0 {
			i++
		}
		p.blob = append(p.blob, b[s:i]...)
		if i >= len(b) {
			return 0, errIncomplete
		}
		switch c := b[i]; {
		case c == q:
			return i + 1, nil
		case c == '\'' || c == '"':
			p.blob = append(p.blob, c)
			i++
		case c == '&':
			var err error
			if i, err = p.ref(b, i); err != nil {
				return 0, err
			}
		case c == '<':
			// XML 1.0 3.1 WFC No < in Attribute Values.
			return 0, errNotWellFormed("'<' in attribute value")
		case c == '\t' || c == '\n':
			p.blob = append(p.blob, ' ')
			i++
		case c == '\r':
			if i+1 >= len(b) {
				return 0, errIncomplete
			}
			if b[i+1] == '\n' {
				i++
			}
			p.blob = append(p.blob, ' ')
			i++
		case c >= utf8.RuneSelf:
			w, err := char(b, i)
			if err != nil {
				return 0, err
			}
			p.blob = append(p.blob, b[i:i+w]...)
			i += w
		default:
			return 0, errNotWellFormed("character not allowed in XML")
		}
	}
}
