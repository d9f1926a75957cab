package stanza

import (
	"strconv"
	"unicode/utf8"
)

// NSXML is the namespace bound to the reserved "xml" prefix (xml:lang).
const NSXML = "http://www.w3.org/XML/1998/namespace"

// Name is an expanded XML name: a namespace URI and a local name. Prefixes
// do not survive parsing; the serializer chooses its own.
type Name struct {
	Space, Local string
}

// Attr is one attribute. Value holds the unescaped text. Namespace
// declarations (xmlns, xmlns:p) are never stored as attributes.
type Attr struct {
	Name  Name
	Value string
}

// Node is a child of an Element: *Element or CharData.
type Node interface{ isNode() }

// CharData is unescaped character data.
type CharData string

func (CharData) isNode() {}

// Element is a parsed XML element with its children in document order.
// The zero value is an element with no name.
type Element struct {
	Name     Name
	Attr     []Attr
	Children []Node
}

func (*Element) isNode() {}

// NewElement returns an element with the given namespace and local name.
func NewElement(space, local string) *Element {
	return &Element{Name: Name{Space: space, Local: local}}
}

// Get returns the value of the un-namespaced attribute local, or "".
func (e *Element) Get(local string) string {
	for i := range e.Attr {
		if e.Attr[i].Name.Space == "" && e.Attr[i].Name.Local == local {
			return e.Attr[i].Value
		}
	}
	return ""
}

// Has reports whether the un-namespaced attribute local is present.
func (e *Element) Has(local string) bool {
	for i := range e.Attr {
		if e.Attr[i].Name.Space == "" && e.Attr[i].Name.Local == local {
			return true
		}
	}
	return false
}

// Lang returns the xml:lang attribute, or "".
func (e *Element) Lang() string {
	for i := range e.Attr {
		if e.Attr[i].Name.Space == NSXML && e.Attr[i].Name.Local == "lang" {
			return e.Attr[i].Value
		}
	}
	return ""
}

// Set sets the un-namespaced attribute local to value, adding it if
// missing. It returns e for chaining.
func (e *Element) Set(local, value string) *Element {
	for i := range e.Attr {
		if e.Attr[i].Name.Space == "" && e.Attr[i].Name.Local == local {
			e.Attr[i].Value = value
			return e
		}
	}
	e.Attr = append(e.Attr, Attr{Name: Name{Local: local}, Value: value})
	return e
}

// Del removes the un-namespaced attribute local.
func (e *Element) Del(local string) {
	for i := range e.Attr {
		if e.Attr[i].Name.Space == "" && e.Attr[i].Name.Local == local {
			e.Attr = append(e.Attr[:i:i], e.Attr[i+1:]...)
			return
		}
	}
}

// Child returns the first child element with the given name, or nil. An
// empty space matches any namespace.
func (e *Element) Child(space, local string) *Element {
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok && c.Name.Local == local && (space == "" || c.Name.Space == space) {
			return c
		}
	}
	return nil
}

// Elements returns the child elements, skipping character data.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok {
			out = append(out, c)
		}
	}
	return out
}

// FirstElement returns the first child element, or nil.
func (e *Element) FirstElement() *Element {
	for _, n := range e.Children {
		if c, ok := n.(*Element); ok {
			return c
		}
	}
	return nil
}

// Text returns the concatenated character data directly under e.
func (e *Element) Text() string {
	var s string
	for _, n := range e.Children {
		if t, ok := n.(CharData); ok {
			s += string(t)
		}
	}
	return s
}

// Append adds children and returns e for chaining.
func (e *Element) Append(children ...Node) *Element {
	e.Children = append(e.Children, children...)
	return e
}

// AppendText adds character data and returns e.
func (e *Element) AppendText(s string) *Element {
	e.Children = append(e.Children, CharData(s))
	return e
}

