package xmlstream

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// FuzzDecoder checks, for any input, that the decoder
//   - never panics;
//   - never returns an element or header beyond its limits;
//   - gives the same events and the same final error whether the bytes
//     come all at once, one per Read or in halves (so the finder and the
//     parser agree);
//   - round-trips what it accepts: AppendXML then decoding again gives the
//     same tree.
//
// Its seed corpus lives in testdata/fuzz/FuzzDecoder: valid streams and one
// input per error class.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte(decl + hdrC + smallMessage + StreamCloseTag))
	f.Add([]byte(hdrC + richMessage))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxStanza: 2048, MaxDepth: 8, MaxAttrs: 8, MaxHeader: 1024}
		whole := fuzzRun(t, bytes.NewReader(data), lim, true)
		split := fuzzRun(t, iotest.OneByteReader(bytes.NewReader(data)), lim, false)
		if whole != split {
			t.Fatalf("read sizes change the result:\nwhole:\n%s\none byte:\n%s", whole, split)
		}
		half := fuzzRun(t, iotest.HalfReader(bytes.NewReader(data)), lim, false)
		if whole != half {
			t.Fatalf("read sizes change the result:\nwhole:\n%s\nhalf:\n%s", whole, half)
		}
	})
}

func fuzzRun(t *testing.T, r io.Reader, lim Limits, roundTrip bool) string {
	var b strings.Builder
	d := NewDecoder(r, lim)
	for {
		ev, err := d.Next()
		if err != nil {
			b.WriteString("error " + describeErr(err) + "\n")
			return b.String()
		}
		dumpEvent(&b, ev)
		switch ev.Kind {
		case StreamOpen:
			if ev.Size > lim.MaxHeader {
				t.Fatalf("header of %d bytes, limit %d", ev.Size, lim.MaxHeader)
			}
		case Element:
			el := ev.Element
			if ev.Size > lim.MaxStanza {
				t.Fatalf("element of %d bytes, limit %d", ev.Size, lim.MaxStanza)
			}
			if depth := depthOf(el); depth > lim.MaxDepth {
				t.Fatalf("element of depth %d, limit %d", depth, lim.MaxDepth)
			}
			if roundTrip {
				checkRoundTrip(t, el)
			}
			// Exercise restarts the way a server would.
			if el.Name.Local == "starttls" || el.Name.Local == "success" {
				b.WriteString("-- restart --\n")
				d.Restart()
			}
		}
	}
}

func depthOf(e *stanza.Element) int {
	max := 0
	for _, n := range e.Children {
		if c, ok := n.(*stanza.Element); ok {
			if d := depthOf(c); d > max {
				max = d
			}
		}
		if _, ok := n.(stanza.CharData); ok && string(n.(stanza.CharData)) == "" {
			panic("empty text node")
		}
	}
	return max + 1
}

func checkRoundTrip(t *testing.T, el *stanza.Element) {
	t.Helper()
	out := el.AppendXML([]byte(hdrC), stanza.NSClient)
	d := NewDecoder(bytes.NewReader(out), Limits{MaxStanza: 1 << 20, MaxDepth: 64, MaxAttrs: 256})
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	ev, err := d.Next()
	if err != nil {
		t.Fatalf("re-decoding %q: %v", out, err)
	}
	if !reflect.DeepEqual(el, ev.Element) {
		t.Fatalf("round trip changed the element:\n%s\n%s", dumpString(el), dumpString(ev.Element))
	}
	// No two adjacent text nodes: serialisation would merge them.
	var walk func(*stanza.Element)
	walk = func(e *stanza.Element) {
		for i, n := range e.Children {
			if c, ok := n.(*stanza.Element); ok {
				walk(c)
			} else if i > 0 {
				if _, ok := e.Children[i-1].(stanza.CharData); ok {
					t.Fatalf("adjacent text nodes in %s", dumpString(e))
				}
			}
		}
	}
	walk(el)
}

func dumpString(e *stanza.Element) string {
	var b strings.Builder
	dumpElement(&b, e, "")
	return b.String()
}

