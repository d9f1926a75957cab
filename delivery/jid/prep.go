package jid

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// Each part is prepared in two ways. A fast path handles the ASCII strings
// that make up nearly all real traffic; it only ever accepts, and gives up
// (ok == false) on anything it is not sure of. The slow path applies the
// PRECIS and IDNA2008 machinery and is the reference: the fast path must
// produce exactly what the slow path produces for every input it accepts,
// which TestFastPaths and FuzzParse check.

// prepLocal prepares and enforces a localpart (RFC 7622 3.3). The empty string
// means "no localpart" and is returned as is.
func prepLocal(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	out, ok := localASCII(s)
	if !ok {
		var err error
		if out, err = localSlow(s); err != nil {
			return "", err
		}
	}
	// RFC 7622 3.3: 1 to 1023 octets, counted after preparation.
	if len(out) > maxPart {
		return "", fmt.Errorf("%w: localpart too long", ErrMalformed)
	}
	return out, nil
}

// localASCII is the fast path for printable ASCII localparts: UsernameCaseMapped
// (RFC 8265 3.3) maps only A-Z there, and every other printable character
// except space is PVALID in the IdentifierClass.
func localASCII(s string) (string, bool) {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || excludedLocal(c) {
			return "", false
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if len(s) > maxRawPart {
		return "", false
	}
	if upper {
		return strings.ToLower(s), true
	}
	return s, true
}

// localSlow applies the UsernameCaseMapped profile of the PRECIS
// IdentifierClass, as RFC 7622 3.3 requires.
func localSlow(s string) (string, error) {
	if len(s) > maxRawPart {
		return "", fmt.Errorf("%w: localpart too long", ErrMalformed)
	}
	// RFC 7622 3.1: a JID is a string of Unicode code points encoded as
	// UTF-8. The PRECIS code would quietly turn invalid octets into U+FFFD.
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: localpart is not UTF-8", ErrMalformed)
	}
	out, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", fmt.Errorf("%w: invalid localpart: %v", ErrMalformed, err)
	}
	// RFC 7622 3.3.1: these characters MUST NOT appear in a localpart even
	// though the IdentifierClass allows them. Checked after preparation, so a
	// width-mapped FULLWIDTH COMMERCIAL AT is caught as well.
	for i := 0; i < len(out); i++ {
		if excludedLocal(out[i]) {
			return "", fmt.Errorf("%w: localpart contains %q (RFC 7622 3.3.1)", ErrMalformed, out[i])
		}
	}
	if out == "" {
		return "", fmt.Errorf("%w: empty localpart", ErrMalformed)
	}
	return out, nil
}

// excludedLocal reports whether c is one of the characters RFC 7622 3.3.1
// excludes from localparts.
func excludedLocal(c byte) bool {
	switch c {
	case '"', '&', '\'', '/', ':', '<', '>', '@':
		return true
	}
	return false
}

// prepResource prepares and enforces a resourcepart (RFC 7622 3.4). The empty
// string means "no resourcepart" and is returned as is.
func prepResource(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	out, ok := resourceASCII(s)
	if !ok {
		if len(s) > maxRawPart {
			return "", fmt.Errorf("%w: resourcepart too long", ErrMalformed)
		}
		var err error
		if out, err = resourceSlow(s); err != nil {
			return "", err
		}
	}
	// RFC 7622 3.5, example 18: "juliet@example.com/ foo" is not a JID. The
	// OpaqueString profile alone would accept it, so the leading space is
	// refused here. Checked after preparation, since OpaqueString maps other
	// spaces to U+0020.
	if out == "" || out[0] == ' ' {
		return "", fmt.Errorf("%w: resourcepart starts with a space (RFC 7622 3.5)", ErrMalformed)
	}
	// RFC 7622 3.4: 1 to 1023 octets, counted after preparation.
	if len(out) > maxPart {
		return "", fmt.Errorf("%w: resourcepart too long", ErrMalformed)
	}
	return out, nil
}

// resourceASCII is the fast path for printable ASCII resourceparts, which
// OpaqueString leaves unchanged (no case mapping, nothing to normalise; RFC
// 8265 4.2).
func resourceASCII(s string) (string, bool) {
	if len(s) > maxRawPart {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			return "", false
		}
	}
	return s, true
}

// resourceSlow applies the OpaqueString profile of the PRECIS FreeformClass,
// as RFC 7622 3.4 requires.
func resourceSlow(s string) (string, error) {
	// RFC 7622 3.1: UTF-8 only (see localSlow).
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: resourcepart is not UTF-8", ErrMalformed)
	}
	out, err := precis.OpaqueString.String(s)
	if err != nil {
		return "", fmt.Errorf("%w: invalid resourcepart: %v", ErrMalformed, err)
	}
	return out, nil
}

// idnaProfile maps and validates domainparts: IDNA2008 non-transitional
// processing with the UTS #46 mappings (case, width, normalisation), the STD3
// rules (NR-LDH labels or U-labels only, RFC 7622 3.2.1), hyphen and joiner
// checks and the Bidi rule (RFC 5893).
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
)

