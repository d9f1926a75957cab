package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/gate"
	"github.com/heraldxmpp/herald/ops"
)

// dialFrom opens a TCP connection to addr from the loopback address local.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntil reads from c until what it read contains one of subs, and
// returns it; io.EOF when the server closed the connection first.
func readUntil(c interface {
	io.Reader
	SetReadDeadline(time.Time) error
}, subs ...string) (string, error) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for {
		for _, s := range subs {
			if strings.Contains(string(got), s) {
				return string(got), nil
			}
		}
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return string(got), err
		}
	}
}

const testStreamHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' ` +
	`xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`

var (
	failureCond = regexp.MustCompile(`<failure[^>]*><([a-z-]+)`)
	failureText = regexp.MustCompile(`<text[^>]*>([^<]*)</text>`)
)

// login tries one STARTTLS and PLAIN login on a new connection from
// local. It returns "success", the SASL failure
// condition and its text, or "closed" when the server hung up, and how
// long the answer took.
func login(t *testing.T, d *daemon, local, user, password string) (cond, text string, took time.Duration) {
	t.Helper()
	raw := dialFrom(t, local, d.addrs["c2s"][0])
	defer raw.Close()
	return loginOn(raw, user, password)
}

// loginOn logs in on raw, a new connection, as login does.
func loginOn(raw net.Conn, user, password string) (cond, text string, took time.Duration) {
	raw.Write([]byte(testStreamHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
	if _, err := readUntil(raw, "<proceed"); err != nil {
		return "closed", "", 0
	}
	c := tls.Client(raw, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}) // the test's self-signed server
	c.Write([]byte(testStreamHeader))
	if _, err := readUntil(c, "</features>"); err != nil {
		return "closed", "", 0
	}
	start := time.Now()
	fmt.Fprintf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>",
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)))
	got, err := readUntil(c, "</failure>", "<success")
	took = time.Since(start)
	switch {
	case strings.Contains(got, "<success"):
		return "success", "", took
	case err != nil:
		return "closed", "", took
	}
	cond = failureCond.FindStringSubmatch(got)[1]
	if m := failureText.FindStringSubmatch(got); m != nil {
		text = m[1]
	}
	return cond, text, took
}

