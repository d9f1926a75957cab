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
// pair asks, the second approves; then the first unsubscribes and the
// second confirms, which brings both back to None for the next cycle.
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
	var cycles atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < o.pairs; p++ {
		a, b := clients[2*p], clients[2*p+1]
		abare, bbare := bare(a.jid), bare(b.jid)
		// The contact answers whatever arrives from a.
		wg.Add(2)
		go func() {
			defer wg.Done()
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
					b.send([]byte("<presence type='unsubscribed' to='" + abare + "'/>"))
				}
			}
		}()
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if a.send([]byte("<presence type='subscribe' to='"+bbare+"'/>")) != nil || !a.waitPresence(bbare, "subscribed") {
					return
				}
				if a.send([]byte("<presence type='unsubscribe' to='"+bbare+"'/>")) != nil || !a.waitPresence(bbare, "unsubscribed") {
					return
				}
				cycles.Add(1)
			}
		}()
	}
	<-ctx.Done()
	elapsed := time.Since(start)
	n := cycles.Load()
	for _, c := range clients {
		c.close()
	}
	wg.Wait()
	fmt.Fprintf(stdout, "pairs %d completed %d subscribe/approve/unsubscribe cycles in %v: %.0f handshakes/s\n",
		o.pairs, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	return nil
}

func bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}