// Copy returns a deep copy of e.
func (e *Element) Copy() *Element {
	c := &Element{Name: e.Name}
	if len(e.Attr) > 0 {
		c.Attr = append([]Attr(nil), e.Attr...)
	}
	if len(e.Children) > 0 {
		c.Children = make([]Node, len(e.Children))
		for i, n := range e.Children {
			if ce, ok := n.(*Element); ok {
				c.Children[i] = ce.Copy()
			} else {
				c.Children[i] = n
			}
		}
	}
	return c
}

// ShallowCopy returns a copy of e with its own attribute slice, sharing the
// children. Use it to restamp 'to'/'from' without touching the original.
func (e *Element) ShallowCopy() *Element {
	c := &Element{Name: e.Name, Children: e.Children}
	c.Attr = append(make([]Attr, 0, len(e.Attr)+1), e.Attr...)
	return c
}

// String serializes e with its own namespace declared.
func (e *Element) String() string { return string(e.AppendXML(nil, "")) }

// AppendXML appends the serialization of e to dst. parentSpace is the
// default namespace in scope where e is written (for a stanza on a client
// stream, "jabber:client"); an xmlns attribute is written only when e's
// namespace differs. Namespaced attributes other than xml:* get a generated
// prefix declared on the element itself.
func (e *Element) AppendXML(dst []byte, parentSpace string) []byte {
	dst = append(dst, '<')
	dst = append(dst, e.Name.Local...)
	if e.Name.Space != parentSpace {
		dst = append(dst, ` xmlns="`...)
		dst = AppendEscaped(dst, e.Name.Space, true)
		dst = append(dst, '"')
	}
	np := 0
	for i := range e.Attr {
		a := &e.Attr[i]
		dst = append(dst, ' ')
		switch a.Name.Space {
		case "":
		case NSXML:
			dst = append(dst, "xml:"...)
		default:
			np++
			p := "ns" + strconv.Itoa(np)
			dst = append(dst, "xmlns:"...)
			dst = append(dst, p...)
			dst = append(dst, `="`...)
			dst = AppendEscaped(dst, a.Name.Space, true)
			dst = append(dst, `" `...)
			dst = append(dst, p...)
			dst = append(dst, ':')
		}
		dst = append(dst, a.Name.Local...)
		dst = append(dst, `="`...)
		dst = AppendEscaped(dst, a.Value, true)
		dst = append(dst, '"')
	}
	if len(e.Children) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, n := range e.Children {
		switch c := n.(type) {
		case *Element:
			dst = c.AppendXML(dst, e.Name.Space)
		case CharData:
			dst = AppendEscaped(dst, string(c), false)
		}
	}
	dst = append(dst, "</"...)
	dst = append(dst, e.Name.Local...)
	return append(dst, '>')
}

// AppendEscaped appends s escaped as character data or, with attr, as an
// attribute value in either kind of quotes. A character XML 1.0 cannot
// carry becomes U+FFFD, so the output is always well-formed (RFC 6120
// 11.3).
func AppendEscaped(dst []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		width := 1
		switch {
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '&':
			esc = "&amp;"
		case c == '"' && attr:
			esc = "&quot;"
		case c == '\'' && attr:
			esc = "&apos;"
		case (c == '\n' || c == '\r' || c == '\t') && attr:
			esc = "&#" + strconv.Itoa(int(c)) + ";"
		case c == '\n' || c == '\t':
		case c == '\r':
			esc = "&#13;"
		case c < 0x20:
			esc = "\uFFFD"
		case c >= utf8.RuneSelf:
			r, w := utf8.DecodeRuneInString(s[i:])
			width = w
			if (r == utf8.RuneError && w == 1) || r == 0xFFFE || r == 0xFFFF {
				esc = "\uFFFD"
			}
		}
		if esc != "" {
			dst = append(dst, s[last:i]...)
			dst = append(dst, esc...)
			last = i + width
		}
		i += width
	}
	return append(dst, s[last:]...)
}