// TestFuzzCorpusClasses checks that the seed corpus covers what it claims:
// each error class at least once, and valid streams.
func TestFuzzCorpusClasses(t *testing.T) {
	seeds := fuzzSeeds()
	want := map[string]bool{
		"EOF": false, "unexpected EOF": false,
		"stream-error not-well-formed": false, "stream-error restricted-xml": false,
		"stream-error unsupported-encoding": false, "stream-error policy-violation": false,
		"stream-error bad-namespace-prefix": false, "stream-error invalid-namespace": false,
		"stream-error bad-format": false,
	}
	lim := Limits{MaxStanza: 2048, MaxDepth: 8, MaxAttrs: 8, MaxHeader: 1024}
	for name, s := range seeds {
		got := fuzzRun(t, strings.NewReader(s), lim, true)
		last := got[strings.LastIndex(got[:len(got)-1], "\n")+1:]
		end := strings.TrimSuffix(strings.TrimPrefix(last, "error "), "\n")
		if _, ok := want[end]; !ok {
			t.Errorf("seed %s ends with %q", name, end)
		}
		want[end] = true
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no seed ends with %s", k)
		}
	}
}

// fuzzSeeds are the inputs of testdata/fuzz/FuzzDecoder, by file name.
// TestFuzzSeedFiles keeps the directory in step with this list.
func fuzzSeeds() map[string]string {
	deep := strings.Repeat("<a>", 9) + strings.Repeat("</a>", 9)
	return map[string]string{
		"valid-client":      decl + hdrC + smallMessage + "\n " + richMessage + `<presence/>` + StreamCloseTag,
		"valid-restart":     decl + hdrC + `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` + decl + hdrC + `<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`,
		"valid-dialback":    `<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><db:result from='a' to='b'>k</db:result></stream:stream>`,
		"valid-prefix-free": `<stream xmlns='http://etherx.jabber.org/streams'><message xmlns='jabber:client'><body>a<![CDATA[<b>]]>&#x1F600;&amp;</body></message><features/></stream>`,
		"valid-escapes":     hdrC + "<m a='x\ty&#10;&lt;' xmlns:p='urn:p' p:b='&quot;'>a\r\nb&#13;]]&gt;<p:c xmlns=''/></m>",
		"doctype":           decl + `<!DOCTYPE stream [<!ENTITY x "y">]>`,
		"comment":           hdrC + `<message><!-- hidden --></message>`,
		"pi":                hdrC + `<?php echo 1 ?>`,
		"entity":            hdrC + `<message><body>&foo;</body></message>`,
		"bad-char-ref":      hdrC + `<message><body>&#0;</body></message>`,
		"mismatched":        hdrC + `<message><body></message>`,
		"unclosed":          hdrC + `<message><body>hi`,
		"undeclared-prefix": hdrC + `<message><foo:body/></message>`,
		"prefixed-content":  hdrC + `<c:message xmlns:c='jabber:client'/>`,
		"wrong-root-ns":     `<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong.example/'>`,
		"latin1":            `<?xml version='1.0' encoding='ISO-8859-1'?>` + hdrC,
		"invalid-utf8":      hdrC + "<m>\xff\xfe</m>",
		"control-char":      hdrC + "<m>\x01</m>",
		"depth-bomb":        hdrC + deep,
		"too-many-attrs":    hdrC + `<m a='1' b='2' c='3' d='4' e='5' f='6' g='7' h='8' i='9'/>`,
		"oversize":          hdrC + "<m>" + strings.Repeat("x", 3000) + "</m>",
		"text-at-top":       hdrC + `<presence/>hello`,
		"eof-at-boundary":   hdrC + `<presence/>  `,
	}
}

// TestFuzzSeedFiles writes or checks the seed corpus files.
func TestFuzzSeedFiles(t *testing.T) {
	for name, s := range fuzzSeeds() {
		path := "testdata/fuzz/FuzzDecoder/" + name
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if *update {
			if err := writeFile(path, want); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := readFile(path)
		if err != nil || got != want {
			t.Errorf("%s is missing or stale (run go test -update): %v", path, err)
		}
	}
}
