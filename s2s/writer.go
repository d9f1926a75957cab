package s2s

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// The sending side of a connection, once negotiation is over. What waits
// to be written is kept in wq: stanzas as elements (so that a connection
// that drops can hand the ones it never wrote back to its link, which
// reconnects and sends them), and protocol bytes (dialback answers, the
// closing tag) as bytes. A writer goroutine exists only while there is
// something to write, as in c2s/writer.go: an idle link pins neither a
// goroutine nor a buffer.
//
// Bounds: the link refuses stanzas past Config.MaxQueue waiting (it
// bounces them with <resource-constraint/>); protocol bytes past maxCtl
// mean the peer sends requests and does not read the answers, and the
// connection is closed. A write that blocks longer than
// Config.WriteTimeout closes the connection; the stanzas of that write
// are lost (no stream management on s2s), the ones behind it go back to
// the link.

// entry is one stanza waiting on a link.
type entry struct {
	st       *stanza.Element
	from, to jid.JID
	// kept is when a subscription stanza was first kept back by a failed
	// setup; zero otherwise.
	kept time.Time
}

const (
	maxCtl   = 64 << 10 // protocol bytes waiting before the peer is cut off
	maxChunk = 32 << 10 // bytes per write
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 256<<10 {
		return // do not keep a burst's buffer forever
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

type wq struct {
	nc, raw   net.Conn
	timeout   time.Duration
	closeWait time.Duration
	written   *atomic.Uint64 // stanzas written, for LinkInfo
	// requeue takes back stanzas a failed write did not reach (outbound
	// links); nil drops them.
	requeue func([]entry)

	mu         sync.Mutex
	items      []entry
	spare      []entry
	ctl        []byte
	writing    bool // a writer goroutine runs
	closing    bool // the stream ends once everything queued is written
	readerDone bool // the reader has exited: the last one out closes
	dead       bool // the connection is closed
}

func (q *wq) init(nc, raw net.Conn, timeout, closeWait time.Duration, written *atomic.Uint64) {
	q.nc, q.raw, q.timeout, q.closeWait, q.written = nc, raw, timeout, closeWait, written
}

// pending is the number of stanzas waiting.
func (q *wq) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// push queues a stanza. It returns false when the stream is ending or
// gone; the caller keeps the stanza.
func (q *wq) push(e entry) bool {
	q.mu.Lock()
	if q.dead || q.closing {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, e)
	q.kick()
	return true
}

// control queues protocol bytes. last ends the stream after them.
func (q *wq) control(b []byte, last bool) bool {
	q.mu.Lock()
	if q.dead || q.closing {
		q.mu.Unlock()
		return false
	}
	if len(q.ctl)+len(b) > maxCtl {
		q.dead = true
		q.mu.Unlock()
		q.raw.Close()
		return false
	}
	q.ctl = append(q.ctl, b...)
	if last {
		q.closing = true
	}
	q.kick()
	return true
}

// end ends the stream with final (a stream error and the closing tag, or
// just the tag), dropping the stanzas still waiting: they are returned.
func (q *wq) end(final []byte) []entry {
	q.mu.Lock()
	if q.dead || q.closing {
		q.mu.Unlock()
		return nil
	}
	items := q.items
	q.items = nil
	q.ctl = append(q.ctl, final...)
	q.closing = true
	q.kick()
	return items
}

// kick starts a writer if none runs, and unlocks q.mu.
func (q *wq) kick() {
	start := !q.writing
	q.writing = true
	q.mu.Unlock()
	if start {
		go q.flush()
	}
}

// flush writes until nothing is left, then exits.
func (q *wq) flush() {
	for {
		q.mu.Lock()
		if q.dead {
			q.writing = false
			q.mu.Unlock()
			return
		}
		items, ctl := q.items, q.ctl
		if len(items) == 0 && len(ctl) == 0 {
			q.writing = false
			closing, readerDone := q.closing, q.readerDone
			if closing && readerDone {
				q.dead = true
			}
			q.mu.Unlock()
			if closing {
				if readerDone {
					q.raw.Close()
				} else {
					// RFC 6120 4.4: wait a while for the peer's closing tag;
					// the reader closes the connection when it comes or
					// when this deadline passes.
					q.raw.SetReadDeadline(time.Now().Add(q.closeWait))
				}
			}
			return
		}
		q.items, q.spare = q.spare[:0], nil
		q.ctl = nil
		q.mu.Unlock()

		if !q.write(ctl, items) {
			return
		}
		clear(items) // let the stanzas go
		q.mu.Lock()
		if q.spare == nil && cap(items) <= 4*1024 {
			q.spare = items[:0]
		}
		q.mu.Unlock()
	}
}

// write sends ctl and then the stanzas, in chunks. On failure the
// connection is closed and the stanzas not yet serialized go back to the
// link.
func (q *wq) write(ctl []byte, items []entry) bool {
	bp := getBuf()
	b := append((*bp)[:0], ctl...)
	n := 0 // stanzas in b
	ok := true
	send := func(rest []entry) {
		q.nc.SetWriteDeadline(time.Now().Add(q.timeout))
		if _, err := q.nc.Write(b); err != nil {
			ok = false
			q.fail(rest)
			return
		}
		if q.written != nil && n > 0 {
			q.written.Add(uint64(n))
		}
		b, n = b[:0], 0
	}
	for i := range items {
		b = appendStanza(b, items[i].st)
		n++
		if len(b) >= maxChunk {
			if send(items[i+1:]); !ok {
				break
			}
		}
	}
	if ok && len(b) > 0 {
		send(nil)
	}
	*bp = b
	putBuf(bp)
	return ok
}

func (q *wq) fail(rest []entry) {
	q.mu.Lock()
	q.dead = true
	q.writing = false
	waiting := q.items
	q.items = nil
	q.mu.Unlock()
	// Back to the link before the connection closes, so that the
	// reader's exit (which the close causes) finds them there.
	if q.requeue != nil {
		q.requeue(append(append([]entry(nil), rest...), waiting...))
	}
	q.raw.Close()
}

// readerExit is called by the reader when it stops. It closes the
// connection unless a writer is still busy, which then does.
func (q *wq) readerExit() (unsent []entry) {
	q.mu.Lock()
	q.readerDone = true
	unsent = q.items
	q.items = nil
	idle := !q.writing
	if idle {
		q.dead = true
	} else {
		q.closing = true
	}
	q.mu.Unlock()
	if idle {
		q.raw.Close()
	}
	return unsent
}

// appendStanza serializes a stanza for a jabber:server stream. A stanza
// from a local client is in jabber:client; naming its own namespace as
// the parent leaves it (and its jabber:client descendants) without an
// xmlns, so it takes the stream's jabber:server (RFC 6120 4.8.3), while
// children in other namespaces keep theirs.
func appendStanza(b []byte, st *stanza.Element) []byte {
	parent := stanza.NSServer
	if st.Name.Space == stanza.NSClient {
		parent = stanza.NSClient
	}
	return st.AppendXML(b, parent)
}
