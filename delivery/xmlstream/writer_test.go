package xmlstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// pipe returns the two ends of a loopback TCP connection: the writer's
// side and the peer's.
func pipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

// record collects what a Writer reports.
type record struct {
	mu      sync.Mutex
	written []int
	unsent  []int
	lost    []int
	full    int
}

func (r *record) config(max int) *WriterConfig[int] {
	return &WriterConfig[int]{
		Timeout: 200 * time.Millisecond,
		Max:     max,
		Written: func(v []int) { r.mu.Lock(); r.written = append(r.written, v...); r.mu.Unlock() },
		Unsent:  func(v []int) { r.mu.Lock(); r.unsent = append(r.unsent, v...); r.mu.Unlock() },
		Lost:    func(v []int) { r.mu.Lock(); r.lost = append(r.lost, v...); r.mu.Unlock() },
		Full:    func(net.Conn) { r.mu.Lock(); r.full++; r.mu.Unlock() },
	}
}

func (r *record) get() (written, unsent []int, full int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.written), slices.Clone(r.unsent), r.full
}

// once checks that the items 0..n-1 were each reported exactly once.
func (r *record) once(t *testing.T, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[int]int{}
	for _, v := range slices.Concat(r.written, r.unsent, r.lost) {
		seen[v]++
	}
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("item %d reported %d times (written %d, unsent %d, lost %d)", i, seen[i], len(r.written), len(r.unsent), len(r.lost))
		}
	}
}

func text(s string) func([]byte) []byte { return func(b []byte) []byte { return append(b, s...) } }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idle reports whether no writer goroutine runs and no buffer is held.
func (w *Writer[T]) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.writing && w.buf == nil
}

// TestWriterOrderAndItems: bytes arrive in order, items are reported
// written once their bytes are (an item queued with no bytes of its own,
// after the writer emptied the buffer, too), and an idle writer holds no
// goroutine and no buffer.
func TestWriterOrderAndItems(t *testing.T) {
	c, peer := pipe(t)
	var r record
	var w Writer[int]
	w.Init(c, c, r.config(0))
	var want bytes.Buffer
	for i := range 500 {
		s := fmt.Sprintf("<m id='%d'>%s</m>", i, bytes.Repeat([]byte("x"), i))
		want.WriteString(s)
		if !w.PushItem(text(s), i) {
			t.Fatalf("push %d refused", i)
		}
	}
	got := make([]byte, want.Len())
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes differ from what was pushed")
	}
	waitFor(t, "the writer to go idle", w.idle)
	if !w.PushItem(text(""), 500) {
		t.Fatal("empty push refused")
	}
	waitFor(t, "all items written", func() bool { wr, _, _ := r.get(); return len(wr) == 501 })
	written, unsent, _ := r.get()
	for i, v := range written {
		if v != i {
			t.Fatalf("items written out of order: %v", written[:i+1])
		}
	}
	if len(unsent) != 0 {
		t.Fatalf("unsent %v on a healthy connection", unsent)
	}
	waitFor(t, "the writer to go idle", w.idle)
}

