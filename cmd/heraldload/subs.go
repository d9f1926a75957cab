package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// subs runs subscription handshake cycles between pairs: the first of a
// pair asks (subscribe), the second approves (subscribed), then the first
// unsubscribes, which brings both back to None for the next cycle. A cycle
// counts once every one of its three stanzas has reached the other client.
//
// The contact does not answer the unsubscribe with unsubscribed: by then
// its subscription state is None, and RFC 6121 3.2.2 has its server drop
// an unsubscribed sent in state None, so a cycle that waited for one would
// never end (Herald and Prosody both drop it). The user's side learns that
// the unsubscribe arrived from the contact's reader in this process.
//
// A server may answer stanzas of a cycle on its own, after the client has
// seen them: an "unsubscribed" auto-reply to the unsubscribe (RFC 6121
// A.3.2, Herald does) or to a presence probe (4.3.2). Such a late
// "unsubscribed" can reach the user's server after the next subscribe and
// cancel it (A.3.4, None + Pending Out -> None), and the contact's approval
// is then ignored (3.1.6). The user sees that "unsubscribed" (3.2.3) and
// asks again; these repeats are reported, so the race stays visible.
func subs(o options, stdout io.Writer) error {
	clients, err := connectAll(o, 2*o.pairs, 0)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	var cycles, repeats atomic.Int64
	last := make([]atomic.Int64, o.pairs) // unix nanoseconds of each pair's last cycle
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < o.pairs; p++ {
		a, b := clients[2*p], clients[2*p+1]
		abare, bbare := bare(a.jid), bare(b.jid)
		// The contact answers subscribe and reports unsubscribe on gone;
		// bdone closes when its stream ends.
		gone, bdone := make(chan struct{}, 1), make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(bdone)
			for {
				el, err := b.readElement()
				if err != nil {
					return
				}
				if el.Name.Local != "presence" || bare(el.Get("from")) != abare {
					continue
				}
				switch el.Get("type") {
				case "subscribe":
					b.send([]byte("<presence type='subscribed' to='" + abare + "'/>"))
				case "unsubscribe":
					select {
					case gone <- struct{}{}:
					default:
					}
				}
			}
		}()
		go func() {
			defer wg.Done()
			subscribe := []byte("<presence type='subscribe' to='" + bbare + "'/>")
			for ctx.Err() == nil {
				if a.send(subscribe) != nil {
					return
				}
				for {
					typ, ok := a.waitAnswer(bbare)
					if !ok {
						return
					}
					if typ == "subscribed" {
						break
					}
					// A late "unsubscribed" cancelled the request: ask again.
					repeats.Add(1)
					if a.send(subscribe) != nil {
						return
					}
				}
				if a.send([]byte("<presence type='unsubscribe' to='"+bbare+"'/>")) != nil {
					return
				}
				select {
				case <-gone:
				case <-bdone:
					return
				}
				cycles.Add(1)
				last[p].Store(time.Now().UnixNano())
			}
		}()
	}
	<-ctx.Done()
	end := time.Now()
	elapsed := end.Sub(start)
	n := cycles.Load()
	// A pair with no cycle in the last quarter of the run (at least 1s) has
	// stalled: a stanza of its cycle was lost.
	quiet := max(elapsed/4, time.Second)
	stalled := 0
	for p := range last {
		if end.Sub(time.Unix(0, last[p].Load())) > quiet {
			stalled++
		}
	}
	for _, c := range clients {
		c.close()
	}
	wg.Wait()
	fmt.Fprintf(stdout, "pairs %d completed %d subscribe/approve/unsubscribe cycles in %v: %.0f handshakes/s\n",
		o.pairs, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	fmt.Fprintf(stdout, "requests repeated after a late unsubscribed %d, pairs stalled at the end %d (no cycle in the last %v)\n",
		repeats.Load(), stalled, quiet.Round(time.Millisecond))
	return nil
}

// waitAnswer reads until presence of type subscribed or unsubscribed from
// the bare JID from, and returns its type; ok is false when the stream
// ended.
func (c *client) waitAnswer(from string) (typ string, ok bool) {
	for {
		el, err := c.readElement()
		if err != nil {
			return "", false
		}
		if el.Name.Local != "presence" || bare(el.Get("from")) != from {
			continue
		}
		if t := el.Get("type"); t == "subscribed" || t == "unsubscribed" {
			return t, true
		}
	}
}

func bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}
