package piefxis

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
)

// Namespaces of XEP-0227 section 3 and the ones it embeds.
const (
	NSPie    = "urn:xmpp:pie:0"
	NSScram  = "urn:xmpp:pie:0#scram"
	NSRoster = "jabber:iq:roster"
	NSClient = "jabber:client"
)

// Account is one <user/> of one <host/>.
type Account struct {
	Domain   string
	Name     string
	Password string // plaintext, when the file has one
	SCRAM    []SCRAM
	Roster   []Item
	Pending  []Stanza // inbound subscribe presences (XEP-0227 section 3.3)
	Offline  []Stanza // <message/> elements, oldest first (XEP-0227 section 3.5)
}

// SCRAM is one <scram-credentials/> (XEP-0227 section 3.2).
type SCRAM struct {
	Mechanism string // e.g. SCRAM-SHA-1, never with -PLUS
	Iter      int
	Salt      []byte
	ServerKey []byte
	StoredKey []byte
}

// Item is one roster item in RFC 6121 7.3 form.
type Item struct {
	JID          string
	Name         string
	Subscription string
	Ask          bool
	Groups       []string
}

// Stanza is a stanza as the file carries it.
type Stanza struct {
	From string
	XML  []byte
}

// Error is a malformed document: Line is where the element starts.
type Error struct {
	Line    int
	Element string
	Msg     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d: <%s>: %s", e.Line, e.Element, e.Msg)
}

// Reader streams accounts from a XEP-0227 document.
type Reader struct {
	d      *xml.Decoder
	open   []string // names of the elements open at the decoder
	domain string
	root   bool
}

// NewReader reads the document from r.
func NewReader(r io.Reader) *Reader {
	d := xml.NewDecoder(r)
	d.Strict = true
	return &Reader{d: d}
}

