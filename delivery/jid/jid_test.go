package jid

import (
	"errors"
	"strings"
	"testing"
)

// RFC 7622 3.5, Table 1: a sample of legal JIDs, with the parts we expect
// after preparation.
var rfcValid = []struct {
	n                       int
	in                      string
	local, domain, resource string
}{
	{1, "juliet@example.com", "juliet", "example.com", ""},
	{2, "juliet@example.com/foo", "juliet", "example.com", "foo"},
	{3, "juliet@example.com/foo bar", "juliet", "example.com", "foo bar"},
	{4, "juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar"},
	{5, `foo\20bar@example.com`, `foo\20bar`, "example.com", ""},
	{6, "fussball@example.com", "fussball", "example.com", ""},
	{7, "fu\u00DFball@example.com", "fu\u00DFball", "example.com", ""},
	{8, "\u03C0@example.com", "\u03C0", "example.com", ""},
	{9, "\u03A3@example.com/foo", "\u03C3", "example.com", "foo"},
	{10, "\u03C3@example.com/foo", "\u03C3", "example.com", "foo"},
	{11, "\u03C2@example.com/foo", "\u03C2", "example.com", "foo"},
	{12, "king@example.com/\u265A", "king", "example.com", "\u265A"},
	{13, "example.com", "", "example.com", ""},
	{14, "example.com/foobar", "", "example.com", "foobar"},
	{15, "a.example.com/b@example.net", "", "a.example.com", "b@example.net"},
}

// RFC 7622 3.5, Table 2: strings that violate the JID rules.
var rfcInvalid = []struct {
	n  int
	in string
}{
	{16, `"juliet"@example.com`},
	{17, "foo bar@example.com"},
	{18, "juliet@example.com/ foo"},
	{19, "@example.com/"},
	{20, "henry\u2163@example.com"},
	{21, "\u265A@example.com"},
	{22, "juliet@"},
	{23, "/foobar"},
}

func checkParts(t *testing.T, j JID, local, domain, resource string) {
	t.Helper()
	if j.Local() != local || j.Domain() != domain || j.Resource() != resource {
		t.Errorf("parts of %q = (%q, %q, %q), want (%q, %q, %q)",
			j, j.Local(), j.Domain(), j.Resource(), local, domain, resource)
	}
	want := domain
	if local != "" {
		want = local + "@" + want
	}
	if resource != "" {
		want += "/" + resource
	}
	if j.String() != want {
		t.Errorf("String() = %q, want %q", j, want)
	}
	if j.IsBare() != (resource == "") {
		t.Errorf("%q: IsBare() = %v", j, j.IsBare())
	}
}

func TestRFC7622Examples(t *testing.T) {
	for _, tc := range rfcValid {
		j, err := Parse(tc.in)
		if err != nil {
			t.Errorf("example %d: Parse(%q): %v", tc.n, tc.in, err)
			continue
		}
		checkParts(t, j, tc.local, tc.domain, tc.resource)
	}
	for _, tc := range rfcInvalid {
		if j, err := Parse(tc.in); err == nil {
			t.Errorf("example %d: Parse(%q) = %q, want error", tc.n, tc.in, j)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("example %d: Parse(%q): error %v does not wrap ErrMalformed", tc.n, tc.in, err)
		}
	}
}

// RFC 7622 3.5: examples 9 and 10 are the same JID, 11 differs from both, and
// 6 and 7 differ.
func TestRFC7622Comparison(t *testing.T) {
	ex := func(n int) JID {
		for _, tc := range rfcValid {
			if tc.n == n {
				return MustParse(tc.in)
			}
		}
		panic("no example")
	}
	if ex(9) != ex(10) || !ex(9).Equal(ex(10)) {
		t.Errorf("examples 9 and 10 differ: %q %q", ex(9), ex(10))
	}
	if ex(9) == ex(11) || ex(10).Equal(ex(11)) {
		t.Errorf("example 11 equals 9 or 10")
	}
	if ex(6) == ex(7) {
		t.Errorf("examples 6 and 7 are equal")
	}
}

