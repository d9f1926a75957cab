package s2s

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testDNS is a loopback DNS server, UDP and TCP on the same port, serving a
// small zone the way a recursive server would: CNAME chains are chased
// inside the zone, a missing name is NXDOMAIN, a name without the asked
// type (or an empty non-terminal) is NODATA, both with the zone's SOA.
type testDNS struct {
	addr string

	mu          sync.Mutex
	rrs         []dns.RR
	servfail    map[string]bool // lower-case qname → SERVFAIL
	silent      bool            // never answer
	truncateUDP bool            // answer UDP with TC set and nothing else
	noChase     bool            // stop answers at the first CNAME
	noSOA       bool            // negative answers without SOA
	soaMinimum  uint32          // negative TTL, 60 if zero
	queries     map[string]int  // "name TYPE" → count
	udp, tcp    int
}

func newTestDNS(t testing.TB, zone ...string) *testDNS {
	t.Helper()
	d := &testDNS{servfail: map[string]bool{}, queries: map[string]int{}}
	for _, line := range zone {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("zone line %q: %v", line, err)
		}
		d.rrs = append(d.rrs, rr)
	}
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if i == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	d.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: d}, {Listener: ln, Handler: d}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return d
}

func (d *testDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	_, isUDP := w.RemoteAddr().(*net.UDPAddr)

	d.mu.Lock()
	defer d.mu.Unlock()
	d.queries[name+" "+dns.TypeToString[q.Qtype]]++
	if isUDP {
		d.udp++
	} else {
		d.tcp++
	}
	if d.silent {
		return
	}
	resp := new(dns.Msg).SetReply(req)
	resp.RecursionAvailable = true
	switch {
	case d.servfail[name]:
		resp.Rcode = dns.RcodeServerFailure
	case d.truncateUDP && isUDP:
		resp.Truncated = true
	default:
		d.answer(resp, name, q.Qtype)
	}
	w.WriteMsg(resp)
}

func (d *testDNS) answer(resp *dns.Msg, name string, qtype uint16) {
	for range 16 {
		var found []dns.RR
		var cname *dns.CNAME
		for _, rr := range d.rrs {
			h := rr.Header()
			if h.Name != name {
				continue
			}
			if h.Rrtype == qtype {
				found = append(found, dns.Copy(rr))
			}
			if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if len(found) > 0 {
			resp.Answer = append(resp.Answer, found...)
			return
		}
		if cname == nil {
			break
		}
		resp.Answer = append(resp.Answer, dns.Copy(cname))
		if d.noChase {
			return
		}
		name = cname.Target
	}
	exists := false
	for _, rr := range d.rrs {
		owner := rr.Header().Name
		if owner == name || strings.HasSuffix(owner, "."+name) {
			exists = true
		}
	}
	if !exists {
		resp.Rcode = dns.RcodeNameError
	}
	if !d.noSOA {
		minimum := d.soaMinimum
		if minimum == 0 {
			minimum = 60
		}
		soa, _ := dns.NewRR(fmt.Sprintf("test. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 %d", minimum))
		resp.Ns = append(resp.Ns, soa)
	}
}

func (d *testDNS) set(f func(d *testDNS)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func (d *testDNS) count(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[key]
}

func (d *testDNS) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.udp + d.tcp
}

// dnsClock is the cache's clock, moved by hand.
type dnsClock struct {
	mu sync.Mutex
	t  time.Time
}

func newDNSClock() *dnsClock { return &dnsClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *dnsClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *dnsClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// scriptedRand is a rand.Source returning the same value forever. uniform maps
// a value v to about v/2^64 of its range; the low bits keep the rejection
// step of uniform from looping on a constant.
type scriptedRand uint64

const (
	drawLeast = scriptedRand(1 << 40)        // 0 of every range
	drawMost  = scriptedRand(math.MaxUint64) // n-1 of [0, n)
	drawHalf  = scriptedRand(1<<63 | 1<<40)  // n/2 of [0, n), rounded down
)

func (s scriptedRand) Uint64() uint64 { return uint64(s) }

func newTestResolver(servers ...string) *Resolver {
	return &Resolver{Servers: servers, Timeout: 2 * time.Second}
}

func targetStrings(ts []Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Address()
		if t.DirectTLS {
			out[i] += "/tls"
		}
	}
	return out
}

func mustResolve(t *testing.T, r *Resolver, domain string) []Target {
	t.Helper()
	ts, err := r.Resolve(context.Background(), domain)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", domain, err)
	}
	return ts
}

