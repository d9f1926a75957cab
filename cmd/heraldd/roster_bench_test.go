package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// The roster write path of a whole daemon: the roster service over the
// consensus node (one Raft commit, fsync'd in the bolt log, per RosterOp),
// the registry and the offline store. Figures to read: handshakes/s and
// commits/handshake; for the roster get, ns/op and allocs/op.

// startBench is startInProcess for any testing.TB, with logs discarded.
func startBench(tb testing.TB) *daemon {
	tb.Helper()
	d, err := start(testConfig(tb.TempDir()), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.close(ctx)
	})
	return d
}

// concurrently runs fn(i) for i in [0, n) on 64 goroutines, so that Raft
// batches the setup's commits.
func concurrently(tb testing.TB, n int, fn func(i int) error) {
	tb.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		tb.Fatal(err)
	}
}

// createAccounts creates the accounts straight through consensus: the
// benchmark is about rosters, not SCRAM key derivation.
func createAccounts(tb testing.TB, d *daemon, names []string) {
	tb.Helper()
	concurrently(tb, len(names), func(i int) error {
		_, err := d.node.Propose(context.Background(), consensus.CreateAccount{Name: names[i], Created: 1})
		return err
	})
}

// countingSink is a connected resource that takes every stanza and
// counts it.
type countingSink struct{ n *atomic.Int64 }

func (s countingSink) Deliver(*stanza.Element) bool { s.n.Add(1); return true }

// bindOnline binds a resource for bare that is available (with presence)
// and interested in roster pushes (RFC 6121 2.1.6, 4.2).
func bindOnline(tb testing.TB, d *daemon, bare jid.JID, sink delivery.Sink) {
	tb.Helper()
	full, err := bare.WithResource("bench")
	if err != nil {
		tb.Fatal(err)
	}
	if _, _, ok := d.router.Registry.Bind(full, sink, delivery.ConflictRefuse, nil); !ok {
		tb.Fatalf("binding %s", full)
	}
	d.router.Registry.Update(full, func(r *delivery.Resource) {
		r.Available, r.Interested = true, true
		r.Presence = stanza.NewElement(stanza.NSClient, "presence")
	})
}

// pair is two accounts that have never heard of each other.
type pair struct{ a, b jid.JID }

var pairSeq atomic.Int64

// newPairs creates n fresh pairs of accounts, online (a resource each,
// available and interested, counting deliveries into sink) or not.
func newPairs(tb testing.TB, d *daemon, n int, online bool, sink delivery.Sink) []pair {
	tb.Helper()
	ps := make([]pair, n)
	names := make([]string, 0, 2*n)
	for i := range ps {
		k := pairSeq.Add(1)
		ps[i] = pair{jid.MustParse(fmt.Sprintf("a%d@localhost", k)), jid.MustParse(fmt.Sprintf("b%d@localhost", k))}
		names = append(names, ps[i].a.String(), ps[i].b.String())
	}
	createAccounts(tb, d, names)
	if online {
		for _, p := range ps {
			bindOnline(tb, d, p.a, sink)
			bindOnline(tb, d, p.b, sink)
		}
	}
	return ps
}

// handshake is RFC 6121 3.1 between two local users, as their clients
// would drive it: a sends subscribe (3.1.1), b approves (3.1.5). Service
// carries out everything that follows: pushes, the routed stanzas, the
// stored request, the approval's presence, the offline copy of the
// notification for a user with nobody online.
func handshake(d *daemon, p pair) {
	d.roster.Outbound(p.a, p.b, stanza.NewElement(stanza.NSClient, "presence").Set("type", "subscribe"))
	d.roster.Outbound(p.b, p.a, stanza.NewElement(stanza.NSClient, "presence").Set("type", "subscribed"))
}

// checkHandshakes fails unless every pair ended in To / From with no
// request left: a handshake that silently failed would flatter the figure.
func checkHandshakes(tb testing.TB, d *daemon, ps []pair) {
	tb.Helper()
	for _, p := range ps {
		a, okA, errA := d.node.RosterItem(p.a.String(), p.b.String())
		b, okB, errB := d.node.RosterItem(p.b.String(), p.a.String())
		if errA != nil || errB != nil || !okA || !okB ||
			a.State != (roster.State{Sub: roster.To}) || b.State != (roster.State{Sub: roster.From}) || b.RequestOnly {
			tb.Fatalf("%s/%s after the handshake: %+v (%v) / %+v (%v)", p.a, p.b, a, errA, b, errB)
		}
		if reqs, err := d.node.PendingRequests(p.b.String()); err != nil || len(reqs) != 0 {
			tb.Fatalf("%s keeps requests %v, %v", p.b, reqs, err)
		}
	}
}

