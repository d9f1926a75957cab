package xmlstream

import (
	"net"
	"slices"
	"sync"
	"time"
)

// Writer is the sending side of a stream once negotiation is over, for
// client and server streams alike. Whatever is to be sent is serialized
// into one pending buffer at once, on the goroutine that sends it; a writer
// goroutine exists only while there is something to write, so an idle
// stream pins neither a goroutine nor a buffer (buffers come from a pool).
//
// Items of type T may be tied to the bytes queued with them (PushItem).
// Each item is reported exactly once: to Config.Written once its bytes
// are written; to Config.Unsent when the stream failed or was cut off
// before they were handed to the connection; to Config.Lost when they
// were in the write that failed (they may or may not have left). Only
// End hands items back to its caller instead. s2s uses this to send again
// the stanzas a dropped connection never wrote; c2s to learn when stored
// messages were written.
//
// Bounds and what happens past them:
//   - More than Config.Max bytes waiting (the peer does not read): the
//     connection is closed at once, what waits is dropped, and
//     Config.Full is told. The sender never waits for a slow peer.
//   - A write that blocks longer than Config.Timeout: the connection is
//     closed; what waits behind it goes to Unsent.
//
// The zero Writer is not usable: call Init once the connection that
// carries the stream is known (again after STARTTLS).
type Writer[T any] struct {
	conn net.Conn // where bytes are written (the TLS connection)
	raw  net.Conn // the TCP connection under conn: closing it never blocks
	cfg  *WriterConfig[T]

	mu         sync.Mutex
	buf        *[]byte  // bytes waiting; nil when none
	items      marks[T] // items tied to offsets in buf
	spare      marks[T]
	writing    bool // a writer goroutine runs
	closing    bool // the stream ends once what is queued is written
	readerDone bool // the reader has exited
	dead       bool // the connection is closed: drop everything
	cut        bool // by the writer: a failed write, or past Max
}

// WriterConfig is what a server's streams share; it must not change once
// a Writer uses it.
type WriterConfig[T any] struct {
	// Timeout bounds one write. Required.
	Timeout time.Duration
	// Max is the number of bytes that may wait before the peer is judged
	// not to read and is cut off; 0 means no bound (the caller bounds
	// what it queues).
	Max int
	// Linger is how long the reader may wait for the peer's closing tag
	// after ours was written (RFC 6120 4.4); 0 closes the connection as
	// soon as our last bytes are written.
	Linger time.Duration
	// Written gets the items whose bytes were written, in order, on the
	// writer goroutine (no lock held: it may push). It must not keep the
	// slice, and it holds up the stream while it runs.
	Written func([]T)
	// Unsent gets the items whose bytes were never handed to the
	// connection when it failed or was cut off; nil drops them.
	Unsent func([]T)
	// Lost gets the items of a write that failed; nil drops them.
	Lost func([]T)
	// Full is told when Max was passed, before the connection closes.
	Full func(raw net.Conn)
}

// marks are items and, for each, the offset in the buffer just after its
// bytes.
type marks[T any] struct {
	ends []int
	vals []T
}

func (m *marks[T]) add(end int, v T) {
	m.ends = append(m.ends, end)
	m.vals = append(m.vals, v)
}

// upTo is the number of items whose bytes end at or before off.
func (m *marks[T]) upTo(off int) int {
	n := 0
	for n < len(m.ends) && m.ends[n] <= off {
		n++
	}
	return n
}

func (m *marks[T]) drop(n int) {
	m.ends, m.vals = m.ends[n:], m.vals[n:]
}

func (m *marks[T]) reset() {
	clear(m.vals) // let the items go
	m.ends, m.vals = m.ends[:0], m.vals[:0]
}

// maxChunk is the most one write sends: the granularity at which items are
// known to be written.
const maxChunk = 32 << 10

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// GetBuf returns an empty buffer from the pool shared by every stream.
func GetBuf() *[]byte { return writeBufs.Get().(*[]byte) }

// PutBuf returns a buffer to the pool; a burst's large buffer is let go.
func PutBuf(b *[]byte) {
	if cap(*b) > 256<<10 {
		return
	}
	*b = (*b)[:0]
	writeBufs.Put(b)
}

// Init sets the connection the stream is written to and its TCP
// connection. Only the reader calls it, before anything is queued.
func (w *Writer[T]) Init(conn, raw net.Conn, cfg *WriterConfig[T]) {
	w.mu.Lock()
	w.conn, w.raw, w.cfg = conn, raw, cfg
	w.mu.Unlock()
}

// Push queues what fn appends. last ends the stream after it. It returns
// false, queuing nothing, when the stream is ending or gone or when Max
// was passed.
func (w *Writer[T]) Push(fn func([]byte) []byte, last bool) bool {
	var zero T
	return w.push(fn, last, false, zero)
}

// PushItem queues what fn appends, tied to v (see Writer).
func (w *Writer[T]) PushItem(fn func([]byte) []byte, v T) bool {
	return w.push(fn, false, true, v)
}

func (w *Writer[T]) push(fn func([]byte) []byte, last, item bool, v T) bool {
	w.mu.Lock()
	if w.dead || w.closing {
		w.mu.Unlock()
		return false
	}
	if w.buf == nil {
		w.buf = GetBuf()
	}
	*w.buf = fn(*w.buf)
	if w.cfg.Max > 0 && len(*w.buf) > w.cfg.Max {
		w.dead, w.cut = true, true
		unsent := w.takeItems()
		w.mu.Unlock()
		w.report(w.cfg.Unsent, unsent)
		if w.cfg.Full != nil {
			w.cfg.Full(w.raw)
		}
		// This runs on the sender's goroutine: close the TCP connection,
		// which never blocks, not the TLS one.
		w.raw.Close()
		return false
	}
	if item {
		w.items.add(len(*w.buf), v)
	}
	if last {
		w.closing = true
	}
	w.kick()
	return true
}