func TestResolvePriorityOrder(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.example.test. 300 IN SRV 20 0 5270 b.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 a.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 30 0 5271 c.example.test.",
	)
	got := targetStrings(mustResolve(t, newTestResolver(d.addr), "example.test"))
	want := []string{"a.example.test:5269", "b.example.test:5270", "c.example.test:5271"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestResolveWeightedScripted(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 10 5269 a.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 20 5269 b.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 c.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 5 5269 d.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 5 0 5269 first.example.test.",
	)
	for _, tc := range []struct {
		draw scriptedRand
		want []string
	}{
		// Draw 0 each time: the first record whose running sum is >= 0,
		// which is the weight 0 one (RFC 2782 places them first), then the
		// others in answer order.
		{drawLeast, []string{"first", "c", "a", "b", "d"}},
		// Draw the sum each time: the last positive weight left.
		{drawMost, []string{"first", "d", "b", "a", "c"}},
		// Draw 18 of [0,35], reached by b (running sums c 0, a 10, b 30);
		// then 8 of [0,15], reached by a (c 0, a 10); then 3 of [0,5],
		// reached by d (c 0, d 5).
		{drawHalf, []string{"first", "b", "a", "d", "c"}},
	} {
		r := newTestResolver(d.addr)
		r.Rand = tc.draw
		var got []string
		for _, tg := range mustResolve(t, r, "example.test") {
			got = append(got, strings.TrimSuffix(tg.Host, ".example.test"))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("draw %#x: got %v, want %v", uint64(tc.draw), got, tc.want)
		}
	}

	// The draw is in [0, sum] inclusive (RFC 2782): with weights 0 and 1,
	// the greatest draw, 1, takes the weight 1 record, the least the other.
	d.set(func(d *testDNS) {
		d.rrs = append(d.rrs,
			mustRR("_xmpp-server._tcp.one.test. 300 IN SRV 10 0 5269 zero.one.test."),
			mustRR("_xmpp-server._tcp.one.test. 300 IN SRV 10 1 5269 one.one.test."))
	})
	for draw, want := range map[scriptedRand]string{drawMost: "one.one.test", drawLeast: "zero.one.test"} {
		r := newTestResolver(d.addr)
		r.Rand = draw
		if got := mustResolve(t, r, "one.test")[0].Host; got != want {
			t.Errorf("draw %#x: %s first, want %s", uint64(draw), got, want)
		}
	}
}

func TestResolveWeightedSeededIsDeterministic(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 10 5269 a.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 20 5269 b.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 30 5269 c.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 d.example.test.",
	)
	run := func() [][]string {
		r := newTestResolver(d.addr)
		r.Rand = rand.NewPCG(1, 2)
		var out [][]string
		for range 20 {
			out = append(out, targetStrings(mustResolve(t, r, "example.test")))
		}
		return out
	}
	a, b := run(), run()
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatalf("same seed, different orders:\n%v\n%v", a, b)
	}
	distinct := map[string]bool{}
	for _, o := range a {
		distinct[strings.Join(o, ",")] = true
	}
	if len(distinct) < 2 {
		t.Fatalf("20 resolutions gave one order: %v", a[0])
	}
}

