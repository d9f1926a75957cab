package xmlstream

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// TestOversizeTextBounded feeds an endless text node: the decoder must fail
// with policy-violation after reading about MaxStanza bytes, and allocate
// an amount proportional to MaxStanza, not to the input.
func TestOversizeTextBounded(t *testing.T) {
	const max = 64 << 10
	for _, oneByte := range []bool{false, true} {
		src := &infiniteReader{prefix: hdrC + "<message><body>", fill: 'a'}
		var r interface{ Read([]byte) (int, error) } = src
		if oneByte {
			r = iotest.OneByteReader(src)
		}
		d := NewDecoder(r, Limits{MaxStanza: max})
		mustKind(t, d, StreamOpen)

		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := d.Next()
		runtime.ReadMemStats(&after)

		var se *StreamError
		if !errors.As(err, &se) || se.Condition != PolicyViolation {
			t.Fatalf("oneByte=%v: got %v, want policy-violation", oneByte, err)
		}
		if se.App == nil || se.App.Name != (stanza.Name{Space: NSErrors, Local: "stanza-too-big"}) {
			t.Errorf("no <stanza-too-big/>: %+v", se.App)
		}
		if read := src.n - int64(len(hdrC)); read > max+bufSize {
			t.Errorf("oneByte=%v: read %d bytes of the element, limit %d", oneByte, read, max)
		}
		// The buffer doubles up to max and the parser's string block up to
		// max as well: about 4*max in all, whatever the input size.
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("oneByte=%v: read %d bytes, allocated %d", oneByte, src.n, alloc)
		if alloc > 5*max {
			t.Errorf("oneByte=%v: allocated %d bytes for a %d-byte limit", oneByte, alloc, max)
		}
		if d.buf != nil {
			t.Error("buffer kept after a stream error")
		}
	}
}

func TestStanzaLimitExact(t *testing.T) {
	body := strings.Repeat("x", 100)
	el := "<m>" + body + "</m>" // 107 bytes
	for rname, r := range readers(hdrC + el + el) {
		d := NewDecoder(r, Limits{MaxStanza: len(el)})
		mustKind(t, d, StreamOpen)
		if ev := mustKind(t, d, Element); ev.Size != len(el) {
			t.Errorf("%s: size %d", rname, ev.Size)
		}
	}
	for rname, r := range readers(hdrC + el) {
		d := NewDecoder(r, Limits{MaxStanza: len(el) - 1})
		mustKind(t, d, StreamOpen)
		if _, err := d.Next(); !errors.Is(err, NewError(PolicyViolation, "")) {
			t.Errorf("%s: got %v, want policy-violation", rname, err)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	lim := Limits{MaxDepth: 3}
	for rname, r := range readers(hdrC + `<a><b><c/></b></a><a><b><c>x</c></b></a>`) {
		if got := transcript(r, lim); strings.Contains(got, "error stream-error") {
			t.Errorf("%s: depth 3 refused:\n%s", rname, got)
		}
	}
	for rname, r := range readers(hdrC + `<a><b><c><d/></c></b></a>`) {
		if got := transcript(r, lim); !strings.HasSuffix(got, "error stream-error policy-violation\n") {
			t.Errorf("%s: depth 4 accepted:\n%s", rname, got)
		}
	}
}

func TestAttrLimit(t *testing.T) {
	lim := Limits{MaxAttrs: 2}
	const h = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	if got := transcript(strings.NewReader(h+`<m a='1' xmlns:p='u'/>`), lim); strings.Contains(got, "stream-error") {
		t.Errorf("two attributes refused:\n%s", got)
	}
	if got := transcript(strings.NewReader(h+`<m a='1' b='2' c='3'/>`), lim); !strings.HasSuffix(got, "policy-violation\n") {
		t.Errorf("three attributes accepted:\n%s", got)
	}
	// The header counts too.
	if got := transcript(strings.NewReader(hdrC), lim); !strings.HasSuffix(got, "policy-violation\n") {
		t.Errorf("header with five attributes accepted:\n%s", got)
	}
}

func TestHeaderLimit(t *testing.T) {
	lim := Limits{MaxHeader: 200}
	long := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='` + strings.Repeat("a", 200) + `'>`
	for rname, r := range readers(long) {
		if got := transcript(r, lim); !strings.HasSuffix(got, "policy-violation\n") {
			t.Errorf("%s: %s", rname, got)
		}
	}
	// A peer that sends only whitespace never gets a header accepted.
	src := &infiniteReader{fill: ' '}
	if got := transcript(src, lim); !strings.HasSuffix(got, "policy-violation\n") || src.n > 4*bufSize {
		t.Errorf("whitespace flood: %s after %d bytes", got, src.n)
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{MaxDepth: -1, MaxStanza: 1 << 40}.withDefaults()
	want := Limits{MaxStanza: maxLimit, MaxDepth: DefaultMaxDepth, MaxAttrs: DefaultMaxAttrs, MaxHeader: DefaultMaxHeader}
	if l != want {
		t.Errorf("got %+v, want %+v", l, want)
	}
}

// blockingReader hands each Read's buffer length to the test and waits for
// the data to return.
type blockingReader struct {
	asked chan int
	data  chan string
}

func (r *blockingReader) Read(p []byte) (int, error) {
	r.asked <- len(p)
	s, ok := <-r.data
	if !ok {
		return 0, errors.New("closed")
	}
	return copy(p, s), nil
}

// TestIdleHoldsNoBuffer checks the memory promise: a decoder waiting for
// the next stanza holds no pooled buffer and reads into its own small
// array.
func TestIdleHoldsNoBuffer(t *testing.T) {
	r := &blockingReader{asked: make(chan int), data: make(chan string)}
	d := NewDecoder(r, Limits{})
	done := make(chan error)
	go func() {
		for {
			ev, err := d.Next()
			if err != nil {
				done <- err
				return
			}
			if ev.Kind == StreamClose {
				done <- nil
				return
			}
		}
	}()
	// step waits for the decoder's next Read, checks whether it is an idle
	// read, and answers it with send.
	step := func(what string, idle bool, send string) {
		t.Helper()
		n := <-r.asked
		// The decoder goroutine is blocked in Read, after the channel send
		// that orders its writes before these reads of d.buf.
		if idle && (n != idleRead || d.buf != nil) {
			t.Errorf("%s: Read(len %d) holding a buffer: %v; want an idle read", what, n, d.buf != nil)
		}
		if !idle && (n == idleRead || d.buf == nil) {
			t.Errorf("%s: Read(len %d) holding a buffer: %v; want a buffered read", what, n, d.buf != nil)
		}
		r.data <- send
	}
	step("before the header", true, hdrC[:16])
	step("inside the header", false, hdrC[16:])
	step("after the header", true, "<presence/>  ")
	step("after a stanza", true, " \n ")
	step("after a keepalive", true, richMessage[:10])
	step("inside an element", false, richMessage[10:])
	step("after a rich stanza", true, StreamCloseTag)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d.buf != nil {
		t.Error("buffer kept after the stream closed")
	}
}

// TestNoBufferBetweenEvents: once an event is returned and nothing else is
// buffered, the decoder holds no buffer while the caller works.
func TestNoBufferBetweenEvents(t *testing.T) {
	r := &chunkReader{chunks: []string{decl + hdrC, richMessage, smallMessage + smallMessage, smallMessage}}
	d := NewDecoder(r, Limits{})
	for i, pipelined := range []bool{false, false, true, false, false} {
		ev, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if held := d.buf != nil; held != pipelined {
			t.Errorf("event %d (%v): buffer held = %v, want %v", i, ev.Kind, held, pipelined)
		}
	}
}
