package s2s

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// acceptDialback plays b.test up to a link authenticated by dialback.
func acceptDialback(t *testing.T, conn net.Conn) *scripted {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	s := newScripted(t, conn, "S", "C")
	s.header()
	s.send(peerHeader + `S1'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
	s.element("starttls")
	s.send(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	s.tls(true, testPKI(t).cert(t, "b.test"), "")
	s.header()
	s.send(peerHeader + `S2'><stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>`)
	s.element("result")
	s.send(`<db:result from='b.test' to='a.test' type='valid'/>`)
	return s
}

// TestQueuedStanzasSurviveAClose: the peer stops reading, then closes
// its stream. The stanza our writer was blocked on is lost (no stream
// management on s2s); the ones queued behind it go out, in order, on a
// new connection.
func TestQueuedStanzasSurviveAClose(t *testing.T) {
	w := newWorld(t)
	conns := make(chan net.Conn, 2)
	a := w.start("a.test", false, func(c *Config) {
		c.WriteTimeout = 300 * time.Millisecond
		c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ours, theirs := net.Pipe()
			conns <- theirs
			return ours, nil
		}
	})
	w.res.m["b.test"] = []Target{{Host: "192.0.2.1", Port: 5269}}

	a.send(message("alice@a.test", "bob@b.test", "first"))
	first := acceptDialback(t, <-conns)
	first.element("message")
	// Stop reading. The next stanza blocks the writer in Write...
	a.send(message("alice@a.test", "bob@b.test", "blocked"))
	link := func() *link {
		a.srv.mu.Lock()
		defer a.srv.mu.Unlock()
		return a.srv.out[pair{"a.test", "b.test"}]
	}()
	eventually(t, wait, "the writer to take the stanza", func() bool {
		link.mu.Lock()
		defer link.mu.Unlock()
		return link.c != nil && link.c.q.Pending() == 0
	})
	// ...and these two wait in the queue.
	a.send(message("alice@a.test", "bob@b.test", "queued 1"))
	a.send(message("alice@a.test", "bob@b.test", "queued 2"))
	first.send(`</stream:stream>`)

	second := acceptDialback(t, <-conns)
	for _, want := range []string{"queued 1", "queued 2"} {
		ev := second.next()
		if ev.Kind != xmlstream.Element || body(ev.Element) != want {
			t.Fatalf("got %v %v, want %q", ev.Kind, ev.Element, want)
		}
	}
	if li, _ := a.link(Outbound, "b.test"); li.State != "ready" {
		t.Errorf("link: %+v", li)
	}
}
