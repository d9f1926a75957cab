package stanza

import (
	"reflect"
	"testing"
)

func TestAttributes(t *testing.T) {
	lang := Attr{Name: Name{Space: NSXML, Local: "lang"}, Value: "en"}
	foreign := Attr{Name: Name{Space: "urn:example", Local: "to"}, Value: "foreign"}
	for _, c := range []struct {
		name  string
		attrs []Attr
		do    func(e *Element)
		want  []Attr
	}{
		{"set adds", nil, func(e *Element) { e.Set("to", "a") },
			[]Attr{{Name{Local: "to"}, "a"}}},
		{"set replaces in place", []Attr{{Name{Local: "to"}, "a"}, {Name{Local: "id"}, "1"}},
			func(e *Element) { e.Set("to", "b") },
			[]Attr{{Name{Local: "to"}, "b"}, {Name{Local: "id"}, "1"}}},
		{"set leaves namespaced ones alone", []Attr{foreign}, func(e *Element) { e.Set("to", "b") },
			[]Attr{foreign, {Name{Local: "to"}, "b"}}},
		{"set to empty keeps the attribute", []Attr{{Name{Local: "id"}, "1"}}, func(e *Element) { e.Set("id", "") },
			[]Attr{{Name{Local: "id"}, ""}}},
		{"del removes", []Attr{{Name{Local: "to"}, "a"}, {Name{Local: "id"}, "1"}},
			func(e *Element) { e.Del("to") }, []Attr{{Name{Local: "id"}, "1"}}},
		{"del of a missing one", []Attr{{Name{Local: "id"}, "1"}}, func(e *Element) { e.Del("to") },
			[]Attr{{Name{Local: "id"}, "1"}}},
		{"del ignores namespaced ones", []Attr{foreign, lang}, func(e *Element) { e.Del("to"); e.Del("lang") },
			[]Attr{foreign, lang}},
	} {
		e := &Element{Attr: append([]Attr(nil), c.attrs...)}
		c.do(e)
		if !reflect.DeepEqual(e.Attr, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, e.Attr, c.want)
		}
	}
}

func TestDelKeepsSharedAttributes(t *testing.T) {
	orig := NewElement(NSClient, "message").Set("to", "a").Set("from", "b").Set("id", "1")
	cp := orig.ShallowCopy()
	cp.Del("to")
	cp.Set("from", "c")
	if got := orig.String(); got != `<message xmlns="jabber:client" to="a" from="b" id="1"/>` {
		t.Errorf("the original changed: %s", got)
	}
	if got := cp.String(); got != `<message xmlns="jabber:client" from="c" id="1"/>` {
		t.Errorf("copy: %s", got)
	}
}

func TestGetHasLang(t *testing.T) {
	e := &Element{Attr: []Attr{
		{Name{Space: "urn:example", Local: "type"}, "foreign"},
		{Name{Local: "type"}, "chat"},
		{Name{Local: "id"}, ""},
		{Name{Space: NSXML, Local: "lang"}, "de"},
	}}
	for _, c := range []struct {
		local string
		get   string
		has   bool
	}{
		{"type", "chat", true},
		{"id", "", true},
		{"to", "", false},
		{"lang", "", false}, // xml:lang is not the plain attribute "lang"
	} {
		if got := e.Get(c.local); got != c.get {
			t.Errorf("Get(%q) = %q, want %q", c.local, got, c.get)
		}
		if got := e.Has(c.local); got != c.has {
			t.Errorf("Has(%q) = %v, want %v", c.local, got, c.has)
		}
	}
	if got := e.Lang(); got != "de" {
		t.Errorf("Lang() = %q", got)
	}
	if got := NewElement(NSClient, "message").Lang(); got != "" {
		t.Errorf("Lang() without xml:lang = %q", got)
	}
}

func TestChildren(t *testing.T) {
	body := NewElement(NSClient, "body").AppendText("hi")
	foreignBody := NewElement("urn:example", "body")
	x := NewElement("jabber:x:oob", "x")
	e := NewElement(NSClient, "message").Append(CharData("  "), foreignBody, body, CharData("tail"), x)

	for _, c := range []struct {
		space, local string
		want         *Element
	}{
		{NSClient, "body", body},
		{"urn:example", "body", foreignBody},
		{"", "body", foreignBody}, // any namespace: the first in order
		{"", "x", x},
		{NSClient, "x", nil},
		{"", "subject", nil},
	} {
		if got := e.Child(c.space, c.local); got != c.want {
			t.Errorf("Child(%q, %q) = %v, want %v", c.space, c.local, got, c.want)
		}
	}
	if got := e.Elements(); !reflect.DeepEqual(got, []*Element{foreignBody, body, x}) {
		t.Errorf("Elements() = %v", got)
	}
	if got := e.FirstElement(); got != foreignBody {
		t.Errorf("FirstElement() = %v", got)
	}
	if got := e.Text(); got != "  tail" {
		t.Errorf("Text() = %q, want only the direct character data", got)
	}
	empty := NewElement(NSClient, "presence")
	if empty.FirstElement() != nil || empty.Elements() != nil || empty.Text() != "" || empty.Child("", "x") != nil {
		t.Error("an empty element has children")
	}
}

func TestCopyIsDeep(t *testing.T) {
	orig := NewElement(NSClient, "message").Set("to", "a").
		Append(NewElement(NSClient, "body").AppendText("hi").Set("k", "v"))
	want := orig.String()
	cp := orig.Copy()
	if !reflect.DeepEqual(cp, orig) {
		t.Fatalf("copy differs: %s", cp)
	}
	cp.Set("to", "b")
	cp.FirstElement().Set("k", "w").AppendText("!")
	cp.Append(NewElement(NSClient, "thread"))
	if got := orig.String(); got != want {
		t.Errorf("changing the copy changed the original: %s", got)
	}
	if got := (&Element{}).Copy(); got.Attr != nil || got.Children != nil {
		t.Errorf("copy of an empty element: %#v", got)
	}
}

