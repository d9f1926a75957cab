package xmlstream

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

func TestDecodeMessage(t *testing.T) {
	in := decl + hdrC + `<message to='b@x' type='chat' id='x1' xml:lang='en'><body>hi</body></message></stream:stream>`
	d := NewDecoder(strings.NewReader(in), Limits{})
	ev, err := d.Next()
	if err != nil || ev.Kind != StreamOpen {
		t.Fatal(ev, err)
	}
	want := Header{To: "example.com", Version: "1.0", DefaultNS: stanza.NSClient}
	if !reflect.DeepEqual(ev.Header, want) {
		t.Errorf("header = %+v, want %+v", ev.Header, want)
	}
	ev, err = d.Next()
	if err != nil || ev.Kind != Element {
		t.Fatal(ev, err)
	}
	wantEl := &stanza.Element{
		Name: stanza.Name{Space: stanza.NSClient, Local: "message"},
		Attr: []stanza.Attr{
			{Name: stanza.Name{Local: "to"}, Value: "b@x"},
			{Name: stanza.Name{Local: "type"}, Value: "chat"},
			{Name: stanza.Name{Local: "id"}, Value: "x1"},
			{Name: stanza.Name{Space: stanza.NSXML, Local: "lang"}, Value: "en"},
		},
		Children: []stanza.Node{
			&stanza.Element{Name: stanza.Name{Space: stanza.NSClient, Local: "body"}, Children: []stanza.Node{stanza.CharData("hi")}},
		},
	}
	if !reflect.DeepEqual(ev.Element, wantEl) {
		t.Errorf("element = %s, want %s", ev.Element, wantEl)
	}
	if ev.Size != len(`<message to='b@x' type='chat' id='x1' xml:lang='en'><body>hi</body></message>`) {
		t.Errorf("size = %d", ev.Size)
	}
	if ev.Element.Lang() != "en" {
		t.Errorf("lang = %q", ev.Element.Lang())
	}
	if ev, err = d.Next(); err != nil || ev.Kind != StreamClose {
		t.Fatal(ev, err)
	}
	for range 2 {
		if _, err = d.Next(); err != io.EOF {
			t.Fatalf("after close: %v, want io.EOF", err)
		}
	}
}