func TestNormalisation(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		// Localpart and domainpart are case-mapped, the resourcepart not.
		{"Juliet@Example.COM/Balcony", "juliet@example.com/Balcony"},
		{"JULIET@EXAMPLE.COM", "juliet@example.com"},
		// Width mapping of localpart and domain; resource unchanged (RFC
		// 8265 4.2: OpaqueString does no width mapping).
		{"\uFF2A\uFF55\uFF4C\uFF49\uFF45\uFF54@\uFF45\uFF58\uFF41\uFF4D\uFF50\uFF4C\uFF45\uFF0E\uFF43\uFF4F\uFF4D/\uFF21",
			"juliet@example.com/\uFF21"},
		// Final dot stripped (RFC 7622 3.2).
		{"juliet@example.com./r", "juliet@example.com/r"},
		{"example.com.", "example.com"},
		// A-labels become U-labels (RFC 7622 3.2.1); U-labels stay.
		{"user@xn--bcher-kva.example", "user@b\u00FCcher.example"},
		{"user@B\u00DCCHER.example", "user@b\u00FCcher.example"},
		{"XN--BCHER-KVA.example", "b\u00FCcher.example"},
		// IDNA2008 (non-transitional): sharp s stays.
		{"fa\u00DF.de", "fa\u00DF.de"},
		// NFC in all parts.
		{"e\u0301@e\u0301.example/e\u0301", "\u00E9@\u00E9.example/\u00E9"},
		// Non-ASCII spaces in the resource map to U+0020 (OpaqueString).
		{"a@b/x\u00A0y", "a@b/x y"},
		// Ideographic full stop is a label separator in IDNA.
		{"a@example\u3002com", "a@example.com"},
		// IP literals.
		{"a@192.0.2.1/r", "a@192.0.2.1/r"},
		{"a@[2001:DB8:0:0:0:0:0:1]/r", "a@[2001:db8::1]/r"},
		{"[::1]", "[::1]"},
		{"[fe80::1%25eth0]", "[fe80::1%25eth0]"},
		{"[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]"},
		// Resources may hold anything but controls, and may repeat '/'.
		{"a@b/c/d", "a@b/c/d"},
		{"a@b/@", "a@b/@"},
		// A trailing space in the resource is fine; only a leading one is not.
		{"a@b/c ", "a@b/c "},
		// XEP-0106 escapes are not interpreted.
		{`d\27artagnan@example.com`, `d\27artagnan@example.com`},
	} {
		j, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if j.String() != tc.want {
			t.Errorf("Parse(%q) = %q, want %q", tc.in, j, tc.want)
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, in := range []string{
		"",
		"@",
		"/",
		"@/",
		"a@",
		"a@/r",
		"a@b/",
		"@d",
		"d/",
		"a@b@c",                // the second '@' lands in the domainpart
		"a:b@example.com",      // RFC 7622 3.3.1
		"a&b@example.com",      // RFC 7622 3.3.1
		"a'b@example.com",      // RFC 7622 3.3.1
		"a<b@example.com",      // RFC 7622 3.3.1
		"a>b@example.com",      // RFC 7622 3.3.1
		"a\uFF20b@example.com", // FULLWIDTH COMMERCIAL AT maps to '@'
		"a\tb@example.com",
		"a@example..com",
		"a@.example.com",
		"a@example.com..",
		".",
		"a@exa mple.com",
		"a@exa_mple.com",
		"a@-example.com",
		"a@example-.com",
		"a@ab--cd.com",
		"a@xn--a.com",   // not valid punycode
		"a@xn--abc.com", // decodes to a disallowed label
		"a@example.com\u3002",
		"a@example.com/\u0000",
		"a@example.com/x\ty",
		"a@example.com/ ",
		"a@example.com/\u3000x", // maps to a leading space
		"[::1",
		"[]",
		"[1.2.3.4]",
		"[::1].",
		"[::1%eth0]",
		"[fe80::1%25]",
		"[fe80::1%25e/th]",
		"[v1.fe]",
		"\xff@example.com",
		"a@\xff",
		"a@b/\xff",
		"a@" + strings.Repeat("a", 64) + ".com", // RFC 1034 label limit
	} {
		if j, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want error", in, j)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q): %v does not wrap ErrMalformed", in, err)
		}
	}
}

