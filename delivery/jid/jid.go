package jid

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is wrapped by every error Parse, New, WithResource and
// UnmarshalText return; callers map it to the <jid-malformed/> stanza error
// (RFC 7622 4, RFC 6120 8.3.3.8).
var ErrMalformed = errors.New("jid: malformed")

const (
	// maxPart is the largest size of one part in octets, counted after
	// preparation (RFC 7622 3.1, 3.2, 3.3, 3.4).
	maxPart = 1023

	// maxRawPart bounds a part before preparation so that a hostile input
	// cannot make us run the PRECIS and IDNA transformations over megabytes.
	// Width mapping folds at most 4 input octets into 1, so no legitimate
	// part needs more; only runs of code points that IDNA maps to nothing
	// could, and we refuse those.
	maxRawPart = 4 * maxPart
)

// JID is a prepared, enforced XMPP address (RFC 7622). The zero value is the
// empty address, which no valid JID equals.
//
// A JID holds its canonical string form and the offsets of its parts, so it is
// cheap to copy, String allocates nothing, and two JIDs are equal exactly when
// they are == (RFC 7622 3.2.3: comparison is octet-for-octet on the prepared
// form).
type JID struct {
	s   string // canonical form: [local "@"] domain ["/" resource]
	dom uint16 // offset of the domainpart in s
	res uint16 // offset of the '/' before the resourcepart, len(s) when bare
}

// Parse splits s into its parts, prepares and enforces each one (RFC 7622
// 3.2-3.4) and returns the canonical JID.
//
// When s is already canonical the returned JID shares its memory with s.
func Parse(s string) (JID, error) {
	// RFC 7622 3.1: split at the separators before applying any
	// transformation, since preparation could turn other code points into
	// '@' or '/'.
	// RFC 7622 3.2: the domainpart is what is left after removing everything
	// from the first '/' on, then everything up to the first '@'. So the
	// resourcepart is everything after the first '/' (and may contain '@' and
	// '/'), and the localpart is what precedes the first '@' before it.
	rest, resource, hasRes := strings.Cut(s, "/")
	local, domain, hasLocal := strings.Cut(rest, "@")
	if !hasLocal {
		local, domain = "", rest
	}
	// RFC 7622 3.3, 3.4: a separator announces a part, and a part is never
	// empty ("@example.com", "example.com/" are not JIDs; RFC 7622 3.5
	// examples 19 and 22).
	if hasLocal && local == "" {
		return JID{}, fmt.Errorf("%w: empty localpart", ErrMalformed)
	}
	if hasRes && resource == "" {
		return JID{}, fmt.Errorf("%w: empty resourcepart", ErrMalformed)
	}
	l, err := prepLocal(local)
	if err != nil {
		return JID{}, err
	}
	d, err := prepDomain(domain)
	if err != nil {
		return JID{}, err
	}
	r, err := prepResource(resource)
	if err != nil {
		return JID{}, err
	}
	if l == local && d == domain && r == resource {
		// Every part was already canonical, so s is the canonical form.
		return at(s, hasLocal, len(l), len(d)), nil
	}
	return join(l, d, r), nil
}

// MustParse is Parse for constants and tests: it panics if s is not a JID.
func MustParse(s string) JID {
	j, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

// New builds a JID from its parts, preparing and enforcing each. An empty
// local or resource means the part is absent; the domain is required.
func New(local, domain, resource string) (JID, error) {
	l, err := prepLocal(local)
	if err != nil {
		return JID{}, err
	}
	d, err := prepDomain(domain)
	if err != nil {
		return JID{}, err
	}
	r, err := prepResource(resource)
	if err != nil {
		return JID{}, err
	}
	return join(l, d, r), nil
}

// join assembles prepared parts into a JID; l and r may be empty (absent).
func join(l, d, r string) JID {
	var b strings.Builder
	b.Grow(len(l) + 1 + len(d) + 1 + len(r))
	if l != "" {
		b.WriteString(l)
		b.WriteByte('@')
	}
	b.WriteString(d)
	if r != "" {
		b.WriteByte('/')
		b.WriteString(r)
	}
	return at(b.String(), l != "", len(l), len(d))
}

// at returns the JID for the canonical string s whose parts have the given
// lengths.
func at(s string, hasLocal bool, localLen, domainLen int) JID {
	dom := 0
	if hasLocal {
		dom = localLen + 1
	}
	// Parts are at most maxPart octets each, so every offset fits (RFC 7622
	// 3.1: at most 3071 octets in all).
	return JID{s: s, dom: uint16(dom), res: uint16(dom + domainLen)}
}

// Local returns the localpart, or "" if there is none.
func (j JID) Local() string {
	if j.dom == 0 {
		return ""
	}
	return j.s[:j.dom-1]
}

// Domain returns the domainpart.
func (j JID) Domain() string { return j.s[j.dom:j.res] }

// Resource returns the resourcepart, or "" if there is none.
func (j JID) Resource() string {
	if int(j.res) == len(j.s) {
		return ""
	}
	return j.s[j.res+1:]
}

// Bare returns j without its resourcepart. It does not allocate.
func (j JID) Bare() JID { return JID{s: j.s[:j.res], dom: j.dom, res: j.res} }

// WithResource returns j's bare JID with the resourcepart r, which is
// prepared and enforced like any resourcepart (RFC 7622 3.4); an empty r is
// an error.
func (j JID) WithResource(r string) (JID, error) {
	if j.IsZero() {
		return JID{}, fmt.Errorf("%w: empty domainpart", ErrMalformed)
	}
	if r == "" {
		return JID{}, fmt.Errorf("%w: empty resourcepart", ErrMalformed)
	}
	p, err := prepResource(r)
	if err != nil {
		return JID{}, err
	}
	bare := j.s[:j.res]
	return JID{s: bare + "/" + p, dom: j.dom, res: j.res}, nil
}

// String returns the canonical form of j. It does not allocate.
func (j JID) String() string { return j.s }

// IsZero reports whether j is the zero JID.
func (j JID) IsZero() bool { return j.s == "" }

// IsBare reports whether j has no resourcepart.
func (j JID) IsBare() bool { return int(j.res) == len(j.s) }

// Equal reports whether j and o are the same address; it is j == o.
func (j JID) Equal(o JID) bool { return j == o }

// MarshalText implements encoding.TextMarshaler with the canonical form. The
// zero JID marshals to empty text.
func (j JID) MarshalText() ([]byte, error) { return []byte(j.s), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Parse; empty text is
// an error like any other malformed address.
func (j *JID) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*j = p
	return nil
}