func TestDecodeContent(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"entities", `<m a='&lt;&gt;&amp;&apos;&quot;'>&lt;&gt;&amp;&apos;&quot;</m>`,
			`{jabber:client}m @{}a="<>&'\"" "<>&'\""`},
		{"char refs", `<m a='&#65;&#x42;'>&#x1F600;&#233;</m>`, `{jabber:client}m @{}a="AB" "😀é"`},
		{"cdata merges with text", `<m>a<![CDATA[<b>&amp;]]]]>c</m>`, `{jabber:client}m "a<b>&amp;]]c"`},
		{"empty cdata", `<m>a<![CDATA[]]>b</m>`, `{jabber:client}m "ab"`},
		{"line ends in text", "<m>a\r\nb\rc\n</m>", `{jabber:client}m "a\nb\nc\n"`},
		{"line ends in cdata", "<m><![CDATA[a\r\nb\r]]></m>", `{jabber:client}m "a\nb\n"`},
		{"attribute normalisation", "<m a='x\ty\nz\r\nw' b='&#9;&#10;&#13;'/>", `{jabber:client}m @{}a="x y z w" @{}b="\t\n\r"`},
		{"quotes inside values", `<m a="it's" b='say "hi"'/>`, `{jabber:client}m @{}a="it's" @{}b="say \"hi\""`},
		{"gt and lone brackets", `<m a='a>b'>]x]]x>y</m>`, `{jabber:client}m @{}a="a>b" "]x]]x>y"`},
		{"whitespace kept inside", "<m>\n  <b/> \n</m>", `{jabber:client}m "\n  " {jabber:client}b " \n"`},
		{"namespaces", `<m xmlns:p='urn:p'><p:x p:a='1' a='2'><y/></p:x><z xmlns='urn:z'><w xmlns=''/></z></m>`,
			`{jabber:client}m {urn:p}x @{urn:p}a="1" @{}a="2" {jabber:client}y {urn:z}z {}w`},
		{"prefix shadowing", `<m xmlns:p='urn:1'><p:a xmlns:p='urn:2'/><p:b/></m>`, `{jabber:client}m {urn:2}a {urn:1}b`},
		{"stream prefix from header", `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`,
			`{http://etherx.jabber.org/streams}features {urn:ietf:params:xml:ns:xmpp-tls}starttls {urn:ietf:params:xml:ns:xmpp-tls}required`},
		{"spaces in tags", "<m  a = 'b'\n\t></m >", `{jabber:client}m @{}a="b"`},
		{"xml prefix declared legally", `<m xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='de'/>`,
			`{jabber:client}m @{http://www.w3.org/XML/1998/namespace}lang="de"`},
		{"non-ASCII names", `<ñ:é xmlns:ñ='urn:ñ' ü='1'>ok</ñ:é>`, `{urn:ñ}é @{}ü="1" "ok"`},
		{"U+FEFF is a character", "<m>\uFEFF</m>", `{jabber:client}m "\ufeff"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for rname, r := range readers(hdrC + tt.in) {
				d := NewDecoder(r, Limits{})
				if _, err := d.Next(); err != nil {
					t.Fatal(err)
				}
				ev, err := d.Next()
				if err != nil {
					t.Fatalf("%s: %v", rname, err)
				}
				if got := flat(ev.Element); got != tt.want {
					t.Errorf("%s:\n got %s\nwant %s", rname, got, tt.want)
				}
				if ev.Size != len(tt.in) {
					t.Errorf("%s: size %d, want %d", rname, ev.Size, len(tt.in))
				}
			}
		})
	}
}

// flat renders an element on one line for table tests.
func flat(e *stanza.Element) string {
	var parts []string
	var walk func(*stanza.Element)
	walk = func(e *stanza.Element) {
		parts = append(parts, "{"+e.Name.Space+"}"+e.Name.Local)
		for _, a := range e.Attr {
			parts = append(parts, "@{"+a.Name.Space+"}"+a.Name.Local+"="+quote(a.Value))
		}
		for _, n := range e.Children {
			switch c := n.(type) {
			case *stanza.Element:
				walk(c)
			case stanza.CharData:
				parts = append(parts, quote(string(c)))
			}
		}
	}
	walk(e)
	return strings.Join(parts, " ")
}

// quote is strconv.Quote without escaping printable non-ASCII.
func quote(s string) string {
	q := []byte{'"'}
	for _, r := range s {
		switch r {
		case '"':
			q = append(q, '\\', '"')
		case '\\':
			q = append(q, '\\', '\\')
		case '\n':
			q = append(q, '\\', 'n')
		case '\r':
			q = append(q, '\\', 'r')
		case '\t':
			q = append(q, '\\', 't')
		case '\uFEFF':
			q = append(q, `\ufeff`...)
		default:
			q = append(q, string(r)...)
		}
	}
	return string(append(q, '"'))
}

// TestErrors runs every error class through every reader: the condition
// must not depend on how the bytes were split.
func TestErrors(t *testing.T) {
	const ok = Condition("")
	deep := strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40)
	var many strings.Builder
	many.WriteString("<m")
	for i := range 65 {
		many.WriteString(" a" + strings.Repeat("x", i) + "='1'")
	}
	many.WriteString("/>")
	tests := []struct {
		name string
		in   string // a whole stream; "H" at the start stands for hdrC
		cond Condition
		eof  bool // want io.ErrUnexpectedEOF instead of a stream error
	}{
		// RFC 6120 11.1: restricted XML.
		{"doctype", decl + `<!DOCTYPE stream:stream>`, RestrictedXML, false},
		{"doctype after header start", "H<!DOCTYPE x>", RestrictedXML, false},
		{"entity declaration", "H<message><!ENTITY x 'y'></message>", RestrictedXML, false},
		{"processing instruction", "H<?pi data?>", RestrictedXML, false},
		{"processing instruction in stanza", "H<message><?pi?></message>", RestrictedXML, false},
		{"processing instruction before header", decl + "<?pi?>" + hdrC, RestrictedXML, false},
		{"xml declaration not first", " " + decl + hdrC, RestrictedXML, false},
		{"xml declaration twice", decl + decl + hdrC, RestrictedXML, false},
		{"comment in stanza", "H<message><!-- c --></message>", RestrictedXML, false},
		{"comment between stanzas", "H<!-- c --><presence/>", RestrictedXML, false},
		{"comment before header", decl + "<!-- c -->" + hdrC, RestrictedXML, false},
		{"undeclared entity", "H<message><body>&foo;</body></message>", RestrictedXML, false},
		{"undeclared entity in attribute", "H<message to='&nbsp;'/>", RestrictedXML, false},
		// XML well-formedness (RFC 6120 11.3).
		{"empty entity", "H<m>&;</m>", NotWellFormed, false},
		{"bare ampersand", "H<m>a & b</m>", NotWellFormed, false},
		{"malformed char ref", "H<m>&#xZZ;</m>", NotWellFormed, false},
		{"empty char ref", "H<m>&#;</m>", NotWellFormed, false},
		{"char ref to NUL", "H<m>&#0;</m>", NotWellFormed, false},
		{"char ref to surrogate", "H<m>&#xD800;</m>", NotWellFormed, false},
		{"char ref beyond Unicode", "H<m>&#x110000;</m>", NotWellFormed, false},
		{"char ref overflow", "H<m>&#99999999999999999999;</m>", NotWellFormed, false},
		{"char ref to FFFE", "H<m>&#xFFFE;</m>", NotWellFormed, false},
		{"mismatched end tag", "H<message><body></message>", NotWellFormed, false},
		{"end tag longer", "H<message></messagex>", NotWellFormed, false},
		{"end tag shorter", "H<message></messag>", NotWellFormed, false},
		{"end tag with prefix", "H<message></stream:message>", NotWellFormed, false},
		{"wrong stream end tag", "H</stream:foo>", NotWellFormed, false},
		{"stream end tag without prefix", "H</stream>", NotWellFormed, false},
		{"control character", "H<m>\x01</m>", NotWellFormed, false},
		{"NUL character", "H<m>\x00</m>", NotWellFormed, false},
		{"control in attribute", "H<m a='\x07'/>", NotWellFormed, false},
		{"U+FFFE", "H<m>\xEF\xBF\xBE</m>", NotWellFormed, false},
		{"cdata end in text", "H<m>a]]>b</m>", NotWellFormed, false},
		{"lt in attribute", "H<m a='<'/>", NotWellFormed, false},
		{"unquoted attribute", "H<m a=b/>", NotWellFormed, false},
		{"attribute without value", "H<m a/>", NotWellFormed, false},
		{"no space between attributes", "H<m a='1'b='2'/>", NotWellFormed, false},
		{"duplicate attribute", "H<m a='1' a='2'/>", NotWellFormed, false},
		{"duplicate expanded attribute", "H<m xmlns:p='u' xmlns:q='u' p:a='1' q:a='2'/>", NotWellFormed, false},
		{"duplicate xmlns", "H<m xmlns='a' xmlns='b'/>", NotWellFormed, false},
		{"slash space gt", "H<m/ >", NotWellFormed, false},
		{"bad name start", "H<1m/>", NotWellFormed, false},
		{"two colons", "H<a:b:c xmlns:a='u'/>", NotWellFormed, false},
		{"trailing colon", "H<a: xmlns:a='u'/>", NotWellFormed, false},
		{"leading colon", "H<:a/>", NotWellFormed, false},
		{"local starts with digit", "H<a:1 xmlns:a='u'/>", NotWellFormed, false},
		{"space after lt", "H< m/>", NotWellFormed, false},
		{"bogus markup", "H<m><!x></m>", NotWellFormed, false},
		{"cdata unterminated then eof", "H<m><![CDATA[abc", ok, true},
		// Namespaces in XML (RFC 6120 11.3 rule 4 and 4.9.3.13's example).
		{"undeclared element prefix", "H<message><foo:body/></message>", NotWellFormed, false},
		{"undeclared attribute prefix", "H<message foo:a='1'/>", NotWellFormed, false},
		{"xmlns prefix on element", "H<xmlns:m/>", NotWellFormed, false},
		{"empty prefix declaration", "H<m xmlns:p=''/>", NotWellFormed, false},
		{"rebinding xml", "H<m xmlns:xml='urn:x'/>", NotWellFormed, false},
		{"declaring xmlns", "H<m xmlns:xmlns='urn:x'/>", NotWellFormed, false},
		{"binding the xml namespace", "H<m xmlns:p='http://www.w3.org/XML/1998/namespace'/>", NotWellFormed, false},
		{"default xml namespace", "H<m xmlns='http://www.w3.org/XML/1998/namespace'/>", NotWellFormed, false},
		{"binding the xmlns namespace", "H<m xmlns:p='http://www.w3.org/2000/xmlns/'/>", NotWellFormed, false},
		// RFC 6120 4.8.5.
		{"prefixed jabber:client", "H<c:message xmlns:c='jabber:client'/>", BadNamespacePrefix, false},
		{"prefixed jabber:server", "H<message><s:x xmlns:s='jabber:server'/></message>", BadNamespacePrefix, false},
		{"xml-prefixed element", "H<xml:m/>", BadNamespacePrefix, false},
		// Stream header (RFC 6120 4.8).
		{"wrong stream namespace", `<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong.namespace.example.org/'>`, InvalidNamespace, false},
		{"root in content namespace", `<stream xmlns='jabber:client'>`, InvalidNamespace, false},
		{"root not stream", `<stream:foo xmlns:stream='http://etherx.jabber.org/streams'>`, BadFormat, false},
		{"unsupported content namespace", `<stream:stream xmlns='jabber:component:connect' xmlns:stream='http://etherx.jabber.org/streams'>`, InvalidNamespace, false},
		{"undeclared stream prefix", `<stream:stream xmlns='jabber:client'>`, NotWellFormed, false},
		{"text before header", `hello` + hdrC, NotWellFormed, false},
		{"utf-8 bom before header", "\xEF\xBB\xBF" + hdrC, NotWellFormed, false},
		{"end tag before header", `</stream:stream>`, NotWellFormed, false},
		{"cdata before header", `<![CDATA[x]]>` + hdrC, NotWellFormed, false},
		{"malformed declaration", `<?xml versio='1.0'?>` + hdrC, NotWellFormed, false},
		{"declaration without version", `<?xml encoding='UTF-8'?>` + hdrC, NotWellFormed, false},
		{"declaration wrong order", `<?xml version='1.0' standalone='yes' encoding='UTF-8'?>` + hdrC, NotWellFormed, false},
		{"declaration bad version", `<?xml version='2.0'?>` + hdrC, NotWellFormed, false},
		{"declaration unterminated", `<?xml version='1.0'` + hdrC, NotWellFormed, false},
		// RFC 6120 11.6 and 4.9.3.22.
		{"latin-1 declared", `<?xml version='1.0' encoding='ISO-8859-1'?>` + hdrC, UnsupportedEncoding, false},
		{"utf-16 declared", `<?xml version='1.0' encoding='UTF-16'?>` + hdrC, UnsupportedEncoding, false},
		{"utf-16 byte order mark", "\xFE\xFF\x00<", UnsupportedEncoding, false},
		{"utf-16 without mark", "<\x00?\x00", UnsupportedEncoding, false},
		{"invalid utf-8 in text", "H<m>\xff</m>", UnsupportedEncoding, false},
		{"invalid utf-8 in attribute", "H<m a='\xc3\x28'/>", UnsupportedEncoding, false},
		{"invalid utf-8 in name", "H<m\xc3\x28/>", UnsupportedEncoding, false},
		{"overlong utf-8", "H<m>\xc0\xaf</m>", UnsupportedEncoding, false},
		{"utf-8 surrogate", "H<m>\xed\xa0\x80</m>", UnsupportedEncoding, false},
		// RFC 6120 11.7: only whitespace between first-level elements.
		{"text between stanzas", "H<presence/>hello", BadFormat, false},
		{"entity between stanzas", "H&amp;", BadFormat, false},
		{"cdata between stanzas", "H<![CDATA[ ]]>", BadFormat, false},
		// Limits (RFC 6120 4.9.3.14).
		{"depth bomb", "H" + deep, PolicyViolation, false},
		{"too many attributes", "H" + many.String(), PolicyViolation, false},
		// Truncation.
		{"unclosed at eof", "H<message><body>hi", ok, true},
		{"eof inside tag", "H<message to='x", ok, true},
		{"eof inside header", `<stream:stream xmlns='jabber:client'`, ok, true},
		{"eof inside declaration", `<?xml version=`, ok, true},
		{"eof after lt", "H<", ok, true},
		{"eof inside entity", "H<m>&am", ok, true},
		{"eof inside multibyte", "H<m>\xc3", ok, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if strings.HasPrefix(in, "H") {
				in = hdrC + in[1:]
			}
			for rname, r := range readers(in) {
				d := NewDecoder(r, Limits{})
				var err error
				for err == nil {
					_, err = d.Next()
				}
				if tt.eof {
					if err != io.ErrUnexpectedEOF {
						t.Errorf("%s: got %v, want io.ErrUnexpectedEOF", rname, err)
					}
					continue
				}
				var se *StreamError
				if !errors.As(err, &se) {
					t.Errorf("%s: got %v, want %s", rname, err, tt.cond)
					continue
				}
				if se.Condition != tt.cond {
					t.Errorf("%s: got %v, want %s", rname, err, tt.cond)
				}
				// Stream errors are final.
				if _, err2 := d.Next(); err2 != err {
					t.Errorf("%s: second Next = %v, want the same error", rname, err2)
				}
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	for _, in := range []string{
		// RFC 6120 11.5: standalone is ignored.
		`<?xml version='1.0' encoding='UTF-8' standalone='no'?>` + hdrC + `</stream:stream>`,
		`<?xml version="1.1" encoding="utf-8"?>` + hdrC + `</stream:stream>`,
		`<?xml version='1.0'  ?>` + "\n\n" + hdrC + `</stream:stream>`,
		// Any prefix for the stream namespace.
		`<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'><s:features/></s:stream>`,
		// Prefix-free canonicalization (RFC 6120 4.8.2).
		`<stream xmlns='http://etherx.jabber.org/streams'><message xmlns='jabber:client'/><features/></stream>`,
		// No content namespace at all.
		`<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><message xmlns='jabber:client'/></stream:stream>`,
		// Whitespace keepalives (RFC 6120 4.6.1).
		hdrC + " \n\t\r\n <presence/>  \n  <presence/>\n</stream:stream>\n",
	} {
		for rname, r := range readers(in) {
			got := transcript(r, Limits{})
			if !strings.HasSuffix(got, "error EOF\n") || !strings.Contains(got, "StreamClose") {
				t.Errorf("%s: %q:\n%s", rname, in, got)
			}
		}
	}
}

func TestPrefixFreeStream(t *testing.T) {
	in := `<stream xmlns='http://etherx.jabber.org/streams'><message xmlns='jabber:client'><body>x</body></message><features/></stream>`
	got := transcript(strings.NewReader(in), Limits{})
	want := `StreamOpen size=49 to="" from="" id="" version="" lang="" default=""
Element size=55
  {jabber:client}message
    {jabber:client}body
      "x"
Element size=11
  {http://etherx.jabber.org/streams}features
StreamClose size=9
error EOF
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestHeaderScope(t *testing.T) {
	// Server Dialback: a prefix declared in the header (RFC 6120 4.8.4).
	in := `<stream:stream from='a.example' to='b.example' xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en' foo='bar'>` +
		`<db:result from='a.example' to='b.example'>key</db:result>`
	d := NewDecoder(strings.NewReader(in), Limits{})
	ev, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		To: "b.example", From: "a.example", Version: "1.0", Lang: "en", DefaultNS: stanza.NSServer,
		Attr: []stanza.Attr{
			{Name: stanza.Name{Space: NSXMLNS, Local: "db"}, Value: "jabber:server:dialback"},
			{Name: stanza.Name{Local: "foo"}, Value: "bar"},
		},
	}
	if !reflect.DeepEqual(ev.Header, want) {
		t.Errorf("header = %+v\nwant %+v", ev.Header, want)
	}
	if !reflect.DeepEqual(d.Header(), want) {
		t.Errorf("Header() = %+v", d.Header())
	}
	ev, err = d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := flat(ev.Element); got != `{jabber:server:dialback}result @{}from="a.example" @{}to="b.example" "key"` {
		t.Errorf("got %s", got)
	}
}

func TestEmptyRoot(t *testing.T) {
	in := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>`
	got := transcript(strings.NewReader(in), Limits{})
	if want := "StreamOpen size=86 to=\"\" from=\"\" id=\"\" version=\"\" lang=\"\" default=\"jabber:client\"\nStreamClose size=0\nerror EOF\n"; got != want {
		t.Errorf("got %q", got)
	}
}

func TestPipelinedAndSplit(t *testing.T) {
	var b strings.Builder
	b.WriteString(decl + hdrC)
	for i := range 200 {
		b.WriteString(richMessage)
		if i%3 == 0 {
			b.WriteString("\n ")
		}
		b.WriteString(smallMessage)
	}
	b.WriteString(StreamCloseTag)
	in := b.String()
	want := transcript(strings.NewReader(in), Limits{})
	if n := strings.Count(want, "Element size="); n != 400 {
		t.Fatalf("decoded %d elements", n)
	}
	for rname, r := range readers(in) {
		if got := transcript(r, Limits{}); got != want {
			t.Errorf("%s differs", rname)
		}
	}
	// Every split point of one stanza.
	unit := hdrC + richMessage + StreamCloseTag
	whole := transcript(strings.NewReader(unit), Limits{})
	for i := 1; i < len(unit); i++ {
		r := &chunkReader{chunks: []string{unit[:i], unit[i:]}}
		if got := transcript(r, Limits{}); got != whole {
			t.Fatalf("split at %d:\n%s", i, got)
		}
	}
}

// timeoutReader fails every other Read with iotest.ErrTimeout.
type timeoutReader struct {
	r    io.Reader
	fail bool
}

func (t *timeoutReader) Read(p []byte) (int, error) {
	t.fail = !t.fail
	if t.fail {
		return 0, iotest.ErrTimeout
	}
	return t.r.Read(p)
}

func TestReadErrorsResume(t *testing.T) {
	in := decl + hdrC + richMessage + " " + smallMessage + StreamCloseTag
	want := transcript(strings.NewReader(in), Limits{})
	d := NewDecoder(&timeoutReader{r: iotest.HalfReader(strings.NewReader(in))}, Limits{})
	var got strings.Builder
	timeouts := 0
	for {
		ev, err := d.Next()
		if err == iotest.ErrTimeout {
			timeouts++
			continue
		}
		if err != nil {
			got.WriteString("error " + describeErr(err) + "\n")
			break
		}
		dumpEvent(&got, ev)
	}
	if got.String() != want {
		t.Errorf("got\n%s\nwant\n%s", got.String(), want)
	}
	if timeouts == 0 {
		t.Error("no timeouts seen")
	}
}

func TestRestart(t *testing.T) {
	// SASL success and the new header in one read (RFC 6120 6.4.6): the
	// bytes after <success/> belong to the new stream.
	in := decl + hdrC + `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>` +
		decl + `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' to='example.com' version='1.0' id='two'>` +
		`<iq type='set' id='b'/>`
	for rname, r := range readers(in) {
		d := NewDecoder(r, Limits{})
		mustKind(t, d, StreamOpen)
		ev := mustKind(t, d, Element)
		if ev.Element.Name.Local != "auth" {
			t.Fatal(ev.Element)
		}
		d.Restart()
		ev = mustKind(t, d, StreamOpen)
		if ev.Header.ID != "two" {
			t.Errorf("%s: header %+v", rname, ev.Header)
		}
		ev = mustKind(t, d, Element)
		if ev.Element.Name != (stanza.Name{Space: stanza.NSClient, Local: "iq"}) {
			t.Errorf("%s: %s", rname, ev.Element)
		}
		if _, err := d.Next(); err != io.EOF {
			t.Errorf("%s: %v", rname, err)
		}
	}
}

func TestRestartForgetsScope(t *testing.T) {
	in := `<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams'><db:verify/>` +
		`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><db:verify/>`
	d := NewDecoder(strings.NewReader(in), Limits{})
	mustKind(t, d, StreamOpen)
	mustKind(t, d, Element)
	d.Restart()
	if ev := mustKind(t, d, StreamOpen); ev.Header.DefaultNS != stanza.NSClient || ev.Header.Attr != nil {
		t.Errorf("header %+v", ev.Header)
	}
	if _, err := d.Next(); !errors.Is(err, NewError(NotWellFormed, "")) {
		t.Errorf("db prefix still declared: %v", err)
	}
}

func TestReset(t *testing.T) {
	// STARTTLS: nothing may be buffered past <starttls/> (RFC 6120 5.4.3.3).
	in := hdrC + `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` + "\n "
	d := NewDecoder(strings.NewReader(in), Limits{})
	mustKind(t, d, StreamOpen)
	mustKind(t, d, Element)
	if err := d.Reset(strings.NewReader(hdrC + `<presence/>`)); err != nil {
		t.Fatal(err)
	}
	if d.buf != nil {
		t.Error("buffer kept across Reset")
	}
	mustKind(t, d, StreamOpen)
	mustKind(t, d, Element)

	// Injected plaintext after <starttls/>.
	in = hdrC + `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='set'/>`
	d = NewDecoder(strings.NewReader(in), Limits{})
	mustKind(t, d, StreamOpen)
	mustKind(t, d, Element)
	if err := d.Reset(strings.NewReader(hdrC)); err != ErrBuffered {
		t.Fatalf("Reset = %v, want ErrBuffered", err)
	}
}

func mustKind(t *testing.T, d *Decoder, k EventKind) Event {
	t.Helper()
	ev, err := d.Next()
	if err != nil {
		t.Fatalf("Next: %v (want %v)", err, k)
	}
	if ev.Kind != k {
		t.Fatalf("got %v, want %v", ev.Kind, k)
	}
	return ev
}

func TestRoundTrip(t *testing.T) {
	for _, s := range []string{
		smallMessage, richMessage,
		`<m xmlns:p='urn:p' p:a='&#10;&#9;&#13;' q='&apos;&quot;'>a&#13;b<![CDATA[]]>]]&gt;<p:x xmlns=''><y xml:lang='en'/></p:x>` + "\u00e9\U0001F600</m>",
		`<iq type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info' node='n'/></iq>`,
		`<x xmlns='urn:a' xmlns:b='urn:b' b:one='1' b:two='2'><b:y b:three='3'/></x>`,
	} {
		el, err := decodeOne(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out := el.AppendXML(nil, stanza.NSClient)
		el2, err := decodeOne(string(out))
		if err != nil {
			t.Fatalf("%s: re-decode %s: %v", s, out, err)
		}
		if !reflect.DeepEqual(el, el2) {
			t.Errorf("round trip changed %s:\n%s\n%s", s, flat(el), flat(el2))
		}
	}
}

// TestElementsAreIndependent checks that elements do not share mutable
// state with the decoder or with each other.
func TestElementsAreIndependent(t *testing.T) {
	in := hdrC + `<message a='1'><body>x</body></message><message a='2'><body>y</body></message>`
	d := NewDecoder(strings.NewReader(in), Limits{})
	mustKind(t, d, StreamOpen)
	first := mustKind(t, d, Element).Element
	first.Set("b", "3") // append to a slab-backed slice
	first.Append(stanza.CharData("z"))
	second := mustKind(t, d, Element).Element
	if got := flat(second); got != `{jabber:client}message @{}a="2" {jabber:client}body "y"` {
		t.Errorf("second = %s", got)
	}
	if got := flat(first); got != `{jabber:client}message @{}a="1" @{}b="3" {jabber:client}body "x" "z"` {
		t.Errorf("first = %s", got)
	}
}
