package c2s

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// storeMessages puts n stored messages of size bytes for bare in the
// offline store, with ids m0, m1...
func (e *env) storeMessages(t *testing.T, bare jid.JID, n, size int) {
	t.Helper()
	body := strings.Repeat("x", size)
	for i := range n {
		st := stanza.NewElement(stanza.NSClient, "message").
			Set("from", "juliet@"+testDomain+"/balcony").Set("to", bare.String()).
			Set("type", "chat").Set("id", fmt.Sprintf("m%d", i))
		st.Append(stanza.NewElement(stanza.NSClient, "body").AppendText(body))
		if err := e.offline.Store(bare, st); err != nil {
			t.Fatal(err)
		}
	}
}

// replayRound logs in a resource of user, sends initial presence,
// optionally stops reading for stall, then reads until the connection
// ends, nothing comes for quiet, or every id has been seen. It returns how
// many messages it read and how many of them were seen before.
func (e *env) replayRound(t *testing.T, user string, seen map[string]bool, want int, stall, quiet time.Duration) (got, dups int) {
	t.Helper()
	c := e.login(t, user, "")
	defer c.raw.Close()
	if stall > 0 {
		// A client that stops reading: a receive buffer far smaller than
		// the messages, so that the server's writes block rather than
		// land in the kernel.
		if err := c.raw.(*net.TCPConn).SetReadBuffer(256 << 10); err != nil {
			t.Fatal(err)
		}
	}
	c.send(`<presence/>`)
	if stall > 0 {
		time.Sleep(stall) // the client stalls: this is the scenario, not synchronization
	}
	for len(seen) < want {
		c.conn.SetReadDeadline(time.Now().Add(quiet))
		ev, err := c.dec.Next()
		if err != nil || ev.Element == nil {
			return got, dups
		}
		el := ev.Element
		if el.Name.Local != "message" {
			continue
		}
		if el.Child(nsDelay, "delay") == nil {
			t.Errorf("stored message %s without a delay stamp", el.Get("id"))
		}
		got++
		if seen[el.Get("id")] {
			dups++
		}
		seen[el.Get("id")] = true
	}
	return got, dups
}

// TestOfflineReplaySlowClient: 600 stored messages of 10 KiB and a client
// that stops reading for 3 s after its initial presence, long enough to be
// cut off (WriteTimeout 1 s). A stored message leaves storage only once it
// was written to the client's connection, so the client, reconnecting,
// finally has every message; the store ends empty. A fast client gets all
// of them at its first login, each once.
func TestOfflineReplaySlowClient(t *testing.T) {
	const n, size = 600, 10 << 10
	romeo := jid.MustParse("romeo@" + testDomain)

	t.Run("fast", func(t *testing.T) {
		e := newEnv(t, nil)
		e.storeMessages(t, romeo, n, size)
		seen := map[string]bool{}
		got, dups := e.replayRound(t, "romeo", seen, n, 0, ioTimeout)
		if len(seen) != n || dups != 0 || got != n {
			t.Fatalf("read %d messages, %d distinct, %d duplicates; want %d once each", got, len(seen), dups, n)
		}
		eventually(t, "the store to empty", func() bool { p, _ := e.offline.state(romeo); return p == 0 })
	})

	t.Run("stalled", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.WriteTimeout = time.Second })
		e.storeMessages(t, romeo, n, size)
		seen := map[string]bool{}
		got, dups := e.replayRound(t, "romeo", seen, n, 3*time.Second, 2*time.Second)
		t.Logf("login 1 (stalled 3 s): %d messages read", got)
		if len(seen) == n {
			t.Fatal("the stalled client was not cut off: the test proves nothing")
		}
		total := dups
		for i := 2; len(seen) < n; i++ {
			if i > 10 {
				t.Fatalf("after %d logins the client has %d of %d messages", i-1, len(seen), n)
			}
			got, dups := e.replayRound(t, "romeo", seen, n, 0, ioTimeout)
			t.Logf("login %d: %d messages read, %d duplicates", i, got, dups)
			total += dups
		}
		t.Logf("every message arrived; %d duplicates in all", total)
		eventually(t, "the store to empty", func() bool { p, _ := e.offline.state(romeo); return p == 0 })
	})

	// A second resource becomes available while the first, stalled, holds
	// the replay: it gets nothing then, and the rest once the first is cut
	// off.
	t.Run("handover", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.WriteTimeout = 4 * time.Second })
		e.storeMessages(t, romeo, n, size)
		a := e.login(t, "romeo", "a")
		defer a.raw.Close()
		if err := a.raw.(*net.TCPConn).SetReadBuffer(256 << 10); err != nil {
			t.Fatal(err)
		}
		a.send(`<presence/>`)
		eventually(t, "the replay to a", func() bool { p, acked := e.offline.state(romeo); return acked > 0 && p > 0 })
		b := e.login(t, "romeo", "b")
		b.available()
		if e.srv.Sessions() != 2 {
			t.Fatal("a was cut off before b became available: the test proves nothing")
		}
		// a is cut off (WriteTimeout) while it does not read; b gets what
		// a's replay had not written.
		eventually(t, "a to be cut off", func() bool { return e.srv.Sessions() == 1 })
		// What a's replay wrote before the cut is still in a's socket.
		seen := map[string]bool{}
		for {
			el, err := a.read()
			if err != nil {
				break
			}
			if el.Name.Local == "message" {
				seen[el.Get("id")] = true
			}
		}
		fromA := len(seen)
		for len(seen) < n {
			if el := b.next(); el.Name.Local == "message" {
				seen[el.Get("id")] = true
			}
		}
		eventually(t, "the store to empty", func() bool { p, _ := e.offline.state(romeo); return p == 0 })
		t.Logf("a read %d messages, b got the rest after a was cut off", fromA)
	})
}

// eventually polls cond until it holds or ioTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
