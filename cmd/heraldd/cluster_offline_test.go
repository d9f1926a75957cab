package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// offlineBurst is a client of one node sending messages to an account
// with no session anywhere in the cluster, each followed by a ping: the
// answer comes once the message is stored, or after the error that
// refused it. It runs on its own goroutine and fails no test.
type offlineBurst struct {
	mu     sync.Mutex
	acked  map[string]bool   // ids the sender got no error for
	failed map[string]string // ids refused, with the error condition
	ended  error             // what ended the burst early, if anything
	done   chan struct{}
}

func startOfflineBurst(c *rawClient, to string, n int) *offlineBurst {
	b := &offlineBurst{acked: map[string]bool{}, failed: map[string]string{}, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for i := range n {
			id := fmt.Sprintf("off%d", i)
			err := c.write(`<message to='` + to + `' id='` + id + `' type='chat'><body>` + id + `</body></message>`)
			var got []*stanza.Element
			if err == nil {
				got, err = c.ping()
			}
			cond := ""
			for _, el := range got {
				cond += errorOf(el)
			}
			b.mu.Lock()
			switch {
			case err != nil:
				b.ended = err
			case cond == "":
				b.acked[id] = true
			default:
				b.failed[id] = cond
			}
			b.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return b
}

func (b *offlineBurst) ackedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.acked)
}

// waitAcked waits until n messages are acknowledged.
func (b *offlineBurst) waitAcked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for b.ackedCount() < n {
		if time.Now().After(deadline) {
			b.mu.Lock()
			defer b.mu.Unlock()
			t.Fatalf("%d offline messages acknowledged, %d refused %v, ended by %v; want %d acknowledged",
				len(b.acked), len(b.failed), conditions(b.failed), b.ended, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkOfflineDelivered waits until every node stores the same number of
// offline messages for user, at least every acknowledged one, then logs
// user in at node at and checks that each acknowledged message arrives
// exactly once; afterwards storage is empty on every node.
func checkOfflineDelivered(t *testing.T, nodes []*clusterNode, at int, user, password string, b *offlineBurst) {
	t.Helper()
	<-b.done
	count := 0
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts := map[int]int{}
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			o, err := n.client().Offline(ctx, user+"@localhost")
			cancel()
			if err == nil {
				counts[o.Count]++
				count = o.Count
			}
		}
		if len(counts) == 1 && counts[count] == len(nodes) && count >= len(b.acked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored offline messages per node never agreed: %v, acknowledged %d", counts, len(b.acked))
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := rawLogin(t, nodes[at].server, user, password, "after")
	c.send("<presence/>")
	seen := map[string]int{}
	for _, el := range c.messages(count) {
		seen[el.Get("id")]++
	}
	lost, dup, refusedButDelivered := 0, 0, 0
	for id := range b.acked {
		if seen[id] == 0 {
			lost++
		}
	}
	for id, k := range seen {
		if k > 1 {
			dup++
		}
		if b.failed[id] != "" {
			refusedButDelivered++
		}
	}
	t.Logf("offline messages: %d acknowledged, %d refused %v, burst ended by %v; %d stored, %d delivered: %d acknowledged lost, %d duplicated, %d refused but delivered",
		len(b.acked), len(b.failed), conditions(b.failed), b.ended, count, len(seen), lost, dup, refusedButDelivered)
	if lost > 0 || dup > 0 {
		t.Fatalf("%d acknowledged offline messages lost, %d duplicated", lost, dup)
	}
	for _, n := range nodes {
		waitOfflineEmpty(t, n, user+"@localhost")
	}
}

// conditions counts refusals by condition.
func conditions(failed map[string]string) map[string]int {
	out := map[string]int{}
	for _, c := range failed {
		out[c]++
	}
	return out
}

func waitOfflineEmpty(t *testing.T, n *clusterNode, user string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		o, err := n.client().Offline(ctx, user)
		cancel()
		if err == nil && o.Count == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: after delivery %s's storage holds %+v (%v)", n.id, user, o, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