// dnsLength checks the RFC 1034 limits (63 octets a label, 253 in all) on the
// A-label form, which RFC 7622 3.2 says still apply.
var dnsLength = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.VerifyDNSLength(true),
)

// prepDomain prepares and enforces a domainpart (RFC 7622 3.2).
func prepDomain(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty domainpart", ErrMalformed)
	}
	if s[0] == '[' {
		return prepIPLiteral(s)
	}
	// RFC 7622 3.2: a final label separator MUST be stripped before any
	// other canonicalisation step. Only one: "example.com.." keeps an empty
	// label and is refused below.
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", fmt.Errorf("%w: empty domainpart", ErrMalformed)
	}
	out, ok := domainASCII(s)
	if !ok {
		var err error
		if out, err = domainSlow(s); err != nil {
			return "", err
		}
	}
	// RFC 7622 3.2: at most 1023 octets after all mapping (the 253-octet DNS
	// limit on the A-label form is checked too, but the U-label form can be
	// longer).
	if len(out) > maxPart {
		return "", fmt.Errorf("%w: domainpart too long", ErrMalformed)
	}
	return out, nil
}

// domainASCII is the fast path for LDH domainparts that need nothing but
// lowercasing. It leaves to the slow path A-labels ("xn--"), which must be
// converted to U-labels (RFC 7622 3.2.1), and anything whose hyphens,
// lengths or characters need a closer look.
func domainASCII(s string) (string, bool) {
	if len(s) > 253 {
		return "", false
	}
	upper := false
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
			case 'A' <= c && c <= 'Z':
				upper = true
			default:
				return "", false
			}
			continue
		}
		label := s[start:i]
		n := len(label)
		// Empty or over-long labels, leading or trailing hyphens, and
		// hyphens in the third and fourth positions (which include
		// "xn--") all go to the slow path.
		if n == 0 || n > 63 || label[0] == '-' || label[n-1] == '-' ||
			(n >= 4 && label[2] == '-' && label[3] == '-') {
			return "", false
		}
		start = i + 1
	}
	if upper {
		return strings.ToLower(s), true
	}
	return s, true
}

// domainSlow applies IDNA2008 with the RFC 5895 / UTS #46 mappings, the
// preparation and enforcement RFC 7622 3.2.1 and 3.2.2 ask for, and returns
// the U-label form (A-labels MUST be converted to U-labels, 3.2.1).
func domainSlow(s string) (string, error) {
	if len(s) > maxRawPart {
		return "", fmt.Errorf("%w: domainpart too long", ErrMalformed)
	}
	// RFC 7622 3.1: UTF-8 only (see localSlow).
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: domainpart is not UTF-8", ErrMalformed)
	}
	out, err := idnaProfile.ToUnicode(s)
	if err != nil {
		return "", fmt.Errorf("%w: invalid domainpart (IDNA2008)", ErrMalformed)
	}
	// Mapping can produce a trailing separator ("example.com。") or an empty
	// label; the trailing dot was to be stripped before canonicalisation,
	// so it is too late now, and empty labels are never valid.
	if out == "" || out[0] == '.' || out[len(out)-1] == '.' || strings.Contains(out, "..") {
		return "", fmt.Errorf("%w: empty label in domainpart", ErrMalformed)
	}
	if _, err := dnsLength.ToASCII(out); err != nil {
		return "", fmt.Errorf("%w: domainpart exceeds the DNS length limits", ErrMalformed)
	}
	return out, nil
}

// prepIPLiteral validates an IPv6 literal in brackets (RFC 7622 3.2, the
// IP-literal rule of RFC 3986 as updated by RFC 6874) and returns it in the
// canonical text form of RFC 5952, so that two spellings of one address
// compare equal. IPvFuture literals are refused. A zone identifier (RFC 6874
// "%25" ZoneID) is kept as given.
func prepIPLiteral(s string) (string, error) {
	if len(s) < 2 || s[len(s)-1] != ']' {
		return "", fmt.Errorf("%w: unterminated IP literal", ErrMalformed)
	}
	inner := s[1 : len(s)-1]
	addr, zone, hasZone := strings.Cut(inner, "%25")
	if hasZone && !validZoneID(zone) {
		return "", fmt.Errorf("%w: invalid zone in IP literal", ErrMalformed)
	}
	if strings.ContainsRune(addr, '%') {
		return "", fmt.Errorf("%w: invalid IP literal", ErrMalformed)
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() {
		return "", fmt.Errorf("%w: invalid IP literal", ErrMalformed)
	}
	out := "[" + ip.String()
	if hasZone {
		out += "%25" + zone
	}
	out += "]"
	if out == s {
		return s, nil // keep the caller's memory: Parse reuses canonical input
	}
	return out, nil
}

// validZoneID reports whether z matches RFC 6874's ZoneID:
// 1*( unreserved / pct-encoded ).
func validZoneID(z string) bool {
	if z == "" {
		return false
	}
	for i := 0; i < len(z); i++ {
		c := z[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		case c == '%':
			if i+2 >= len(z) || !isHex(z[i+1]) || !isHex(z[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