// TestWriterFull: pushing past Max closes the connection at once, tells
// Full, refuses the push and every later one, and reports every item
// it had taken once.
func TestWriterFull(t *testing.T) {
	c, peer := pipe(t)
	var r record
	var w Writer[int]
	w.Init(c, c, r.config(1000))
	// The peer does not read: the kernel buffers fill, the writer blocks,
	// and what follows piles up in the queue until it passes Max.
	chunk := string(bytes.Repeat([]byte("y"), 100))
	pushed := 0
	for w.PushItem(text(chunk), pushed) {
		pushed++
		if pushed > 1e6 {
			t.Fatal("the queue never filled")
		}
	}
	// Every item is accounted for: written, or unsent (the one refused
	// counts as neither: the push said so).
	waitFor(t, "the writer to stop", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return !w.writing })
	r.once(t, pushed)
	if _, _, full := r.get(); full != 1 {
		t.Fatalf("Full told %d times", full)
	}
	if !w.Cut() || w.Push(text("z"), false) {
		t.Fatal("the writer takes more after it was cut off")
	}
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, peer); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("the peer's connection did not end: %v", err)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// TestWriterTimeoutUnsent: a write that blocks past Timeout closes the
// connection; items that were never handed to a write go to Unsent, those
// of the failed write to Lost, those written before to Written, each
// exactly once.
func TestWriterTimeoutUnsent(t *testing.T) {
	c, _ := pipe(t)
	var r record
	var w Writer[int]
	w.Init(c, c, r.config(0))
	big := string(bytes.Repeat([]byte("z"), 8<<10))
	n := 0
	for ; n < 4000 && w.PushItem(text(big), n); n++ {
	}
	waitFor(t, "the write to time out", w.Cut)
	waitFor(t, "the writer to stop", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return !w.writing })
	_, unsent, _ := r.get()
	if len(unsent) == 0 {
		t.Fatal("nothing reported unsent")
	}
	r.once(t, n)
	// Lost: only the items of the failed write, at most one chunk's worth.
	if lost := len(r.lost); lost > maxChunk/len(big)+1 {
		t.Fatalf("%d items lost in one write", lost)
	}
	if w.PushItem(text("late"), -1) {
		t.Fatal("a dead writer took an item")
	}
}

// TestWriterEnd: End drops what waits (returning its items), sends the
// final bytes and, with no Linger, closes the connection after them.
func TestWriterEnd(t *testing.T) {
	c, peer := pipe(t)
	var r record
	var w Writer[int]
	w.Init(c, c, r.config(0))
	w.PushItem(text("<a/>"), 1)
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	first := make([]byte, 4)
	if _, err := io.ReadFull(peer, first); err != nil || string(first) != "<a/>" {
		t.Fatalf("read %q, %v", first, err)
	}
	waitFor(t, "the writer to go idle", w.idle)
	// Hold the writer's lock so that nothing is handed to a write while
	// both items are queued.
	w.mu.Lock()
	w.buf = GetBuf()
	*w.buf = append(*w.buf, "<b/><c/>"...)
	w.items.add(4, 2)
	w.items.add(8, 3)
	w.mu.Unlock()
	if dropped := w.End(text("</end>")); !slices.Equal(dropped, []int{2, 3}) {
		t.Fatalf("End returned %v", dropped)
	}
	rest, err := io.ReadAll(peer)
	if err != nil || string(rest) != "</end>" {
		t.Fatalf("after End the peer read %q, %v", rest, err)
	}
	if w.Push(text("x"), false) || w.End(text("again")) != nil {
		t.Fatal("an ended writer takes more")
	}
	if w.Cut() {
		t.Fatal("a stream that ended normally counts as cut")
	}
}

// TestReadError is the one translation of a read error into what a peer
// is owed (RFC 6120 4.9).
func TestReadError(t *testing.T) {
	se := NewError(NotWellFormed, "x")
	timeout := &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name        string
		err         error
		negotiating bool
		want        Condition
		hungUp      bool
	}{
		{"stream error", fmt.Errorf("wrapped: %w", se), false, NotWellFormed, false},
		{"timeout while negotiating", timeout, true, ConnectionTimeout, false},
		{"timeout afterwards", timeout, false, "", false},
		{"EOF", io.EOF, true, "", true},
		{"closed", net.ErrClosed, false, "", true},
		{"other", io.ErrUnexpectedEOF, false, "", false},
	} {
		got, hungUp := ReadError(tc.err, tc.negotiating)
		var cond Condition
		if got != nil {
			cond = got.Condition
		}
		if cond != tc.want || hungUp != tc.hungUp {
			t.Errorf("%s: got %q hungUp=%v, want %q hungUp=%v", tc.name, cond, hungUp, tc.want, tc.hungUp)
		}
	}
}
