package c2s

import (
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// The outbound side of a session. Until a resource is bound only the
// reader writes, directly. Afterwards everything goes through the
// session's xmlstream.Writer: stanzas are serialized into its pending
// buffer as they are delivered, and a writer goroutine exists only while
// there is something to write, so an idle session pins neither a
// goroutine nor a buffer.
//
// When the queue is full (more than Config.MaxQueue bytes waiting, which
// only happens when the client stops reading), the session is closed at
// once: the stanzas still queued are dropped and the client will see the
// stream end. A write that blocks longer than Config.WriteTimeout ends
// the session the same way. The router never waits for a slow client.
// Stored messages are not lost that way: they leave storage only once
// written (stanza.go).

// initWriter points the writer at the connection the stream now runs on.
func (s *session) initWriter() {
	s.q.Init(s.conn, s.raw, &s.srv.out)
}

// Deliver implements delivery.Sink.
func (s *session) Deliver(st *stanza.Element) bool {
	return s.countOut(func() bool {
		return s.enqueue(func(b []byte) []byte { return st.AppendXML(b, stanza.NSClient) }, false)
	})
}

// enqueue queues what fn writes. last marks the final write of the
// stream.
func (s *session) enqueue(fn func([]byte) []byte, last bool) bool {
	return s.q.Push(fn, last)
}

// Kick ends the session from outside its reader with a stream error
// (xmlstream.Conn).
func (s *session) Kick(e *xmlstream.StreamError) { s.kick(e) }

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

// Abort closes the TCP connection at once.
func (s *session) Abort() { s.raw.Close() }