func TestAppendXML(t *testing.T) {
	for _, c := range []struct {
		name   string
		el     *Element
		parent string
		want   string
	}{
		{"same namespace as the stream", NewElement(NSClient, "presence"), NSClient, `<presence/>`},
		{"own namespace declared", NewElement(NSClient, "presence"), "", `<presence xmlns="jabber:client"/>`},
		{"server stream", NewElement(NSClient, "presence"), NSServer, `<presence xmlns="jabber:client"/>`},
		{"child inherits", NewElement(NSClient, "message").Append(NewElement(NSClient, "body").AppendText("hi")),
			NSClient, `<message><body>hi</body></message>`},
		{"child in another namespace", NewElement(NSClient, "iq").Append(NewElement("urn:xmpp:ping", "ping")),
			NSClient, `<iq><ping xmlns="urn:xmpp:ping"/></iq>`},
		{"grandchild back in the stream namespace",
			NewElement(NSClient, "message").Append(NewElement("urn:example", "x").Append(NewElement(NSClient, "body"))),
			NSClient, `<message><x xmlns="urn:example"><body xmlns="jabber:client"/></x></message>`},
		{"no namespace under a default one", NewElement(NSClient, "message").Append(NewElement("", "x")),
			NSClient, `<message><x xmlns=""/></message>`},
		{"attributes in order, escaped", NewElement(NSClient, "message").Set("to", `a"b`).Set("id", "<&>"),
			NSClient, `<message to="a&quot;b" id="&lt;&amp;&gt;"/>`},
		{"xml:lang", &Element{Name: Name{NSClient, "message"}, Attr: []Attr{{Name{NSXML, "lang"}, "en"}}},
			NSClient, `<message xml:lang="en"/>`},
		{"namespaced attributes get numbered prefixes",
			&Element{Name: Name{NSClient, "message"}, Attr: []Attr{
				{Name{"urn:a", "x"}, "1"}, {Name{Local: "id"}, "2"}, {Name{"urn:b", "y"}, "3"}}},
			NSClient, `<message xmlns:ns1="urn:a" ns1:x="1" id="2" xmlns:ns2="urn:b" ns2:y="3"/>`},
		{"namespace URI escaped", NewElement(`urn:a&"b`, "x"), NSClient, `<x xmlns="urn:a&amp;&quot;b"/>`},
		{"text escaped", NewElement(NSClient, "body").AppendText(`<a href="x">'&'</a>`),
			NSClient, `<body>&lt;a href="x"&gt;'&amp;'&lt;/a&gt;</body>`},
		{"text nodes kept apart", NewElement(NSClient, "body").AppendText("a").AppendText("b"),
			NSClient, `<body>ab</body>`},
		{"empty text is still content", NewElement(NSClient, "body").AppendText(""), NSClient, `<body></body>`},
	} {
		if got := string(c.el.AppendXML(nil, c.parent)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	// AppendXML appends.
	if got := string(NewElement(NSClient, "a").AppendXML([]byte("x"), NSClient)); got != "x<a/>" {
		t.Errorf("AppendXML does not append: %q", got)
	}
}

func TestAppendEscaped(t *testing.T) {
	for _, c := range []struct {
		in         string
		text, attr string
	}{
		{"", "", ""},
		{"plain", "plain", "plain"},
		{"<>&", "&lt;&gt;&amp;", "&lt;&gt;&amp;"},
		{`"'`, `"'`, "&quot;&apos;"},
		// Line ends and tabs: literal in text (the parser would fold a
		// literal CR into LF, 2.11), character references in attributes
		// (3.3.3 would normalise them to spaces).
		{"a\nb\tc", "a\nb\tc", "a&#10;b&#9;c"},
		{"a\rb", "a&#13;b", "a&#13;b"},
		{"a\r\nb", "a&#13;\nb", "a&#13;&#10;b"},
		// Characters XML 1.0 cannot carry (2.2) become U+FFFD.
		{"a\x00b\x01\x1fc", "a\uFFFDb\uFFFD\uFFFDc", "a\uFFFDb\uFFFD\uFFFDc"},
		{"\uFFFE\uFFFF", "\uFFFD\uFFFD", "\uFFFD\uFFFD"},
		{"bad \xff\xfe utf-8", "bad \uFFFD\uFFFD utf-8", "bad \uFFFD\uFFFD utf-8"},
		{"truncated \xe2\x82", "truncated \uFFFD\uFFFD", "truncated \uFFFD\uFFFD"},
		{"surrogate \xed\xa0\x80", "surrogate \uFFFD\uFFFD\uFFFD", "surrogate \uFFFD\uFFFD\uFFFD"},
		// Everything else passes as it is.
		{"héllo €𝄞 \u007f\u0085 \uFFFD", "héllo €𝄞 \u007f\u0085 \uFFFD", "héllo €𝄞 \u007f\u0085 \uFFFD"},
		{"]]>", "]]&gt;", "]]&gt;"},
	} {
		if got := string(AppendEscaped(nil, c.in, false)); got != c.text {
			t.Errorf("text %q: got %q, want %q", c.in, got, c.text)
		}
		if got := string(AppendEscaped(nil, c.in, true)); got != c.attr {
			t.Errorf("attr %q: got %q, want %q", c.in, got, c.attr)
		}
	}
	if got := string(AppendEscaped([]byte("<x>"), "&", false)); got != "<x>&amp;" {
		t.Errorf("AppendEscaped does not append: %q", got)
	}
}