func TestResolveWeightedDistribution(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 60 5269 w60.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 30 5269 w30.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 10 5269 w10.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 w0.example.test.",
		"_xmpp-server._tcp.zero.test. 300 IN SRV 10 0 5269 z1.zero.test.",
		"_xmpp-server._tcp.zero.test. 300 IN SRV 10 0 5269 z2.zero.test.",
		"_xmpp-server._tcp.zero.test. 300 IN SRV 10 0 5269 z3.zero.test.",
	)
	r := newTestResolver(d.addr)
	r.Rand = rand.NewPCG(2026, 368)
	const n = 20000
	first := map[string]int{}
	zeroLast := 0
	for range n {
		ts := mustResolve(t, r, "example.test")
		first[ts[0].Host]++
		if ts[len(ts)-1].Host == "w0.example.test" {
			zeroLast++
		}
	}
	// RFC 2782: the first pick is weight/(sum+1), the weight 0 record's
	// chance being 1/(sum+1).
	for host, w := range map[string]float64{"w60": 60, "w30": 30, "w10": 10, "w0": 1} {
		got := float64(first[host+".example.test"]) / n
		if want := w / 101; math.Abs(got-want) > 0.02 {
			t.Errorf("%s first in %.3f of runs, want about %.3f", host, got, want)
		}
	}
	if frac := float64(zeroLast) / n; frac < 0.8 {
		t.Errorf("weight 0 record last in only %.3f of runs", frac)
	}
	if got := d.total(); got != 2 {
		t.Errorf("%d queries for %d resolutions, want 2 (cache)", got, n)
	}

	// All weights 0: each record comes first about a third of the time.
	first = map[string]int{}
	for range 3000 {
		first[mustResolve(t, r, "zero.test")[0].Host]++
	}
	for _, h := range []string{"z1", "z2", "z3"} {
		if c := first[h+".zero.test"]; c < 800 || c > 1200 {
			t.Errorf("%s first %d times in 3000, want about 1000", h, c)
		}
	}
}