// End ends the stream with what final appends (a stream error and the
// closing tag, or the tag alone). What waits and was not yet handed to a
// write is dropped: its items are returned. Nothing happens, and nil is
// returned, when the stream is already ending or gone.
func (w *Writer[T]) End(final func([]byte) []byte) []T {
	w.mu.Lock()
	if w.dead || w.closing {
		w.mu.Unlock()
		return nil
	}
	dropped := slices.Clone(w.items.vals)
	w.items.reset()
	if w.buf == nil {
		w.buf = GetBuf()
	}
	*w.buf = final((*w.buf)[:0])
	w.closing = true
	w.kick()
	return dropped
}

// Pending is the number of items waiting, not yet handed to a write.
func (w *Writer[T]) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.items.vals)
}

// Cut reports whether the writer cut the connection: a write failed or
// timed out, or Max was passed. A stream that ended otherwise (the peer
// closed it, the reader stopped) was not cut.
func (w *Writer[T]) Cut() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cut
}

// ReaderExit is called by the reader when it stops. The connection closes
// now if nothing is being written, otherwise once what is queued is.
func (w *Writer[T]) ReaderExit() {
	w.mu.Lock()
	w.readerDone = true
	idle := !w.writing && !w.dead
	if idle {
		w.dead = true
	} else {
		w.closing = true
	}
	w.mu.Unlock()
	if idle {
		w.closeConn()
	}
}

// kick starts a writer goroutine if none runs, and unlocks w.mu.
func (w *Writer[T]) kick() {
	start := !w.writing
	w.writing = true
	w.mu.Unlock()
	if start {
		go w.flush()
	}
}

// flush writes until nothing is left, then exits.
func (w *Writer[T]) flush() {
	for {
		w.mu.Lock()
		if w.buf == nil || w.dead {
			w.finish()
			return
		}
		buf, items := w.buf, w.items
		w.buf, w.items, w.spare = nil, w.spare, marks[T]{}
		w.mu.Unlock()

		ok := w.write(*buf, items)
		PutBuf(buf)
		items.reset()
		w.mu.Lock()
		if w.spare.vals == nil && cap(items.vals) <= 1024 {
			w.spare = items
		}
		w.mu.Unlock()
		if !ok {
			return
		}
	}
}

// finish runs when the writer goroutine has nothing left, with w.mu held,
// and unlocks it: an ending stream is closed, or left to the reader for a
// while to read the peer's closing tag.
func (w *Writer[T]) finish() {
	w.writing = false
	if !w.closing && !w.dead {
		w.mu.Unlock()
		return
	}
	unsent := w.takeItems() // dead: what waits is dropped
	closed := w.dead
	linger := !w.dead && !w.readerDone && w.cfg.Linger > 0
	if !linger {
		w.dead = true
	}
	w.mu.Unlock()
	w.report(w.cfg.Unsent, unsent)
	switch {
	case linger:
		// RFC 6120 4.4: wait a while for the peer's closing tag; the
		// reader closes the connection when it comes or when this
		// deadline passes.
		w.raw.SetReadDeadline(time.Now().Add(w.cfg.Linger))
	case !closed:
		w.closeConn()
	}
}

// write sends b in chunks, reporting the items it wrote. On failure the
// connection is closed and the items of later chunks, and those queued
// meanwhile, go to Unsent.
func (w *Writer[T]) write(b []byte, items marks[T]) bool {
	for off := 0; off < len(b); {
		end := min(off+maxChunk, len(b))
		w.conn.SetWriteDeadline(time.Now().Add(w.cfg.Timeout))
		if _, err := w.conn.Write(b[off:end]); err != nil {
			// The items of this write may or may not have left.
			n := items.upTo(end)
			w.report(w.cfg.Lost, items.vals[:n])
			items.drop(n)
			w.fail(items.vals)
			return false
		}
		if n := items.upTo(end); n > 0 {
			if w.cfg.Written != nil {
				w.cfg.Written(items.vals[:n])
			}
			items.drop(n)
		}
		off = end
	}
	// Items at the very end of an empty buffer: what came before them was
	// written by earlier writes.
	if n := items.upTo(len(b)); n > 0 && w.cfg.Written != nil {
		w.cfg.Written(items.vals[:n])
	}
	return true
}

func (w *Writer[T]) fail(rest []T) {
	w.mu.Lock()
	w.dead, w.cut = true, true
	w.writing = false
	unsent := append(slices.Clone(rest), w.takeItems()...)
	w.mu.Unlock()
	// Back to the owner before the connection closes, so that the
	// reader's exit (which the close causes) finds them there.
	w.report(w.cfg.Unsent, unsent)
	w.raw.Close()
}

// takeItems drops what waits, with w.mu held, and returns its items.
func (w *Writer[T]) takeItems() []T {
	if w.buf != nil {
		PutBuf(w.buf)
		w.buf = nil
	}
	v := slices.Clone(w.items.vals)
	w.items.reset()
	return v
}

func (w *Writer[T]) report(to func([]T), v []T) {
	if to != nil && len(v) > 0 {
		to(v)
	}
}

func (w *Writer[T]) closeConn() { Close(w.conn, w.raw) }

// Close ends a connection politely where possible: a TLS close_notify
// (conn is the TLS connection), then the TCP connection raw.
func Close(conn, raw net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok && conn != raw {
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		cw.CloseWrite()
	}
	raw.Close()
}
