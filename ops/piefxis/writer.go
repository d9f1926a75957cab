package piefxis

import (
	"bufio"
	"encoding/base64"
	"encoding/xml"
	"io"
	"strconv"
)

// Writer streams accounts out as one XEP-0227 document. Accounts of one
// domain should come together: each change of domain opens a new <host/>.
type Writer struct {
	w       *bufio.Writer
	started bool
	domain  string
	err     error
}

// NewWriter writes the document to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriter(w)} }

func (w *Writer) s(parts ...string) {
	for _, p := range parts {
		if w.err == nil {
			_, w.err = w.w.WriteString(p)
		}
	}
}

func esc(v string) string {
	var b []byte
	buf := &sliceWriter{&b}
	xml.EscapeText(buf, []byte(v))
	return string(b)
}

type sliceWriter struct{ b *[]byte }

func (s *sliceWriter) Write(p []byte) (int, error) { *s.b = append(*s.b, p...); return len(p), nil }

func (w *Writer) begin() {
	if !w.started {
		w.started = true
		// XEP-0227 section 3: the root <server-data/> in urn:xmpp:pie:0.
		w.s("<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='", NSPie, "'>\n")
	}
}

// Write appends one account.
func (w *Writer) Write(a *Account) error {
	w.begin()
	if a.Domain != w.domain {
		if w.domain != "" {
			w.s("  </host>\n")
		}
		w.domain = a.Domain
		w.s("  <host jid='", esc(a.Domain), "'>\n")
	}
	w.s("    <user name='", esc(a.Name), "'")
	if a.Password != "" {
		w.s(" password='", esc(a.Password), "'")
	}
	w.s(">\n")
	b64 := base64.StdEncoding.EncodeToString
	for _, c := range a.SCRAM {
		w.s("      <scram-credentials xmlns='", NSScram, "' mechanism='", esc(c.Mechanism), "'>",
			"<iter-count>", strconv.Itoa(c.Iter), "</iter-count>",
			"<salt>", b64(c.Salt), "</salt>",
			"<server-key>", b64(c.ServerKey), "</server-key>",
			"<stored-key>", b64(c.StoredKey), "</stored-key></scram-credentials>\n")
	}
	if len(a.Roster) > 0 {
		w.s("      <query xmlns='", NSRoster, "'>\n")
		for _, it := range a.Roster {
			w.s("        <item jid='", esc(it.JID), "' subscription='", esc(it.Subscription), "'")
			if it.Name != "" {
				w.s(" name='", esc(it.Name), "'")
			}
			if it.Ask {
				w.s(" ask='subscribe'")
			}
			w.s(">")
			for _, g := range it.Groups {
				w.s("<group>", esc(g), "</group>")
			}
			w.s("</item>\n")
		}
		w.s("      </query>\n")
	}
	for _, p := range a.Pending {
		w.s("      ", string(p.XML), "\n")
	}
	if len(a.Offline) > 0 {
		w.s("      <offline-messages>\n")
		for _, m := range a.Offline {
			w.s("        ", string(m.XML), "\n")
		}
		w.s("      </offline-messages>\n")
	}
	w.s("    </user>\n")
	return w.err
}

// Close ends the document and flushes it.
func (w *Writer) Close() error {
	w.begin()
	if w.domain != "" {
		w.s("  </host>\n")
	}
	w.s("</server-data>\n")
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}