func TestResolveDirectTLS(t *testing.T) {
	d := newTestDNS(t,
		// better.test: direct TLS at a better priority.
		"_xmpps-server._tcp.better.test. 300 IN SRV 5 0 443 tls.better.test.",
		"_xmpp-server._tcp.better.test. 300 IN SRV 10 0 5269 xmpp.better.test.",
		// mixed.test: both in one priority, plus STARTTLS before and after.
		"_xmpps-server._tcp.mixed.test. 300 IN SRV 10 50 5223 tls.mixed.test.",
		"_xmpp-server._tcp.mixed.test. 300 IN SRV 10 50 5269 xmpp.mixed.test.",
		"_xmpp-server._tcp.mixed.test. 300 IN SRV 1 0 5269 early.mixed.test.",
		"_xmpps-server._tcp.mixed.test. 300 IN SRV 20 0 5223 late.mixed.test.",
	)
	r := newTestResolver(d.addr)
	got := mustResolve(t, r, "better.test")
	want := []Target{{"tls.better.test", 443, true}, {"xmpp.better.test", 5269, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("better.test: got %v, want %v", got, want)
	}

	seen := map[string]bool{}
	for range 200 {
		got := targetStrings(mustResolve(t, r, "mixed.test"))
		if len(got) != 4 || got[0] != "early.mixed.test:5269" || got[3] != "late.mixed.test:5223/tls" {
			t.Fatalf("mixed.test: got %v", got)
		}
		seen[got[1]] = true
		mid := []string{got[1], got[2]}
		slices.Sort(mid)
		if !slices.Equal(mid, []string{"tls.mixed.test:5223/tls", "xmpp.mixed.test:5269"}) {
			t.Fatalf("mixed.test: got %v", got)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("equal weights across services never swapped: %v", seen)
	}
}

func TestResolveNoService(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.dot.test. 300 IN SRV 0 0 0 .",
		"dot.test. 300 IN A 192.0.2.1",

		"_xmpp-server._tcp.tlsonly.test. 300 IN SRV 0 0 0 .",
		"_xmpps-server._tcp.tlsonly.test. 300 IN SRV 10 0 5223 tls.tlsonly.test.",

		"_xmpps-server._tcp.notls.test. 300 IN SRV 0 0 0 .",
		"_xmpp-server._tcp.notls.test. 300 IN SRV 10 0 5269 xmpp.notls.test.",

		"_xmpps-server._tcp.notlsnosrv.test. 300 IN SRV 0 0 0 .",
		"notlsnosrv.test. 300 IN A 192.0.2.2",

		"_xmpps-server._tcp.bothdots.test. 300 IN SRV 0 0 0 .",
		"_xmpp-server._tcp.bothdots.test. 300 IN SRV 0 0 0 .",

		"mx.test. 300 IN MX 10 mail.mx.test.",

		"fallback.test. 300 IN A 192.0.2.3",
		"v6.test. 300 IN AAAA 2001:db8::3",
	)
	r := newTestResolver(d.addr)
	for _, domain := range []string{
		"dot.test",        // "." for STARTTLS, no xmpps: no fallback to the A record
		"notlsnosrv.test", // XEP-0368: "." for xmpps forbids the A/AAAA fallback
		"bothdots.test",
		"nx.test", // NXDOMAIN everywhere
		"mx.test", // NODATA for SRV, A and AAAA
	} {
		ts, err := r.Resolve(context.Background(), domain)
		if !errors.Is(err, ErrNoService) || errors.Is(err, ErrTemporary) {
			t.Errorf("Resolve(%q) = %v, %v; want ErrNoService", domain, ts, err)
		}
	}
	for domain, want := range map[string][]Target{
		"tlsonly.test":  {{"tls.tlsonly.test", 5223, true}},
		"notls.test":    {{"xmpp.notls.test", 5269, false}},
		"fallback.test": {{"fallback.test", 5269, false}},
		"v6.test":       {{"v6.test", 5269, false}},
	} {
		if got := mustResolve(t, r, domain); !slices.Equal(got, want) {
			t.Errorf("Resolve(%q) = %v, want %v", domain, got, want)
		}
	}
}

func TestResolveTimeout(t *testing.T) {
	d := newTestDNS(t)
	d.set(func(d *testDNS) { d.silent = true })
	r := newTestResolver(d.addr)
	r.Timeout = 200 * time.Millisecond
	start := time.Now()
	_, err := r.Resolve(context.Background(), "example.test")
	if !errors.Is(err, ErrTemporary) || errors.Is(err, ErrNoService) {
		t.Fatalf("got %v, want ErrTemporary", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v with a 200ms timeout", el)
	}

	// The caller's cancellation ends the wait at once, whatever Timeout.
	r = newTestResolver(d.addr)
	r.Timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = r.Resolve(ctx, "example.test")
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want ErrTemporary and context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancellation took %v", el)
	}
}

func TestResolveServfail(t *testing.T) {
	d := newTestDNS(t, "_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 a.example.test.")
	d.set(func(d *testDNS) { d.servfail["_xmpp-server._tcp.example.test."] = true })
	r := newTestResolver(d.addr)
	for range 2 {
		if _, err := r.Resolve(context.Background(), "example.test"); !errors.Is(err, ErrTemporary) {
			t.Fatalf("got %v, want ErrTemporary", err)
		}
	}
	if n := d.count("_xmpp-server._tcp.example.test. SRV"); n != 2 {
		t.Errorf("SERVFAIL cached: %d queries for 2 resolutions", n)
	}

	// A failure of the xmpps query alone does not hide the xmpp records.
	d.set(func(d *testDNS) {
		d.servfail = map[string]bool{"_xmpps-server._tcp.example.test.": true}
	})
	r = newTestResolver(d.addr) // the xmpps NXDOMAIN above is cached
	if got := targetStrings(mustResolve(t, r, "example.test")); !slices.Equal(got, []string{"a.example.test:5269"}) {
		t.Fatalf("got %v", got)
	}
	// But with no records to fall back on, it is temporary.
	d.set(func(d *testDNS) {
		d.servfail = map[string]bool{"_xmpps-server._tcp.nosrv.test.": true}
		d.rrs = append(d.rrs, mustRR("nosrv.test. 300 IN A 192.0.2.1"))
	})
	if _, err := r.Resolve(context.Background(), "nosrv.test"); !errors.Is(err, ErrTemporary) {
		t.Fatalf("got %v, want ErrTemporary", err)
	}
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

func TestResolveServerFailover(t *testing.T) {
	d := newTestDNS(t, "_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 a.example.test.")

	// A closed port: the ICMP unreachable fails the query at once.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()
	// A black hole: a server that never answers.
	hole := newTestDNS(t)
	hole.set(func(d *testDNS) { d.silent = true })

	for _, first := range []string{closed, hole.addr} {
		r := newTestResolver(first, d.addr)
		r.Timeout = 200 * time.Millisecond
		if got := targetStrings(mustResolve(t, r, "example.test")); !slices.Equal(got, []string{"a.example.test:5269"}) {
			t.Fatalf("first server %s: got %v", first, got)
		}
	}
	if hole.total() == 0 {
		t.Error("the black hole was never asked")
	}
}

func TestResolveCNAME(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.example.test. 300 IN CNAME _xmpp-server._tcp.hosting.test.",
		"_xmpp-server._tcp.hosting.test. 300 IN CNAME _srv.hosting.test.",
		"_srv.hosting.test. 300 IN SRV 10 0 5269 xmpp.example.test.",
		"xmpp.example.test. 300 IN CNAME node1.hosting.test.",
		"node1.hosting.test. 300 IN CNAME node1.dc.hosting.test.",
		"node1.dc.hosting.test. 300 IN A 192.0.2.7",
		"node1.dc.hosting.test. 300 IN AAAA 2001:db8::7",
		"loop1.test. 300 IN CNAME loop2.test.",
		"loop2.test. 300 IN CNAME loop1.test.",
	)
	d.set(func(d *testDNS) {
		for i := range 9 { // c0 -> ... -> c8 A, d0 -> ... -> d9 A
			if i < 8 {
				d.rrs = append(d.rrs, mustRR(fmt.Sprintf("c%d.test. 300 IN CNAME c%d.test.", i, i+1)))
			}
			d.rrs = append(d.rrs, mustRR(fmt.Sprintf("d%d.test. 300 IN CNAME d%d.test.", i, i+1)))
		}
		d.rrs = append(d.rrs,
			mustRR("c8.test. 300 IN A 192.0.2.8"),
			mustRR("d9.test. 300 IN A 192.0.2.9"))
	})
	for _, chase := range []bool{true, false} {
		d.set(func(d *testDNS) { d.noChase = !chase })
		r := newTestResolver(d.addr)
		got := mustResolve(t, r, "example.test")
		if want := []Target{{"xmpp.example.test", 5269, false}}; !slices.Equal(got, want) {
			t.Fatalf("chase %v: got %v, want %v", chase, got, want)
		}
		addrs, err := r.LookupHost(context.Background(), got[0].Host)
		want := []netip.Addr{netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("192.0.2.7")}
		if err != nil || !slices.Equal(addrs, want) {
			t.Fatalf("chase %v: LookupHost = %v, %v; want %v", chase, addrs, err, want)
		}
		if _, err := r.LookupHost(context.Background(), "loop1.test"); !errors.Is(err, ErrTemporary) {
			t.Fatalf("chase %v: a CNAME loop gave %v, want ErrTemporary", chase, err)
		}
		// At most 8 CNAMEs are followed.
		if _, err := r.LookupHost(context.Background(), "c0.test"); err != nil {
			t.Fatalf("chase %v: 8 CNAMEs: %v", chase, err)
		}
		if _, err := r.LookupHost(context.Background(), "d0.test"); !errors.Is(err, ErrTemporary) {
			t.Fatalf("chase %v: 9 CNAMEs gave %v, want ErrTemporary", chase, err)
		}
	}
}

func TestResolveTruncatedRetriesTCP(t *testing.T) {
	d := newTestDNS(t, "_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 a.example.test.")
	d.set(func(d *testDNS) { d.truncateUDP = true })
	got := targetStrings(mustResolve(t, newTestResolver(d.addr), "example.test"))
	if !slices.Equal(got, []string{"a.example.test:5269"}) {
		t.Fatalf("got %v", got)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.udp != 2 || d.tcp != 2 {
		t.Fatalf("%d UDP and %d TCP queries, want 2 and 2", d.udp, d.tcp)
	}
}

func TestResolveNames(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.xn--bcher-kva.test. 300 IN SRV 10 0 5269 xmpp.xn--bcher-kva.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 0 5269 a.example.test.",
	)
	r := newTestResolver(d.addr)
	for _, domain := range []string{"bücher.test", "BÜCHER.test.", "xn--bcher-kva.test"} {
		got := targetStrings(mustResolve(t, r, domain))
		if !slices.Equal(got, []string{"xmpp.xn--bcher-kva.test:5269"}) {
			t.Errorf("Resolve(%q) = %v", domain, got)
		}
	}
	if got := targetStrings(mustResolve(t, r, "Example.TEST.")); !slices.Equal(got, []string{"a.example.test:5269"}) {
		t.Errorf("Resolve(Example.TEST.) = %v", got)
	}

	n := d.total()
	for domain, want := range map[string]Target{
		"192.0.2.1":         {"192.0.2.1", 5269, false},
		"[2001:db8::1]":     {"2001:db8::1", 5269, false},
		"[2001:DB8:0::0:1]": {"2001:db8::1", 5269, false},
	} {
		if got := mustResolve(t, r, domain); !slices.Equal(got, []Target{want}) {
			t.Errorf("Resolve(%q) = %v, want %v", domain, got, want)
		}
	}
	if ip, err := r.LookupHost(context.Background(), "[::1]"); err != nil || ip[0] != netip.IPv6Loopback() {
		t.Errorf("LookupHost([::1]) = %v, %v", ip, err)
	}
	if d.total() != n {
		t.Errorf("IP literals went to DNS")
	}

	for _, bad := range []string{"", ".", "a..test", "-a.test", "xn--zz.test", strings.Repeat("a", 64) + ".test"} {
		if _, err := r.Resolve(context.Background(), bad); !errors.Is(err, ErrNoService) {
			t.Errorf("Resolve(%q): got %v, want ErrNoService", bad, err)
		}
	}
}

func TestLookupHost(t *testing.T) {
	d := newTestDNS(t,
		"dual.test. 300 IN A 192.0.2.1",
		"dual.test. 300 IN A 192.0.2.2",
		"dual.test. 300 IN AAAA 2001:db8::1",
		"zero.test. 300 IN A 0.0.0.0",
		"mx.test. 300 IN MX 10 mail.mx.test.",
	)
	r := newTestResolver(d.addr)
	ctx := context.Background()
	got, err := r.LookupHost(ctx, "dual.test")
	want := []netip.Addr{
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("192.0.2.2"),
	}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("LookupHost(dual.test) = %v, %v; want %v", got, err, want)
	}
	for _, h := range []string{"nx.test", "mx.test", "zero.test"} {
		if got, err := r.LookupHost(ctx, h); !errors.Is(err, ErrNoAddress) {
			t.Errorf("LookupHost(%q) = %v, %v; want ErrNoAddress", h, got, err)
		}
	}
	d.set(func(d *testDNS) { d.servfail["fail.test."] = true })
	if _, err := r.LookupHost(ctx, "fail.test"); !errors.Is(err, ErrTemporary) {
		t.Errorf("LookupHost(fail.test): got %v, want ErrTemporary", err)
	}
}

func TestResolveConcurrent(t *testing.T) {
	d := newTestDNS(t,
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 10 5269 a.example.test.",
		"_xmpp-server._tcp.example.test. 300 IN SRV 10 20 5269 b.example.test.",
	)
	r := newTestResolver(d.addr)
	r.Rand = rand.NewPCG(3, 4) // not goroutine-safe: the Resolver locks it
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ts, err := r.Resolve(context.Background(), "example.test"); err != nil || len(ts) != 2 {
					t.Errorf("got %v, %v", ts, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