// deliveriesPerHandshake is what two online, interested users see: a gets
// the push of her new item (ask) and, after the approval, its push (to),
// the subscribed and b's presence (3.1.5); b gets the request and the
// push of his new item (from).
const deliveriesPerHandshake = 6

func runHandshakes(b *testing.B, parallel, online bool) {
	d := startBench(b)
	var delivered atomic.Int64
	ps := newPairs(b, d, b.N, online, countingSink{&delivered})
	start := d.node.AppliedIndex()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		// As consensus BenchmarkProposeParallel: 64 writers, which Raft
		// batches into shared fsyncs and Pebble batches.
		b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				handshake(d, ps[next.Add(1)-1])
			}
		})
	} else {
		for i := range b.N {
			handshake(d, ps[i])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
	b.ReportMetric(float64(d.node.AppliedIndex()-start)/float64(b.N), "commits/handshake")
	checkHandshakes(b, d, ps)
	if online && delivered.Load() != int64(deliveriesPerHandshake*b.N) {
		b.Fatalf("%d stanzas delivered for %d handshakes, want %d each", delivered.Load(), b.N, deliveriesPerHandshake)
	}
}

// BenchmarkSubscriptionHandshake runs one handshake at a time between
// fresh pairs of existing accounts. Offline: nobody is connected, so the
// request is stored and the approval is kept as an offline message (4
// RosterOps and 1 StoreOffline). Online: each user has one available,
// interested resource, which gets the pushes and notifications (4
// RosterOps).
func BenchmarkSubscriptionHandshake(b *testing.B) {
	b.Run("offline", func(b *testing.B) { runHandshakes(b, false, false) })
	b.Run("online", func(b *testing.B) { runHandshakes(b, false, true) })
}

// BenchmarkSubscriptionHandshakeParallel runs handshakes of distinct pairs
// from 64 goroutines.
func BenchmarkSubscriptionHandshakeParallel(b *testing.B) {
	b.Run("offline", func(b *testing.B) { runHandshakes(b, true, false) })
	b.Run("online", func(b *testing.B) { runHandshakes(b, true, true) })
}

// BenchmarkRosterGet1000 is a roster get (RFC 6121 2.1.3) of a roster of
// 1,000 items through Service.HandleIQ: the Pebble scan and decode, and
// the result element. "wire" adds the serialization a client connection
// would do; "ver-current" is a client presenting the current version
// (2.6.3), answered with an empty result.
func BenchmarkRosterGet1000(b *testing.B) {
	const items = 1000
	d := startBench(b)
	owner := jid.MustParse("owner@localhost")
	createAccounts(b, d, []string{owner.String()})
	concurrently(b, items, func(i int) error {
		_, err := d.node.Propose(context.Background(), consensus.RosterOp{
			Op: uint8(roster.OpSet), User: owner.String(), Contact: fmt.Sprintf("contact%04d@example.net", i),
			Name: fmt.Sprintf("Contact %d", i), Groups: []string{"Friends", fmt.Sprintf("Group %d", i%10)},
			MaxItems: items,
		})
		return err
	})
	from, err := owner.WithResource("bench")
	if err != nil {
		b.Fatal(err)
	}
	get := func(ver string) (iq, q *stanza.Element) {
		q = stanza.NewElement(roster.NSRoster, "query")
		if ver != "" {
			q.Set("ver", ver)
		}
		return stanza.NewElement(stanza.NSClient, "iq").Set("type", "get").Set("id", "r1").Append(q), q
	}
	iq, q := get("")
	res, serr := d.roster.HandleIQ(iq, q, from, owner)
	if serr != nil {
		b.Fatal(serr)
	}
	rq := res.Child(roster.NSRoster, "query")
	if rq == nil || len(rq.Elements()) != items || rq.Get("ver") != fmt.Sprint(items) {
		b.Fatalf("roster result: %d items, ver %q", len(rq.Elements()), rq.Get("ver"))
	}
	wire := len(res.AppendXML(nil, ""))

	b.Run("result", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, serr := d.roster.HandleIQ(iq, q, from, owner); serr != nil {
				b.Fatal(serr)
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(wire))
		var buf []byte
		for b.Loop() {
			res, serr := d.roster.HandleIQ(iq, q, from, owner)
			if serr != nil {
				b.Fatal(serr)
			}
			buf = res.AppendXML(buf[:0], "")
		}
	})
	b.Run("ver-current", func(b *testing.B) {
		iq, q := get(fmt.Sprint(items))
		b.ReportAllocs()
		for b.Loop() {
			res, serr := d.roster.HandleIQ(iq, q, from, owner)
			if serr != nil || res.Child(roster.NSRoster, "query") != nil {
				b.Fatalf("current version answered with %v, %v", res, serr)
			}
		}
	})
}
