package delivery

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// readStream parses raw as a client stream under lim would.
func readStream(t *testing.T, raw string, lim xmlstream.Limits) *stanza.Element {
	t.Helper()
	d := xmlstream.NewDecoder(strings.NewReader(storedPrefix+raw), lim)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	ev, err := d.Next()
	if err != nil {
		t.Fatalf("the stream refused the stanza: %v", err)
	}
	return ev.Element
}

// padTo grows the body of a message so that the whole stanza is n bytes.
func padTo(head string, n int) string {
	const tail = "</body></message>"
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// The longest full JID RFC 7622 allows: 1023 bytes per part.
var longFrom = strings.Repeat("l", 1023) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + "/" + strings.Repeat("'", 1023)

// Everything a stream accepts, once the server has stamped its 'from' and
// serialized it, is read back by ParseStanza under StoredLimits: the
// largest stanza, the most attributes (plain and prefixed), the deepest
// nesting, under the default and raised limits.
func TestStoredReadsWhatStreamsAccept(t *testing.T) {
	def := xmlstream.Limits{}
	big := xmlstream.Limits{MaxStanza: 1 << 20, MaxDepth: 40, MaxAttrs: 100}
	attrs := func(n int, prefixed bool) string {
		var b strings.Builder
		b.WriteString("<message to='bob@example.org' type='chat'")
		k := n - 2
		if prefixed {
			b.WriteString(" xmlns:p='urn:example:attributes'")
			k--
		}
		for i := range k {
			if prefixed {
				fmt.Fprintf(&b, " p:a%d='v'", i)
			} else {
				fmt.Fprintf(&b, " a%d='v'", i)
			}
		}
		b.WriteString("><body>hi</body></message>")
		return b.String()
	}
	nested := func(depth int) string {
		return "<message to='bob@example.org'><body>hi</body>" + strings.Repeat("<x xmlns='urn:example:x'>", depth-1) +
			strings.Repeat("</x>", depth-1) + "</message>"
	}
	cases := []struct {
		name string
		lim  xmlstream.Limits
		raw  string
	}{
		{"largest stanza", def, padTo("<message to='bob@example.org' type='chat' id='m1'><body>", xmlstream.DefaultMaxStanza)},
		{"largest stanza, raised limit", big, padTo("<message to='bob@example.org'><body>", 1<<20)},
		{"300 KB, raised limit", big, padTo("<message to='bob@example.org'><body>", 300_000)},
		{"most attributes", def, attrs(xmlstream.DefaultMaxAttrs, false)},
		{"most prefixed attributes", def, attrs(xmlstream.DefaultMaxAttrs, true)},
		{"most prefixed attributes, raised limit", big, attrs(100, true)},
		{"deepest", def, nested(xmlstream.DefaultMaxDepth)},
		{"deepest, raised limit", big, nested(40)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			el := readStream(t, tc.raw, tc.lim)
			el.Set("from", longFrom) // RFC 6120 8.1.2.1
			raw, ok := FitsStored(el, StoredLimits(tc.lim))
			if !ok {
				t.Fatalf("a stanza the stream accepted does not fit in storage (%d bytes)", len(raw))
			}
			back, err := ParseStanza(raw, StoredLimits(tc.lim))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(MarshalStanza(back), raw) || back.Get("from") != longFrom {
				t.Fatal("the stanza read back differs from the one stored")
			}
		})
	}
}

// What serializing inflates past the headroom (here, character data of
// raw '>' that must be escaped) does not fit, and the store must refuse
// it; ParseStanza reports the limit as a stream error.
func TestStoredRefusesWhatCannotBeReadBack(t *testing.T) {
	el := readStream(t, "<message to='bob@example.org'><body>"+strings.Repeat(">", 200_000)+"</body></message>", xmlstream.Limits{})
	raw, ok := FitsStored(el, StoredLimits(xmlstream.Limits{}))
	if ok {
		t.Fatalf("%d bytes fit under a %d-byte limit", len(raw), StoredLimits(xmlstream.Limits{}).MaxStanza)
	}
	_, err := ParseStanza(raw, StoredLimits(xmlstream.Limits{}))
	if se, isSE := err.(*xmlstream.StreamError); !isSE || se.Condition != xmlstream.PolicyViolation {
		t.Fatalf("err = %v, want a policy-violation stream error", err)
	}
	if _, err := ParseStanza(nil, xmlstream.Limits{}); err != ErrNoStanza {
		t.Fatalf("empty input: %v", err)
	}
}

