package s2s

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Tests of the answer cache, through the Resolver and the loopback server of
// resolve_test.go.

func TestResolveCache(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 a.example.test.",
		"_xmpps-server._tcp.example.test. 60 IN SRV 10 0 5223 a.example.test.",
		"a.example.test. 30 IN A 192.0.2.1",
	)
	clock := newDNSClock()
	r := newTestResolver(d.addr)
	r.Now = clock.now
	ctx := context.Background()

	mustResolve(t, r, "example.test")
	if _, err := r.LookupHost(ctx, "a.example.test"); err != nil {
		t.Fatal(err)
	}
	n := d.total()
	if n != 4 {
		t.Fatalf("%d queries, want 4", n)
	}
	mustResolve(t, r, "example.test")
	r.LookupHost(ctx, "A.Example.TEST.")
	if d.total() != n {
		t.Fatalf("cached answers asked again: %d queries", d.total()-n)
	}

	// Each (name, type) lives for its own TTL.
	clock.advance(30 * time.Second)
	r.LookupHost(ctx, "a.example.test")
	mustResolve(t, r, "example.test")
	if got := d.count("a.example.test. A"); got != 2 {
		t.Errorf("A asked %d times after its TTL, want 2", got)
	}
	if got := d.count("_xmpps-server._tcp.example.test. SRV"); got != 1 {
		t.Errorf("xmpps SRV asked %d times within its TTL, want 1", got)
	}
	clock.advance(30 * time.Second)
	mustResolve(t, r, "example.test")
	if got := d.count("_xmpps-server._tcp.example.test. SRV"); got != 2 {
		t.Errorf("xmpps SRV asked %d times after its TTL, want 2", got)
	}
	if got := d.count("_xmpp-server._tcp.example.test. SRV"); got != 1 {
		t.Errorf("xmpp SRV asked %d times within its TTL, want 1", got)
	}
}

func TestResolveNegativeCache(t *testing.T) {
	d := newTestDNS(t, "other.test. 300 IN A 192.0.2.1")
	clock := newDNSClock()
	r := newTestResolver(d.addr)
	r.Now = clock.now
	resolveNX := func() {
		t.Helper()
		if _, err := r.Resolve(context.Background(), "nx.test"); !errors.Is(err, ErrNoService) {
			t.Fatalf("got %v, want ErrNoService", err)
		}
	}

	// SOA MINIMUM 60: cached for 60 seconds (RFC 2308 5).
	resolveNX()
	n := d.total()
	if n != 4 { // two SRV, A, AAAA
		t.Fatalf("%d queries, want 4", n)
	}
	resolveNX()
	clock.advance(59 * time.Second)
	resolveNX()
	if d.total() != n {
		t.Fatalf("negative answers asked again within the SOA minimum")
	}
	clock.advance(time.Second)
	resolveNX()
	if d.total() != 2*n {
		t.Fatalf("%d queries after the SOA minimum, want %d", d.total(), 2*n)
	}

	// SOA MINIMUM one hour: capped at 5 minutes.
	d.set(func(d *testDNS) { d.soaMinimum = 3600 })
	clock.advance(time.Minute)
	resolveNX()
	clock.advance(5*time.Minute - time.Second)
	resolveNX()
	if d.total() != 3*n {
		t.Fatalf("%d queries within 5 minutes, want %d", d.total(), 3*n)
	}
	clock.advance(time.Second)
	resolveNX()
	if d.total() != 4*n {
		t.Fatalf("%d queries after 5 minutes, want %d", d.total(), 4*n)
	}

	// No SOA: not cached at all.
	d.set(func(d *testDNS) { d.noSOA = true })
	clock.advance(time.Hour)
	resolveNX()
	resolveNX()
	if d.total() != 6*n {
		t.Fatalf("%d queries, want %d: negative answers without SOA were cached", d.total(), 6*n)
	}
}

func TestResolveCacheBounded(t *testing.T) {
	d := newTestDNS(t, "a.test. 300 IN A 192.0.2.1", "b.test. 300 IN A 192.0.2.2")
	r := newTestResolver(d.addr)
	r.CacheSize = 3
	ctx := context.Background()
	for _, h := range []string{"a.test", "b.test", "a.test"} {
		if _, err := r.LookupHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.cache.len(); n != 3 {
		t.Fatalf("cache holds %d answers, want 3", n)
	}
	// The second b.test answer evicted the least recently used a.test
	// one, which alone was asked again.
	if got := d.count("b.test. A") + d.count("b.test. AAAA"); got != 2 {
		t.Fatalf("b.test asked %d times, want 2", got)
	}
	if got := d.count("a.test. A") + d.count("a.test. AAAA"); got != 3 {
		t.Fatalf("a.test asked %d times, want 3", got)
	}

	r = newTestResolver(d.addr)
	r.CacheSize = -1
	r.LookupHost(ctx, "b.test")
	r.LookupHost(ctx, "b.test")
	if got := d.count("b.test. A"); got != 3 {
		t.Fatalf("with the cache off, b.test A asked %d times in all, want 3", got)
	}
}

func BenchmarkResolveCached(b *testing.B) {
	d := newTestDNS(b,
		"_xmpps-server._tcp.example.test. 300 IN SRV 5 10 5223 tls.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 10 5269 a.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 20 5269 b.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 20 0 5269 c.example.test.",
	)
	r := newTestResolver(d.addr)
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "example.test"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, "example.test"); err != nil {
			b.Fatal(err)
		}
	}
	if n := d.total(); n != 2 {
		b.Fatalf("%d queries, want 2", n)
	}
}
