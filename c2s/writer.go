package c2s

import (
	"sync"
	"time"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// The outbound side of a session. Stanzas are serialized into a pending
// buffer as they are delivered; a writer goroutine exists only while there
// is something to write, so an idle session pins neither a goroutine nor
// a buffer.
//
// When the queue is full (more than Config.MaxQueue bytes waiting, which
// only happens when the client stops reading), the session is closed at
// once: the stanzas still queued are dropped and the client will see the
// stream end. A write that blocks longer than Config.WriteTimeout ends
// the session the same way. The router never waits for a slow client.

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

type outq struct {
	mu      sync.Mutex
	pending *[]byte // bytes waiting; nil when empty
	writing bool    // a writer goroutine is running
	closing bool    // close the connection once pending is written
	dead    bool    // connection closed: drop everything
}

// Deliver implements delivery.Sink.
func (s *session) Deliver(st *stanza.Element) bool {
	return s.enqueue(func(b []byte) []byte { return st.AppendXML(b, stanza.NSClient) }, false)
}

// enqueue appends what fn writes to the pending buffer and makes sure a
// writer runs. last marks the final write of the stream.
func (s *session) enqueue(fn func([]byte) []byte, last bool) bool {
	q := &s.q
	q.mu.Lock()
	if q.dead || q.closing {
		q.mu.Unlock()
		return false
	}
	if q.pending == nil {
		q.pending = bufPool.Get().(*[]byte)
	}
	*q.pending = fn(*q.pending)
	if len(*q.pending) > s.srv.cfg.MaxQueue {
		q.dead = true
		q.mu.Unlock()
		// This runs on the goroutine of whoever sent the stanza: close the
		// TCP connection, which never blocks, not the TLS one.
		s.srv.cfg.Log.Info("c2s: client not reading, queue full; closing", "remote", s.raw.RemoteAddr().String())
		s.raw.Close()
		return false
	}
	if last {
		q.closing = true
	}
	start := !q.writing
	q.writing = true
	q.mu.Unlock()
	if start {
		go s.flush()
	}
	return true
}

// flush writes pending bytes until none are left, then exits.
func (s *session) flush() {
	q := &s.q
	for {
		q.mu.Lock()
		buf := q.pending
		q.pending = nil
		if buf == nil || q.dead {
			q.writing = false
			closing := q.closing || q.dead
			q.mu.Unlock()
			if buf != nil {
				putBuf(buf)
			}
			if closing {
				s.closeConn()
			}
			return
		}
		q.mu.Unlock()
		s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
		_, err := s.conn.Write(*buf)
		putBuf(buf)
		if err != nil {
			q.mu.Lock()
			q.dead = true
			q.mu.Unlock()
			s.conn.Close()
		}
	}
}

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // do not keep a burst's buffer forever
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// closeConn ends the stream politely where possible: TLS close_notify,
// then the TCP connection.
func (s *session) closeConn() {
	if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
		s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		cw.CloseWrite()
	}
	s.conn.Close()
}

// kick ends the session from outside its reader with a stream error.
func (s *session) kick(e *xmlstream.StreamError) {
	s.closeMu.Lock()
	bound := s.bound
	s.closeMu.Unlock()
	if !bound {
		// Still negotiating: the reader writes directly and would race a
		// queued write, so just end the connection.
		s.raw.Close()
		return
	}
	s.enqueue(func(b []byte) []byte {
		b = e.AppendXML(b)
		return append(b, xmlstream.StreamCloseTag...)
	}, true)
}
