package s2s

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

func keyServer(t testing.TB, secret string) *Server {
	s, err := New(Config{
		Domains: []string{"example.org"}, TLS: &tls.Config{}, Router: newRecRouter(t),
		Resolver: newResolver(), DialbackSecret: []byte(secret),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The worked examples of XEP-0185 3 and XEP-0220 2.1.1 / 2.2.2.
func TestDialbackKeyVectors(t *testing.T) {
	for _, tc := range []struct {
		secret, receiving, originating, id, key string
	}{
		{"s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F", "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"},
		{"s3cr3tf0rd14lb4ck", "montague.example", "capulet.example", "D60000229F", "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3"},
		{"d14lb4ck43v3r", "capulet.example", "montague.example", "417GAF25", "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d"},
	} {
		s := keyServer(t, tc.secret)
		if got := s.dialbackKey(tc.receiving, tc.originating, tc.id); got != tc.key {
			t.Errorf("key(%s, %s, %s) = %s, want %s", tc.receiving, tc.originating, tc.id, got, tc.key)
		}
		if !s.checkKey(tc.receiving, tc.originating, tc.id, "\n  "+tc.key+"\n") {
			t.Error("checkKey refuses the key with whitespace around it")
		}
		if s.checkKey(tc.originating, tc.receiving, tc.id, tc.key) {
			t.Error("checkKey accepts the key with the domains swapped")
		}
		if s.checkKey(tc.receiving, tc.originating, tc.id, strings.ToUpper(tc.key[:10])+tc.key[10:]) {
			t.Error("checkKey accepts a different string")
		}
	}
}

func TestAppendDB(t *testing.T) {
	for _, tc := range []struct {
		d    dbElem
		want string
	}{
		{dbElem{from: "a.example", to: "b.example", key: "k"}, `<db:result from='a.example' to='b.example'>k</db:result>`},
		{dbElem{from: "a.example", to: "b.example", typ: "valid"}, `<db:result from='a.example' to='b.example' type='valid'/>`},
		{dbElem{verify: true, from: "a.example", to: "b.example", id: "x'y", typ: "invalid"}, `<db:verify from='a.example' to='b.example' id='x&apos;y' type='invalid'/>`},
		{dbElem{from: "a.example", to: "b.example", typ: "error", cond: stanza.ItemNotFound},
			`<db:result from='a.example' to='b.example' type='error'><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></db:result>`},
	} {
		if got := string(appendDB(nil, tc.d)); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
		back := decodeDB(t, string(appendDB(nil, tc.d)))
		if back == nil {
			t.Fatalf("%s does not decode", appendDB(nil, tc.d))
		}
		d, ok := parseDB(back)
		tc.d.id = map[bool]string{true: tc.d.id, false: ""}[tc.d.verify]
		if !ok || d != tc.d {
			t.Errorf("round trip: %+v, want %+v", d, tc.d)
		}
	}
}

// decodeDB reads one element as a server stream would deliver it.
func decodeDB(t testing.TB, el string) *stanza.Element {
	in := `<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>` + el
	d := xmlstream.NewDecoder(strings.NewReader(in), xmlstream.Limits{MaxStanza: 64 << 10})
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	ev, err := d.Next()
	if err != nil || ev.Kind != xmlstream.Element {
		return nil
	}
	return ev.Element
}

// FuzzDialback feeds dialback elements through the parser and the
// writer: nothing panics, and what we write reads back the same.
func FuzzDialback(f *testing.F) {
	for _, s := range []string{
		`<db:result from='capulet.example' to='montague.example'>b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3</db:result>`,
		`<db:result from='montague.example' to='capulet.example' type='valid'/>`,
		`<db:result from='montague.example' to='capulet.example' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>`,
		`<db:verify from='capulet.example' id='417GAF25' to='montague.example'>225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d</db:verify>`,
		`<db:verify from='a' id='&apos;&amp;' to='b' type='invalid'>x<y/>z</db:verify>`,
		`<db:verify/>`,
		`<db:other from='a'/>`,
		`<result xmlns='jabber:server:dialback' from='a' to='b' type='error'><error><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></result>`,
	} {
		f.Add(s)
	}
	s := keyServer(f, "fuzz")
	f.Fuzz(func(t *testing.T, in string) {
		el := decodeDB(t, in)
		if el == nil {
			return
		}
		d, ok := parseDB(el)
		if !ok {
			return
		}
		s.checkKey(d.from, d.to, d.id, d.key)
		out := appendDB(nil, d)
		back := decodeDB(t, string(out))
		if back == nil {
			t.Fatalf("%q: we wrote %q, which does not decode", in, out)
		}
		d2, ok := parseDB(back)
		if !ok || d2.verify != d.verify || d2.typ != d.typ {
			t.Fatalf("%q: %+v became %+v", in, d, d2)
		}
		if clean(d.from) && clean(d.to) && clean(d.id) && clean(d.key) && d.typ != "error" && (d.verify || d.id == "") && d2 != d {
			t.Fatalf("%q: %+v became %+v", in, d, d2)
		}
	})
}

// clean: no character appendText rewrites and no whitespace that parsing
// would normalize or trim.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' {
			return false
		}
	}
	return true
}