// A stanza with the most attributes a stream accepts, stamped with its
// sender's 'from', reaches a session on another node.
func TestClusterForwardsMostAttributes(t *testing.T) {
	net := newFakeNet()
	a, b := net.add("a"), net.add("b")
	net.connect(a, b)
	bob := bindAt(t, b, "bob@example.org/work", p(0))
	var raw strings.Builder
	raw.WriteString("<message to='bob@example.org/work' type='chat'")
	for i := range xmlstream.DefaultMaxAttrs - 2 {
		fmt.Fprintf(&raw, " a%d='v'", i)
	}
	raw.WriteString("><body>many</body></message>")
	el := readStream(t, raw.String(), xmlstream.Limits{})
	el.Set("from", "alice@example.org/home")
	a.r.Route(el, jid.MustParse("alice@example.org/home"), jid.MustParse("bob@example.org/work"))
	if got := bob.Take(); len(got) != 1 || !strings.Contains(got[0], "many") {
		t.Fatalf("bob got %q", got)
	}
}

// Whatever a stream accepts and the store admits (FitsStored) reads back
// to the same serialization: storage loses nothing it admitted.
func FuzzStoredRoundTrip(f *testing.F) {
	f.Add("<message to='bob@example.org'><body>hi</body></message>")
	f.Add("<message xmlns:p='urn:x' p:a='1' p:b='&apos;'><body>&gt;&lt;&amp;</body><x xmlns='urn:y'><p:z/></x></message>")
	f.Add("<presence><status>\r\n\t'\"</status></presence>")
	f.Fuzz(func(t *testing.T, raw string) {
		lim := xmlstream.Limits{MaxStanza: 4096, MaxDepth: 8, MaxAttrs: 8}
		d := xmlstream.NewDecoder(strings.NewReader(storedPrefix+raw), lim)
		if _, err := d.Next(); err != nil {
			return
		}
		ev, err := d.Next()
		if err != nil || ev.Kind != xmlstream.Element {
			return
		}
		el := ev.Element
		el.Set("from", "alice@example.org/r'&<")
		b, ok := FitsStored(el, StoredLimits(lim))
		if !ok {
			if len(b) <= StoredLimits(lim).MaxStanza {
				_, err := ParseStanza(b, StoredLimits(lim))
				t.Fatalf("refused %d bytes within the size limit: %v\n%s", len(b), err, b)
			}
			return
		}
		back, err := ReadStored(b, StoredLimits(lim))
		if err != nil {
			t.Fatal(err)
		}
		if again := MarshalStanza(back); !bytes.Equal(again, b) {
			t.Fatalf("round trip changed the stanza:\n%s\n%s", b, again)
		}
	})
}

// refusingOffline refuses every message with err.
type refusingOffline struct{ err error }

func (o refusingOffline) Store(jid.JID, *stanza.Element) error { return o.err }

// A message refused as too large is bounced without its payload
// (RFC 6120 8.3.1); other refusals keep it.
func TestOfflineRefusalBounce(t *testing.T) {
	for _, tc := range []struct {
		err     error
		cond    stanza.Condition
		payload bool
	}{
		{fmt.Errorf("%w: %w", ErrTooLarge, stanza.NewError(stanza.NotAcceptable, "too large")), stanza.NotAcceptable, false},
		{stanza.NewError(stanza.ServiceUnavailable, "full"), stanza.ServiceUnavailable, true},
	} {
		f := newFixture(t)
		f.r.Offline = refusingOffline{tc.err}
		a := f.connect(t, "alice@example.org/a", p(0))
		f.route(msg("alice@example.org/a", "bob@example.org", "chat", "hello"))
		got := a.Take()
		if len(got) != 1 || !strings.Contains(got[0], string(tc.cond)) || strings.Contains(got[0], "hello") != tc.payload {
			t.Errorf("%v: alice got %q", tc.err, got)
		}
	}
}
