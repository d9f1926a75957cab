package xmlstream

import "unicode/utf8"

// Byte classes. One table keeps the hot loops to a single load per byte.
const (
	cText      = 1 << iota // ends a run of plain character data
	cAttr                  // ends a run of plain attribute value
	cName                  // ASCII NameChar other than ':'
	cNameStart             // ASCII NameStartChar other than ':'
	cSpace                 // XML S: #x20 | #x9 | #xD | #xA
	cCData                 // ends a run of plain CDATA section content
)

var class [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		var k uint8
		switch {
		case c >= 0x80:
			k |= cText | cAttr
		case c < 0x20 && c != '\t' && c != '\n':
			// Control characters are not XML Chars (XML 1.0 2.2); \r is
			// normalised (XML 1.0 2.11).
			k |= cText | cAttr
		}
		if k&cText != 0 || c == ']' {
			k |= cCData
		}
		switch c {
		case '<', '&', ']':
			k |= cText
		}
		switch c {
		case '<', '&', '\'', '"', '\t', '\n':
			k |= cAttr
		}
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
			k |= cName | cNameStart
		case c >= '0' && c <= '9', c == '-', c == '.':
			k |= cName
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			k |= cSpace
		}
		class[c] = k
	}
}

func isSpace(c byte) bool { return class[c]&cSpace != 0 }

// isChar reports whether r matches the Char production of XML 1.0 2.2.
func isChar(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// isNameStartRune is NameStartChar (XML 1.0 2.3) for non-ASCII runes.
func isNameStartRune(r rune) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

// isNameRune is NameChar (XML 1.0 2.3) for non-ASCII runes.
func isNameRune(r rune) bool {
	return isNameStartRune(r) || r == 0xB7 || (r >= 0x300 && r <= 0x36F) || (r >= 0x203F && r <= 0x2040)
}

// char validates the non-ASCII character at b[i] and returns its width.
func char(b []byte, i int) (int, error) {
	if !utf8.FullRune(b[i:]) {
		return 0, errIncomplete
	}
	r, w := utf8.DecodeRune(b[i:])
	if r == utf8.RuneError && w == 1 {
		return 0, errEncoding("invalid UTF-8")
	}
	if r == 0xFFFE || r == 0xFFFF {
		// Legal UTF-8, but not an XML Char (XML 1.0 2.2).
		return 0, errNotWellFormed("character not allowed in XML")
	}
	return w, nil
}

// qname scans a QName (Namespaces in XML 1.0, section 4) at b[i]: a Name
// with at most one colon, neither first nor last, whose local part starts
// with a NameStartChar. It returns the colon's index (-1 if none) and the
// index of the first byte after the name.
func qname(b []byte, i int) (colon, end int, err error) {
	colon = -1
	start := i
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			k := class[c]
			if k&cName != 0 {
				if (i == start || i == colon+1) && k&cNameStart == 0 {
					return 0, 0, errNotWellFormed("invalid name")
				}
				i++
				continue
			}
			if c == ':' {
				if i == start || colon >= 0 {
					return 0, 0, errNotWellFormed("invalid qualified name")
				}
				colon = i
				i++
				continue
			}
			break
		}
		if !utf8.FullRune(b[i:]) {
			return 0, 0, errIncomplete
		}
		r, w := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && w == 1 {
			return 0, 0, errEncoding("invalid UTF-8")
		}
		if i == start || i == colon+1 {
			if !isNameStartRune(r) {
				return 0, 0, errNotWellFormed("invalid name")
			}
		} else if !isNameRune(r) {
			return 0, 0, errNotWellFormed("invalid name")
		}
		i += w
	}
	if i >= len(b) {
		return 0, 0, errIncomplete
	}
	if i == start {
		return 0, 0, errNotWellFormed("expected a name")
	}
	if colon == i-1 {
		return 0, 0, errNotWellFormed("invalid qualified name")
	}
	return colon, i, nil
}
