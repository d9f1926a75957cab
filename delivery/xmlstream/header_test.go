package xmlstream

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

func TestAppendStreamHeader(t *testing.T) {
	h := Header{
		From: "im.example.com", To: "juliet@im.example.com", ID: "++TR84Sm6A3hnt3Q065SnAbbk3Y=",
		Version: "1.0", Lang: "en", DefaultNS: stanza.NSClient,
	}
	got := string(AppendStreamHeader([]byte("x"), h))
	want := `x<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'` +
		` to='juliet@im.example.com' from='im.example.com' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' version='1.0' xml:lang='en'>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// A response to a 0.9 peer: no version, no to (RFC 6120 4.7.5, 4.7.2).
	got = string(AppendStreamHeader(nil, Header{From: "a", ID: "b", DefaultNS: stanza.NSServer}))
	want = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='a' id='b'>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestStreamHeaderRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{To: "example.com", Version: "1.0", DefaultNS: stanza.NSClient},
		{From: "a.example", To: "b.example", ID: "x'\"<&>\t\n", Version: "1.0", Lang: "en", DefaultNS: stanza.NSServer,
			Attr: []stanza.Attr{
				{Name: stanza.Name{Space: NSXMLNS, Local: "db"}, Value: "jabber:server:dialback"},
				{Name: stanza.Name{Local: "foo"}, Value: "b a r"},
				{Name: stanza.Name{Space: stanza.NSXML, Local: "space"}, Value: "preserve"},
			}},
		{ID: "only-id"},
		{To: "é.example", From: "ü@x", DefaultNS: stanza.NSClient, Lang: "de-CH"},
	} {
		in := AppendStreamHeader(nil, h)
		for rname, r := range readers(string(in)) {
			d := NewDecoder(r, Limits{})
			ev := mustKind(t, d, StreamOpen)
			if !reflect.DeepEqual(ev.Header, h) {
				t.Errorf("%s: %s\n got %+v\nwant %+v", rname, in, ev.Header, h)
			}
			if ev.Size != len(in) {
				t.Errorf("%s: size %d, want %d", rname, ev.Size, len(in))
			}
		}
	}
	// Attributes in another namespace get a declared prefix.
	h := Header{Attr: []stanza.Attr{{Name: stanza.Name{Space: "urn:x", Local: "a"}, Value: "1"}}}
	in := string(AppendStreamHeader(nil, h))
	if !strings.Contains(in, ` xmlns:ns1='urn:x' ns1:a='1'`) {
		t.Errorf("got %s", in)
	}
	d := NewDecoder(strings.NewReader(in), Limits{})
	ev := mustKind(t, d, StreamOpen)
	if len(ev.Header.Attr) != 2 || ev.Header.Attr[1].Name != (stanza.Name{Space: "urn:x", Local: "a"}) {
		t.Errorf("got %+v", ev.Header.Attr)
	}
}

func TestAppendEscaped(t *testing.T) {
	for _, tt := range []struct {
		in         string
		attr, text string
	}{
		{"plain", "plain", "plain"},
		{`<&>'"`, "&lt;&amp;&gt;&apos;&quot;", `&lt;&amp;&gt;'"`},
		{"a\tb\nc\rd", "a&#9;b&#10;c&#13;d", "a\tb\nc&#13;d"},
		{"\x00\x1f\xff\uFFFE\U0001F600", "\uFFFD\uFFFD\uFFFD\uFFFD\U0001F600", "\uFFFD\uFFFD\uFFFD\uFFFD\U0001F600"},
	} {
		if got := string(appendEscaped(nil, tt.in, true)); got != tt.attr {
			t.Errorf("attr %q = %q, want %q", tt.in, got, tt.attr)
		}
		if got := string(appendEscaped(nil, tt.in, false)); got != tt.text {
			t.Errorf("text %q = %q, want %q", tt.in, got, tt.text)
		}
	}
}

// A client that ends <auth/> with a newline and restarts with an XML
// declaration (as clients built on mattn/go-xmpp do) gets its new stream:
// the newline separates elements of the stream that ended (RFC 6120 11.7),
// and every stream may start with a declaration (RFC 6120 11.5). A
// processing instruction stays refused there, and a declaration behind
// whitespace stays refused on a connection's first stream and after TLS.
func TestRestartDeclarationAfterWhitespace(t *testing.T) {
	auth := `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>`
	hdr2 := `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' to='example.com' version='1.0' id='two'>`
	for _, tc := range []struct {
		name, restart string
		cond          Condition // "" when the new stream opens
	}{
		{"newline", "\n" + decl + hdr2, ""},
		{"crlf and spaces", "\r\n \t" + decl + "\n" + hdr2, ""},
		{"no whitespace", decl + hdr2, ""},
		{"no declaration", "\n" + hdr2, ""},
		{"processing instruction", "\n<?pi?>" + hdr2, RestrictedXML},
		{"declaration then processing instruction", "\n" + decl + "<?pi?>" + hdr2, RestrictedXML},
		{"declaration twice", "\n" + decl + decl + hdr2, RestrictedXML},
		{"text", "\nx" + decl + hdr2, NotWellFormed},
	} {
		for rname, r := range readers(decl + hdrC + auth + tc.restart + `<iq type='set' id='b'/>`) {
			d := NewDecoder(r, Limits{})
			mustKind(t, d, StreamOpen)
			mustKind(t, d, Element)
			d.Restart()
			ev, err := d.Next()
			if tc.cond != "" {
				var se *StreamError
				if !errors.As(err, &se) || se.Condition != tc.cond {
					t.Errorf("%s/%s: got %v %v, want %s", tc.name, rname, ev.Kind, err, tc.cond)
				}
				continue
			}
			if err != nil || ev.Kind != StreamOpen || ev.Header.ID != "two" {
				t.Errorf("%s/%s: got %v %+v %v", tc.name, rname, ev.Kind, ev.Header, err)
				continue
			}
			if ev := mustKind(t, d, Element); ev.Element.Name.Local != "iq" {
				t.Errorf("%s/%s: %s", tc.name, rname, ev.Element)
			}
		}
	}

	// The first stream over a new TLS layer is a new document.
	d := NewDecoder(strings.NewReader(hdrC+`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`), Limits{})
	mustKind(t, d, StreamOpen)
	mustKind(t, d, Element)
	if err := d.Reset(strings.NewReader("\n" + decl + hdrC)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); !errors.Is(err, NewError(RestrictedXML, "")) {
		t.Errorf("declaration behind whitespace after TLS: %v", err)
	}
}