func limitsOf(t *testing.T, d *daemon) ops.Limits {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := d.server().client().Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitLimits polls the counters until ok holds.
func waitLimits(t *testing.T, d *daemon, ok func(ops.Limits) bool) ops.Limits {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := limitsOf(t, d)
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("limits never reached the expected state: %+v", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// One address cannot hold more than unauthenticated_per_ip idle client
// connections, nor open connections faster than its rate; other
// addresses are still served, and every refusal is counted.
func TestConnectionLimitsPerAddress(t *testing.T) {
	d := startInProcess(t) // the defaults: 32 unauthenticated, 10/s over a burst of 40
	for range 100 {
		dialFrom(t, "127.0.0.1", d.addrs["c2s"][0])
	}
	l := waitLimits(t, d, func(l ops.Limits) bool { return l.Clients+int(l.Refused[gate.ReasonUnauth]) == 100 })
	if l.Clients != 32 || l.Refused[gate.ReasonUnauth] != 68 {
		t.Fatalf("after 100 idle connections from one address: %+v", l)
	}
	// Another address is served.
	other := dialFrom(t, "127.0.0.2", d.addrs["c2s"][0])
	other.Write([]byte(testStreamHeader))
	if _, err := readUntil(other, "</features>"); err != nil {
		t.Fatalf("another address is not served: %v", err)
	}
	// Opening and closing connections fast: past the burst, refused.
	for range 100 {
		dialFrom(t, "127.0.0.3", d.addrs["c2s"][0]).Close()
	}
	// 40 pass at once, a few more as the bucket refills.
	waitLimits(t, d, func(l ops.Limits) bool { return l.Refused[gate.ReasonRate] >= 40 })
	var metrics strings.Builder
	if err := d.server().client().Metrics(context.Background(), &metrics); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metrics.String(), `herald_connections_refused_total{reason="unauthenticated_per_address"} 68`) {
		t.Fatalf("metrics:\n%s", metrics.String())
	}
}

// The client ceiling leaves room for federation.
func TestConnectionCeiling(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Limits.MaxConnections, cfg.Limits.ConnectionReserve = 5, 2
	cfg.Limits.Exempt = []string{"127.0.0.0/8"}
	d := startConfigured(t, cfg)
	for range 7 {
		dialFrom(t, "127.0.0.1", d.addrs["c2s"][0])
	}
	waitLimits(t, d, func(l ops.Limits) bool { return l.Clients == 5 && l.Refused[gate.ReasonCeiling] == 2 })
	s2s := dialFrom(t, "127.0.0.1", d.addrs["s2s"][0])
	s2s.Write([]byte(strings.Replace(testStreamHeader, "jabber:client", "jabber:server", 1)))
	if _, err := readUntil(s2s, "<stream:stream"); err != nil {
		t.Fatalf("s2s refused at the client ceiling: %v", err)
	}
	if l := limitsOf(t, d); l.Open != 6 || l.MaxClients != 5 {
		t.Fatalf("limits %+v", l)
	}
}

// 200 wrong passwords for one account from one address, one per
// connection: answers slow down, then the address is refused; the user
// logs in from elsewhere at full speed. Attackers spread over several
// addresses protect the account without locking its user out.
func TestBruteForceLogin(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Limits.ConnectRatePerIP, cfg.Limits.ConnectBurstPerIP = 10000, 10000 // the guard alone
	cfg.Limits.AuthBanAfter = 6
	cfg.Limits.AuthAccountAfter = 18 // reached by the last guess below
	d := startConfigured(t, cfg)
	s := d.server()
	s.addUser(t, "alice@localhost", "correct horse")
	if cond, _, _ := login(t, d, "127.0.0.2", "alice", "correct horse"); cond != "success" {
		t.Fatalf("alice from her usual address: %s", cond)
	}
	var conds []string
	var tooks []time.Duration
	for range 200 {
		cond, text, took := login(t, d, "127.0.0.1", "alice", "guess")
		conds = append(conds, cond)
		if took > 2*time.Second {
			t.Logf("slow attempt %d: %s %v", len(conds), cond, took)
		}
		tooks = append(tooks, took)
		if cond == "temporary-auth-failure" && !strings.Contains(text, "too many failed logins from your address") {
			t.Fatalf("refusal text %q", text)
		}
	}
	for i, c := range conds {
		want := "not-authorized"
		if i >= 6 {
			want = "temporary-auth-failure"
		}
		if c != want {
			t.Fatalf("attempt %d: %s, want %s (all: %v)", i+1, c, want, conds)
		}
	}
	// Attempts 4 to 6 were slowed: 250 ms, 500 ms, 1 s.
	for i, min := range map[int]time.Duration{3: 250 * time.Millisecond, 4: 500 * time.Millisecond, 5: time.Second} {
		if tooks[i] < min {
			t.Fatalf("attempt %d answered in %v, want at least %v", i+1, tooks[i], min)
		}
	}
	// Even the right password is refused from the banned address.
	if cond, _, _ := login(t, d, "127.0.0.1", "alice", "correct horse"); cond != "temporary-auth-failure" {
		t.Fatalf("right password from the banned address: %s", cond)
	}
	// The user, from her usual address, is not slowed.
	if cond, _, took := login(t, d, "127.0.0.2", "alice", "correct horse"); cond != "success" || took > time.Second {
		t.Fatalf("alice from her usual address: %s in %v", cond, took)
	}

	// Three guesses each from four more addresses: the account is
	// protected. Those addresses are refused for it, a new address is
	// slowed but gets in, the user's own address is untouched.
	for i := range 4 {
		for range 3 {
			if cond, _, _ := login(t, d, fmt.Sprintf("127.0.1.%d", i+1), "alice", "guess"); cond != "not-authorized" {
				t.Fatalf("guess from 127.0.1.%d: %s", i+1, cond)
			}
		}
	}
	if cond, _, _ := login(t, d, "127.0.1.1", "alice", "correct horse"); cond != "temporary-auth-failure" {
		t.Fatalf("right password from an attacking address of a protected account: %s", cond)
	}
	if cond, _, took := login(t, d, "127.0.2.1", "alice", "correct horse"); cond != "success" || took < gate.DefaultAuthMaxDelay {
		t.Fatalf("alice from a new address: %s in %v, want success after %v", cond, took, gate.DefaultAuthMaxDelay)
	}
	if cond, _, took := login(t, d, "127.0.0.2", "alice", "correct horse"); cond != "success" || took > time.Second {
		t.Fatalf("alice from her usual address while protected: %s in %v", cond, took)
	}

	ctx := context.Background()
	bans, err := s.client().Bans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bans) != 2 || bans[0].Kind != "account" || bans[0].Key != "alice@localhost" || bans[1].Key != "127.0.0.1" {
		t.Fatalf("bans %+v", bans)
	}
	l := limitsOf(t, d)
	if l.AuthBans != 1 || l.AuthProtected != 1 || l.AuthRefused < 195 || l.AuthFailures < 18 || l.BannedNow != 1 || l.ProtectedNow != 1 {
		t.Fatalf("limits %+v", l)
	}
	// Lifting the ban lets the address in again.
	if err := s.client().LiftBan(ctx, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := s.client().LiftBan(ctx, "alice@localhost"); err != nil {
		t.Fatal(err)
	}
	if cond, _, _ := login(t, d, "127.0.0.1", "alice", "correct horse"); cond != "success" {
		t.Fatalf("after lifting the ban: %s", cond)
	}
}

// A connection that logged in no longer counts as unauthenticated: an
// address may hold more sessions than unauthenticated_per_ip.
func TestAuthenticatedConnectionsNotCapped(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Limits.UnauthenticatedPerIP = 2
	d := startConfigured(t, cfg)
	d.server().addUser(t, "alice@localhost", "correct horse")
	for i := range 5 {
		if cond, _, _ := loginOn(dialFrom(t, "127.0.0.1", d.addrs["c2s"][0]), "alice", "correct horse"); cond != "success" {
			t.Fatalf("session %d: %s", i+1, cond)
		}
	}
	if l := limitsOf(t, d); l.Clients != 5 || l.Refused[gate.ReasonUnauth] != 0 || l.AuthSuccesses != 5 {
		t.Fatalf("limits %+v", l)
	}
}
