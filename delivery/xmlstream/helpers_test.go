package xmlstream

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing/iotest"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

const (
	hdrC = `<stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`
	decl = `<?xml version='1.0'?>`
)

// readers returns the ways a test feeds the same bytes: all at once, one
// byte per Read, half of what is asked, and with the final io.EOF riding on
// the last data.
func readers(s string) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":   strings.NewReader(s),
		"onebyte": iotest.OneByteReader(strings.NewReader(s)),
		"half":    iotest.HalfReader(strings.NewReader(s)),
		"dataerr": iotest.DataErrReader(strings.NewReader(s)),
	}
}

// transcript decodes everything r yields into a stable text: one block per
// event, then the final error. Limits default when lim is zero.
func transcript(r io.Reader, lim Limits) string {
	var b strings.Builder
	d := NewDecoder(r, lim)
	for {
		ev, err := d.Next()
		if err != nil {
			fmt.Fprintf(&b, "error %s\n", describeErr(err))
			return b.String()
		}
		dumpEvent(&b, ev)
	}
}

func describeErr(err error) string {
	var se *StreamError
	if errors.As(err, &se) {
		return "stream-error " + string(se.Condition)
	}
	return err.Error()
}

func dumpEvent(b *strings.Builder, ev Event) {
	switch ev.Kind {
	case StreamOpen:
		h := ev.Header
		fmt.Fprintf(b, "StreamOpen size=%d to=%q from=%q id=%q version=%q lang=%q default=%q\n",
			ev.Size, h.To, h.From, h.ID, h.Version, h.Lang, h.DefaultNS)
		for _, a := range h.Attr {
			fmt.Fprintf(b, "  @{%s}%s=%q\n", a.Name.Space, a.Name.Local, a.Value)
		}
	case Element:
		fmt.Fprintf(b, "Element size=%d\n", ev.Size)
		dumpElement(b, ev.Element, "  ")
	case StreamClose:
		fmt.Fprintf(b, "StreamClose size=%d\n", ev.Size)
	}
}

func dumpElement(b *strings.Builder, e *stanza.Element, indent string) {
	fmt.Fprintf(b, "%s{%s}%s\n", indent, e.Name.Space, e.Name.Local)
	for _, a := range e.Attr {
		fmt.Fprintf(b, "%s  @{%s}%s=%q\n", indent, a.Name.Space, a.Name.Local, a.Value)
	}
	for _, n := range e.Children {
		switch c := n.(type) {
		case *stanza.Element:
			dumpElement(b, c, indent+"  ")
		case stanza.CharData:
			fmt.Fprintf(b, "%s  %q\n", indent, string(c))
		}
	}
}

// decodeOne decodes a header followed by one element and returns it.
func decodeOne(s string) (*stanza.Element, error) {
	d := NewDecoder(strings.NewReader(hdrC+s), Limits{})
	if _, err := d.Next(); err != nil {
		return nil, err
	}
	ev, err := d.Next()
	return ev.Element, err
}

// infiniteReader yields prefix, then fill forever, counting bytes read.
type infiniteReader struct {
	prefix string
	fill   byte
	n      int64
}

func (r *infiniteReader) Read(p []byte) (int, error) {
	k := 0
	if int64(len(r.prefix)) > r.n {
		k = copy(p, r.prefix[r.n:])
	}
	for i := k; i < len(p); i++ {
		p[i] = r.fill
	}
	r.n += int64(len(p))
	return len(p), nil
}
