package c2s

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// answer is what a flooding client got back: an error stanza (with its
// condition) or a result.
type answer struct {
	id, typ, condition string
}

// TestSlowReader: a client that stops reading is disconnected once
// MaxQueue bytes wait for it (writer.go), the sender learns it from
// recipient-unavailable bounces, and a third session exchanges messages
// normally throughout (the router never waits for a slow client).
func TestSlowReader(t *testing.T) {
	const maxQueue = 64 << 10
	e := newEnv(t, func(cfg *Config) { cfg.MaxQueue = maxQueue })
	flooder := e.login(t, "romeo", "flood")
	stalled := e.login(t, "juliet", "asleep")
	third := e.login(t, "nurse", "busy")

	// The flooder reads its answers in the background: bounces and the
	// results of its pings.
	answers := make(chan answer, 1024)
	go func() {
		defer close(answers)
		for {
			el, err := flooder.read()
			if err != nil {
				return
			}
			a := answer{id: el.Get("id"), typ: el.Get("type")}
			if se := stanzaErr(el); se != nil {
				a.condition = se.condition
			}
			answers <- a
		}
	}()
	// await consumes answers up to the one for id and returns it, along
	// with the conditions of the bounces before it.
	await := func(id string) (answer, []string) {
		t.Helper()
		var conds []string
		for a := range answers {
			if a.id == id {
				return a, conds
			}
			conds = append(conds, a.condition)
		}
		t.Fatal("the flooder's stream ended")
		return answer{}, nil
	}

	// The third session sends messages to itself until told to stop; every
	// round trip must complete.
	stop := make(chan struct{})
	done := make(chan error, 1)
	var rounds int
	var worst time.Duration
	go func() {
		for {
			select {
			case <-stop:
				if rounds == 0 {
					done <- fmt.Errorf("no round trip completed")
					return
				}
				done <- nil
				return
			default:
			}
			rounds++
			id := fmt.Sprintf("t%d", rounds)
			start := time.Now()
			if err := third.write(fmt.Sprintf(`<message to='%s' id='%s'><body>tick</body></message>`, third.jid, id)); err != nil {
				done <- err
				return
			}
			el, err := third.read()
			if err != nil {
				done <- fmt.Errorf("round trip %d: %w", rounds, err)
				return
			}
			if el.Name.Local != "message" || el.Get("id") != id || el.Get("type") == "error" {
				done <- fmt.Errorf("round trip %d: got %s", rounds, el)
				return
			}
			worst = max(worst, time.Since(start))
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()

	// Flood the stalled client until the server gives up on it. Every
	// window messages the flooder waits for a ping's answer, so that the
	// bounces in flight to it stay well below its own MaxQueue. The kernel
	// buffers a few megabytes; give up (and fail) far beyond that.
	const window = 32
	msg := fmt.Sprintf(`<message to='%s' id='flood'><body>%s</body></message>`, stalled.jid, strings.Repeat("x", 1024))
	sent := 0
	for dropped := false; !dropped; {
		if sent*len(msg) > 256<<20 {
			t.Fatalf("sent %d MiB and the stalled client is still connected", sent*len(msg)>>20)
		}
		var batch strings.Builder
		for range window {
			batch.WriteString(msg)
		}
		id := fmt.Sprintf("sync%d", sent)
		fmt.Fprintf(&batch, `<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>`, id, testDomain)
		if err := flooder.write(batch.String()); err != nil {
			t.Fatalf("flooder: %v", err)
		}
		sent += window
		a, conds := await(id)
		if a.typ != "result" {
			t.Fatalf("ping answer %+v", a)
		}
		// The message that overflows the queue is bounced with
		// recipient-unavailable; once the session is also gone from the
		// registry, later ones get service-unavailable.
		for _, c := range conds {
			if !dropped && c != string(stanza.RecipientUnavailable) ||
				c != string(stanza.RecipientUnavailable) && c != string(stanza.ServiceUnavailable) {
				t.Fatalf("bounces %q, want recipient-unavailable first", conds)
			}
			dropped = true
		}
	}
	t.Logf("flooder sent %d messages (%d KiB) before the stalled client was dropped", sent, sent*len(msg)>>10)

	// Once the stalled session is gone from the registry, a message of type
	// normal to its full JID is bounced with service-unavailable (RFC 6121
	// 8.5.3.2.1). Each probe waits for its own answer.
	for i := 0; ; i++ {
		id := fmt.Sprintf("probe%d", i)
		if err := flooder.write(fmt.Sprintf(`<message to='%s' id='%s'><body>?</body></message>`, stalled.jid, id)); err != nil {
			t.Fatal(err)
		}
		a, _ := await(id)
		if a.condition == string(stanza.ServiceUnavailable) {
			break
		}
		if a.condition != string(stanza.RecipientUnavailable) || i > 100000 {
			t.Fatalf("probe answered with %+v", a)
		}
	}

	// The stalled client finds its connection closed once it reads what
	// the kernel still held.
	stalled.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 64<<10)
	total := 0
	for {
		n, err := stalled.conn.Read(buf)
		total += n
		if err != nil {
			if errTimeout(err) {
				t.Fatalf("the stalled client's connection is still open after %d bytes", total)
			}
			break
		}
	}

	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("third session: %v", err)
	}
	t.Logf("third session: %d round trips during the flood, slowest %v", rounds, worst)
	// And everyone else still works.
	stillWorks(t, third)
	flooder.sendf(`<iq type='get' id='last' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>`, testDomain)
	if a, _ := await("last"); a.typ != "result" {
		t.Fatalf("flooder's last ping answered with %+v", a)
	}
}

// TestShutdown: Shutdown ends every bound session with <system-shutdown/>
// (RFC 6120 4.9.3.19), closes streams still negotiating, stops accepting
// and returns once every session is gone.
func TestShutdown(t *testing.T) {
	e := newEnv(t, nil)
	a := e.login(t, "juliet", "")
	b := e.login(t, "romeo", "")
	b.available()
	pending := e.reach(t, opened)
	if n := e.srv.Sessions(); n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Shutdown(ctx) }()

	a.expectStreamError(xmlstream.SystemShutdown)
	b.expectStreamError(xmlstream.SystemShutdown)
	pending.expectClosed()
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := e.srv.Sessions(); n != 0 {
		t.Fatalf("%d sessions after Shutdown", n)
	}
	if n := e.router.Registry.Count(); n != 0 {
		t.Fatalf("%d resources registered after Shutdown", n)
	}
	if c, err := net.DialTimeout("tcp", e.addr, ioTimeout); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after Shutdown")
	}
}
