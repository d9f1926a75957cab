package stanza_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// clientHeader opens the client stream the fuzz targets parse stanzas in.
const clientHeader = `<stream:stream to='example.org' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`

// nsXMLNS is the namespace of xmlns declarations, which no element is in.
const nsXMLNS = "http://www.w3.org/2000/xmlns/"

// parse reads one first-level element from a client stream carrying data.
func parse(data []byte, lim xmlstream.Limits) (*stanza.Element, error) {
	d := xmlstream.NewDecoder(bytes.NewReader(append([]byte(clientHeader), data...)), lim)
	if _, err := d.Next(); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	ev, err := d.Next()
	if err != nil {
		return nil, err
	}
	if ev.Kind != xmlstream.Element {
		return nil, fmt.Errorf("got %v, want an element", ev.Kind)
	}
	return ev.Element, nil
}

// reparse serializes el for a client stream and parses it again. What the
// server writes must parse, whatever it holds: the limits are wide (a
// namespaced attribute costs a declaration too) but the depth is el's own.
func reparse(t *testing.T, el *stanza.Element) (*stanza.Element, []byte) {
	t.Helper()
	out := el.AppendXML(nil, stanza.NSClient)
	got, err := parse(out, xmlstream.Limits{MaxStanza: 4*len(out) + 4096, MaxDepth: 64, MaxAttrs: 4096})
	if err != nil {
		t.Fatalf("the serialization does not parse: %v\n%s", err, out)
	}
	return got, out
}

// FuzzRoundTrip: a stanza the stream reader accepts, serialized and parsed
// again, is the same tree, and serializing that gives the same bytes.
// Seeds: testdata/fuzz/FuzzRoundTrip.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(`<message to='b@y' id='1' type='chat'><body>hi &amp; bye</body></message>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := parse(data, xmlstream.Limits{MaxStanza: 1 << 16, MaxDepth: 16, MaxAttrs: 32})
		if err != nil {
			return // not a stanza; the reader's own fuzz target covers its errors
		}
		second, out := reparse(t, first)
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("round trip changed the element:\n%#v\n%#v\nvia %s", first, second, out)
		}
		if again := second.AppendXML(nil, stanza.NSClient); !bytes.Equal(out, again) {
			t.Fatalf("serialization is not stable:\n%s\n%s", out, again)
		}
	})
}

// FuzzEscape: any strings put into an element as attribute values,
// character data and namespace names come back from the stream reader as
// they went in, except for what XML cannot carry (control characters,
// U+FFFE, U+FFFF, bytes that are not UTF-8), which comes back as U+FFFD.
// Seeds: testdata/fuzz/FuzzEscape.
func FuzzEscape(f *testing.F) {
	f.Add("<b@y & 'c'>", "hi\r\n\t]]>", "urn:example", "en")
	f.Fuzz(func(t *testing.T, attr, text, space, lang string) {
		if s := xmlSafe(space); s == stanza.NSXML || s == nsXMLNS {
			space = "urn:example" // reserved: no element is in them
		}
		x := &stanza.Element{Name: stanza.Name{Space: space, Local: "x"}, Attr: []stanza.Attr{
			{Name: stanza.Name{Local: "a"}, Value: attr},
			{Name: stanza.Name{Space: "urn:attr", Local: "a"}, Value: text},
		}}
		x.AppendText(text).Append(stanza.NewElement(stanza.NSClient, "y").AppendText(attr))
		el := stanza.NewElement(stanza.NSClient, "message").Set("to", attr).Set("id", text).Append(x)
		el.Attr = append(el.Attr, stanza.Attr{Name: stanza.Name{Space: stanza.NSXML, Local: "lang"}, Value: lang})

		got, out := reparse(t, el)
		gx := got.FirstElement()
		for _, c := range []struct {
			what, got, want string
		}{
			{"to", got.Get("to"), attr},
			{"id", got.Get("id"), text},
			{"xml:lang", got.Lang(), lang},
			{"namespace", gx.Name.Space, space},
			{"x's attribute", gx.Get("a"), attr},
			{"x's namespaced attribute", gx.Attr[1].Value, text},
			{"x's text", gx.Text(), text},
			{"y's text", gx.Child(stanza.NSClient, "y").Text(), attr},
		} {
			if c.got != xmlSafe(c.want) {
				t.Errorf("%s: put %q, got %q back via %s", c.what, c.want, c.got, out)
			}
		}
	})
}

// xmlSafe is s as XML 1.0 (2.2) can carry it: every character outside
// Char, and every byte that is not part of UTF-8, replaced by U+FFFD.
func xmlSafe(s string) string {
	var b strings.Builder
	for _, r := range s { // an invalid byte arrives as utf8.RuneError
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}