func TestLengthLimits(t *testing.T) {
	label := strings.Repeat("a", 63)
	domain := strings.Join([]string{label, label, label, strings.Repeat("a", 61)}, ".") // 253 octets
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{strings.Repeat("l", 1023) + "@example.com", true},
		{strings.Repeat("l", 1024) + "@example.com", false},
		{"a@example.com/" + strings.Repeat("r", 1023), true},
		{"a@example.com/" + strings.Repeat("r", 1024), false},
		{domain, true},
		{domain + "a", false},
		{domain + ".", true},
		// Octets, not characters (RFC 7622 3.1, implementation note).
		{strings.Repeat("\u00E9", 511) + "@example.com", true},       // 1022 octets
		{strings.Repeat("\u00E9", 512) + "@example.com", false},      // 1024 octets
		{"a@b/" + strings.Repeat("\u265A", 341), true},               // 1023 octets
		{"a@b/" + strings.Repeat("\u265A", 342), false},              // 1026 octets
		{strings.Repeat("\uFF41", 1023) + "@example.com", true},      // width-mapped to 1023
		{strings.Repeat("\uFF41", 1024) + "@example.com", false},     // width-mapped to 1024
		{"a@b/" + strings.Repeat("\u00A0", 2000), false},             // leading space after mapping
		{"a@b/" + strings.Repeat("x", 5000), false},                  // over the raw bound
		{"a@" + strings.Repeat("\u00AD", 5000) + "b.example", false}, // ignored code points
	} {
		j, err := Parse(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%.40q... [%d octets]): err = %v, want ok=%v", tc.in, len(tc.in), err, tc.ok)
		}
		if err == nil && len(j.String()) > 3071 {
			t.Errorf("JID of %d octets", len(j.String()))
		}
	}
	// A domainpart of U-labels under 1023 octets whose A-label form is over
	// 253 octets: the RFC 1034 limits still apply (RFC 7622 3.2).
	u := strings.Repeat("\u00E9", 10) // 20 octets; its A-label is 15
	var labels []string
	for n := 0; n+len(u)+1 <= 1023; n += len(u) + 1 {
		labels = append(labels, u)
	}
	if _, err := New("a", strings.Join(labels, "."), ""); err == nil {
		t.Errorf("New accepted a domain whose A-label form exceeds 253 octets")
	}
}

