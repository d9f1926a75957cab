package gate

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func key(s string) netip.Prefix {
	p, _ := addrKey(netipAddr(s))
	return p
}

type netipAddr string

func (a netipAddr) Network() string { return "tcp" }
func (a netipAddr) String() string  { return string(a) }

func TestAuthAddressSlowsThenBans(t *testing.T) {
	clk := newClock()
	g := New(Config{Log: quiet(), Now: clk.now, Auth: AuthConfig{DelayAfter: 3, BanAfter: 6, BanTime: time.Minute}})
	a := g.auth
	attacker := key("192.0.2.1:5000")
	var delays []time.Duration
	for i := range 6 {
		d := a.before(attacker)
		if d.Refuse != "" {
			t.Fatalf("attempt %d refused before the ban", i+1)
		}
		delays = append(delays, d.Delay)
		a.after(attacker, "alice@example.org", false)
	}
	want := []time.Duration{0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays %v, want %v", delays, want)
		}
	}
	d := a.before(attacker)
	if d.Refuse == "" || !strings.Contains(d.Refuse, "try again in 1m0s") {
		t.Fatalf("after the ban: %+v", d)
	}
	// The user from elsewhere is not affected.
	if d := a.before(key("198.51.100.7:1")); d != (Decision{}) {
		t.Fatalf("another address: %+v", d)
	}
	if d := a.after(key("198.51.100.7:1"), "alice@example.org", true); d != (Decision{}) {
		t.Fatalf("another address logging in: %+v", d)
	}
	bans := g.Bans()
	if len(bans) != 1 || bans[0].Kind != "address" || bans[0].Key != "192.0.2.1" || bans[0].Failures != 6 {
		t.Fatalf("bans %+v", bans)
	}
	st := g.Stats().Auth
	if st.Bans != 1 || st.Refused != 1 || st.Delayed != 3 || st.Failures != 6 || st.Successes != 1 || st.BannedNow != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A ban ends by itself, or when lifted.
	clk.add(time.Minute + time.Second)
	if d := a.before(attacker); d.Refuse != "" {
		t.Fatalf("still refused after the ban time: %+v", d)
	}
	for range 6 {
		a.after(attacker, "x@example.org", false)
	}
	if !g.Lift("192.0.2.1") {
		t.Fatal("Lift found no ban")
	}
	if d := a.before(attacker); d != (Decision{}) {
		t.Fatalf("after Lift: %+v", d)
	}
	if g.Lift("192.0.2.1") {
		t.Fatal("Lift of nothing reported a ban")
	}
}

// A distributed attack protects the account: the addresses that failed
// on it are refused, new addresses are slowed, and the user's own address
// logs in at full speed.
func TestAuthAccountProtection(t *testing.T) {
	clk := newClock()
	g := New(Config{Log: quiet(), Now: clk.now, Auth: AuthConfig{AccountAfter: 10, AddrPerAccount: 2, MaxDelay: 3 * time.Second}})
	a := g.auth
	home := key("203.0.113.5:1")
	a.after(home, "alice@example.org", true)
	bots := []netip.Prefix{}
	for i := range 5 {
		bot := key(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}).String() + ":1")
		bots = append(bots, bot)
		a.after(bot, "alice@example.org", false)
		a.after(bot, "alice@example.org", false)
	}
	// 10 failures: protected.
	if d := a.after(bots[0], "alice@example.org", true); d.Refuse == "" {
		t.Fatalf("an address that failed on a protected account: %+v", d)
	}
	if d := a.after(key("198.51.100.1:1"), "alice@example.org", true); d.Refuse != "" || d.Delay != 3*time.Second {
		t.Fatalf("a new address on a protected account: %+v", d)
	}
	if d := a.after(home, "alice@example.org", true); d != (Decision{}) {
		t.Fatalf("the user's own address: %+v", d)
	}
	if d := a.after(bots[0], "bob@example.org", true); d != (Decision{}) {
		t.Fatalf("another account from a bot address: %+v", d)
	}
	bans := g.Bans()
	if len(bans) != 1 || bans[0].Kind != "account" || bans[0].Key != "alice@example.org" {
		t.Fatalf("bans %+v", bans)
	}
	if !g.Lift("alice@example.org") {
		t.Fatal("Lift found no protection")
	}
	if d := a.after(bots[1], "alice@example.org", true); d != (Decision{}) {
		t.Fatalf("after Lift: %+v", d)
	}
	// Protection ends a window after the last failure.
	for range 10 {
		a.after(bots[2], "carol@example.org", false)
	}
	clk.add(DefaultAuthWindow + time.Second)
	if d := a.after(bots[2], "carol@example.org", true); d.Refuse != "" || d.Delay != 0 {
		t.Fatalf("after the window: %+v", d)
	}
}

// Failure state is bounded: past MaxTracked, new addresses and accounts
// are counted, not remembered.
func TestAuthTrackingBounded(t *testing.T) {
	g := New(Config{Log: quiet(), Auth: AuthConfig{MaxTracked: 4}})
	for i := range 10 {
		g.auth.after(key(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String()+":1"), string(rune('a'+i))+"@x", false)
	}
	if n := len(g.auth.addrs); n != 4 {
		t.Fatalf("%d addresses tracked, want 4", n)
	}
	if n := len(g.auth.accounts); n != 4 {
		t.Fatalf("%d accounts tracked, want 4", n)
	}
	if u := g.Stats().Auth.Untracked; u != 12 {
		t.Fatalf("untracked %d, want 12", u)
	}
}