func (r *Reader) errf(el, format string, a ...any) error {
	line, _ := r.d.InputPos()
	return &Error{Line: line, Element: el, Msg: fmt.Sprintf(format, a...)}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (r *Reader) token() (xml.Token, error) {
	t, err := r.d.Token()
	if err != nil && err != io.EOF {
		line, _ := r.d.InputPos()
		el := "document"
		if len(r.open) > 0 {
			el = r.open[len(r.open)-1]
		}
		return nil, &Error{Line: line, Element: el, Msg: err.Error()}
	}
	switch t := t.(type) {
	case xml.StartElement:
		r.open = append(r.open, t.Name.Local)
	case xml.EndElement:
		r.open = r.open[:len(r.open)-1]
	}
	return t, err
}

// skip reads past the element whose start was just read.
func (r *Reader) skip() error {
	for depth := 1; depth > 0; {
		t, err := r.token()
		if err != nil {
			return eofIn(r, "document", err)
		}
		switch t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// Next returns the next account, or io.EOF after the last one.
func (r *Reader) Next() (*Account, error) {
	for {
		t, err := r.token()
		if err == io.EOF {
			if !r.root {
				return nil, &Error{Line: 1, Element: "server-data", Msg: "no <server-data/> root"}
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case !r.root:
				// XEP-0227 section 3: the root is <server-data/> in urn:xmpp:pie:0.
				if t.Name.Space != NSPie || t.Name.Local != "server-data" {
					return nil, r.errf(t.Name.Local, "root must be <server-data xmlns='%s'>", NSPie)
				}
				r.root = true
			case t.Name.Local == "host" && t.Name.Space == NSPie:
				r.domain = attr(t, "jid")
				if r.domain == "" {
					return nil, r.errf("host", "missing jid attribute")
				}
			case t.Name.Local == "user" && t.Name.Space == NSPie:
				if r.domain == "" {
					return nil, r.errf("user", "outside a <host/>")
				}
				return r.user(t)
			default:
				if err := r.skip(); err != nil {
					return nil, err
				}
			}
		case xml.EndElement:
			if t.Name.Local == "host" {
				r.domain = ""
			}
		}
	}
}

func (r *Reader) user(se xml.StartElement) (*Account, error) {
	a := &Account{Domain: r.domain, Name: attr(se, "name"), Password: attr(se, "password")}
	if a.Name == "" {
		return nil, r.errf("user", "missing name attribute")
	}
	for {
		t, err := r.token()
		if err == io.EOF {
			return nil, r.errf("user", "document ends inside user %q", a.Name)
		}
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.EndElement:
			return a, nil
		case xml.StartElement:
			switch {
			case t.Name.Space == NSScram && t.Name.Local == "scram-credentials":
				s, err := r.scram(t)
				if err != nil {
					return nil, err
				}
				for _, o := range a.SCRAM {
					// XEP-0227 section 3.2: mechanisms MUST be unique per user.
					if o.Mechanism == s.Mechanism {
						return nil, r.errf("scram-credentials", "mechanism %s given twice", s.Mechanism)
					}
				}
				a.SCRAM = append(a.SCRAM, s)
			case t.Name.Space == NSRoster && t.Name.Local == "query":
				if err := r.roster(a); err != nil {
					return nil, err
				}
			case t.Name.Local == "presence" && (t.Name.Space == NSClient || t.Name.Space == NSPie):
				// prosody-migrator writes the pending request without an
				// xmlns, so it falls in urn:xmpp:pie:0; it is a jabber:client
				// stanza all the same.
				t.Name.Space = NSClient
				raw, err := r.capture(t)
				if err != nil {
					return nil, err
				}
				if attr(t, "type") != "subscribe" {
					continue
				}
				from := attr(t, "from")
				if from == "" {
					return nil, r.errf("presence", "subscription request without from")
				}
				a.Pending = append(a.Pending, Stanza{From: from, XML: raw})
			case t.Name.Local == "offline-messages":
				if err := r.offline(a); err != nil {
					return nil, err
				}
			default:
				if err := r.skip(); err != nil {
					return nil, err
				}
			}
		}
	}
}

func (r *Reader) text(el string) (string, error) {
	var b bytes.Buffer
	for {
		t, err := r.token()
		if err != nil {
			if err == io.EOF {
				return "", r.errf(el, "document ends inside it")
			}
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			return "", r.errf(t.Name.Local, "unexpected inside <%s/>", el)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

func (r *Reader) scram(se xml.StartElement) (SCRAM, error) {
	s := SCRAM{Mechanism: attr(se, "mechanism")}
	if s.Mechanism == "" {
		return s, r.errf("scram-credentials", "missing mechanism attribute")
	}
	seen := map[string]bool{}
	for {
		t, err := r.token()
		if err != nil {
			return s, err
		}
		switch t := t.(type) {
		case xml.EndElement:
			// XEP-0227 section 3.2: each child MUST occur exactly once.
			for _, k := range []string{"iter-count", "salt", "server-key", "stored-key"} {
				if !seen[k] {
					return s, r.errf("scram-credentials", "missing <%s/>", k)
				}
			}
			return s, nil
		case xml.StartElement:
			k := t.Name.Local
			if seen[k] {
				return s, r.errf(k, "given twice")
			}
			seen[k] = true
			v, err := r.text(k)
			if err != nil {
				return s, err
			}
			switch k {
			case "iter-count":
				n, err := strconv.Atoi(v)
				if err != nil || n <= 0 {
					return s, r.errf(k, "not a positive integer: %q", v)
				}
				s.Iter = n
			case "salt", "server-key", "stored-key":
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil || len(b) == 0 {
					return s, r.errf(k, "not base64")
				}
				switch k {
				case "salt":
					s.Salt = b
				case "server-key":
					s.ServerKey = b
				default:
					s.StoredKey = b
				}
			default:
				return s, r.errf(k, "unknown child of <scram-credentials/>")
			}
		}
	}
}