func TestAccessors(t *testing.T) {
	j := MustParse("Juliet@Example.com/Balcony")
	checkParts(t, j, "juliet", "example.com", "Balcony")
	b := j.Bare()
	checkParts(t, b, "juliet", "example.com", "")
	if b != MustParse("juliet@example.com") {
		t.Errorf("Bare() = %#v, not == to the parsed bare JID", b)
	}
	if b.Bare() != b {
		t.Errorf("Bare of a bare JID changed it")
	}
	f, err := b.WithResource("Chamber")
	if err != nil {
		t.Fatal(err)
	}
	if f != MustParse("juliet@example.com/Chamber") {
		t.Errorf("WithResource = %q", f)
	}
	f, err = j.WithResource("\u00A0x") // replaces, and maps the NBSP first
	if err == nil {
		t.Errorf("WithResource accepted a leading space: %q", f)
	}
	if _, err := j.WithResource(""); !errors.Is(err, ErrMalformed) {
		t.Errorf("WithResource(\"\"): %v", err)
	}
	if _, err := (JID{}).WithResource("r"); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero.WithResource: %v", err)
	}
	d := MustParse("example.com/r")
	checkParts(t, d, "", "example.com", "r")
	checkParts(t, d.Bare(), "", "example.com", "")

	var z JID
	if !z.IsZero() || z.String() != "" || z.Local() != "" || z.Domain() != "" || z.Resource() != "" {
		t.Errorf("zero JID: %#v", z)
	}
	if j.IsZero() || j.Equal(z) {
		t.Errorf("non-zero JID reported zero")
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		l, d, r string
		want    string
	}{
		{"Juliet", "Example.com.", "Balcony", "juliet@example.com/Balcony"},
		{"", "example.com", "", "example.com"},
		{"", "example.com", "r", "example.com/r"},
		{"a", "example.com", "x/y@z", "a@example.com/x/y@z"},
	} {
		j, err := New(tc.l, tc.d, tc.r)
		if err != nil {
			t.Errorf("New(%q, %q, %q): %v", tc.l, tc.d, tc.r, err)
			continue
		}
		if j != MustParse(tc.want) {
			t.Errorf("New(%q, %q, %q) = %#v, want %q", tc.l, tc.d, tc.r, j, tc.want)
		}
	}
	for _, tc := range [][3]string{
		{"a", "", ""},
		{"a@b", "example.com", ""},
		{"a/b", "example.com", ""},
		{"a", "exa@mple.com", ""},
		{"a", "example.com/r", ""},
		{"a", "example.com", " r"},
	} {
		if j, err := New(tc[0], tc[1], tc[2]); !errors.Is(err, ErrMalformed) {
			t.Errorf("New%q = %q, %v; want ErrMalformed", tc, j, err)
		}
	}
}

func TestText(t *testing.T) {
	j := MustParse("a@b.example/c")
	b, err := j.MarshalText()
	if err != nil || string(b) != "a@b.example/c" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	var k JID
	if err := k.UnmarshalText([]byte("A@B.example/c")); err != nil || k != j {
		t.Fatalf("UnmarshalText = %q, %v", k, err)
	}
	if err := k.UnmarshalText(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("UnmarshalText(nil): %v", err)
	}
	if k != j {
		t.Errorf("failed UnmarshalText modified the JID")
	}
}

// Maps need JIDs as keys and == as comparison.
func TestComparable(t *testing.T) {
	m := map[JID]int{MustParse("a@b/c"): 1}
	if m[MustParse("A@B/c")] != 1 {
		t.Errorf("map lookup by an equivalent JID failed")
	}
	if MustParse("a@b/c") == MustParse("a@b/C") {
		t.Errorf("resourceparts compared case-insensitively")
	}
	if MustParse("a@b").Bare() != MustParse("a@b/c").Bare() {
		t.Errorf("Bare() of full and bare JID differ")
	}
}

func TestAllocations(t *testing.T) {
	j := MustParse("juliet@example.com/balcony")
	var sink string
	var jsink JID
	if n := testing.AllocsPerRun(100, func() { sink = j.String() }); n != 0 {
		t.Errorf("String allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { jsink = j.Bare() }); n != 0 {
		t.Errorf("Bare allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { jsink, _ = Parse("juliet@example.com/balcony") }); n != 0 {
		t.Errorf("Parse of a canonical JID allocates %v times", n)
	}
	_, _ = sink, jsink
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("MustParse did not panic")
		}
	}()
	MustParse("@")
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"canonical", "juliet@example.com/balcony"},
		{"bare", "juliet@example.com"},
		{"uppercase", "Juliet@Example.COM/Balcony"},
		{"unicode", "\u03A3\u03C9\u03BA\u03C1\u03AC\u03C4\u03B7\u03C2@b\u00FCcher.example/\u265A"},
		{"punycode", "user@xn--bcher-kva.example/r"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
