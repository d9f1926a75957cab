package s2s

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

type countRouter struct{ n atomic.Int64 }

func (r *countRouter) Route(*stanza.Element, jid.JID, jid.JID) { r.n.Add(1) }

// BenchmarkLinkMessages sends chat messages from a.test to b.test over one
// established, certificate-authenticated link, both servers in this
// process: it measures the whole path (Send, queue, serialization, TLS,
// the peer's decoding and checks, Router.Route) and counts the
// allocations of both ends per message. At most 1000 messages are in
// flight, so the queue never overflows.
func BenchmarkLinkMessages(b *testing.B) {
	w := newWorld(b)
	fast := func(c *Config) { c.RateLimit = 1e12; c.RateBurst = 1 << 30; c.MaxQueue = 1 << 20 }
	a := w.start("a.test", true, fast)
	got := &countRouter{}
	w.start("b.test", true, fast, func(c *Config) { c.Router = got })

	from, to := jid.MustParse("alice@a.test/phone"), jid.MustParse("bob@b.test")
	st := message(from.String(), to.String(), "Wherefore art thou, Romeo? A typical short chat message.")
	a.srv.Send(st, from, to)
	deadline := time.Now().Add(10 * time.Second)
	for got.n.Load() < 1 {
		if time.Now().After(deadline) {
			b.Fatal("the link did not come up")
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for int64(i)-got.n.Load() > 1000 {
			runtime.Gosched()
		}
		a.srv.Send(st, from, to)
	}
	for got.n.Load() < int64(b.N)+1 {
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
