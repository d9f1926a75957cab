package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A child started with HERALDD_TEST_NOFILE=SOFT:HARD runs under that
// RLIMIT_NOFILE, set before anything else runs.
func init() {
	v := os.Getenv("HERALDD_TEST_NOFILE")
	if v == "" || os.Getenv("HERALDD_TEST_CHILD") != "1" {
		return
	}
	var rl syscall.Rlimit
	if _, err := fmt.Sscanf(v, "%d:%d", &rl.Cur, &rl.Max); err == nil {
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// waitLog waits until the child has logged a line matching re and
// returns the match.
func (c *child) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(c.stderr.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("heraldd never logged %s:\n%s", re, tail(c.stderr.String(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freshClient checks that a new client of one listener is served within
// a second: an XMPP stream header is answered, a TLS handshake completes,
// the cluster port answers its handshake's first message, the admin API
// answers a call.
func freshClient(t *testing.T, role, addr string) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if role == "admin" {
		if _, err := (server{admin: addr}).client().Status(ctx); err != nil {
			t.Fatalf("admin socket: %v", err)
		}
		return
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("%s %s: %v", role, addr, err)
	}
	defer c.Close()
	c.SetDeadline(start.Add(time.Second))
	var want int
	switch role {
	case "c2s", "s2s":
		ns := map[string]string{"c2s": "jabber:client", "s2s": "jabber:server"}[role]
		fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>", ns)
		want = len("<?xml version='1.0'?><stream:stream")
	case "c2s_tls":
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}) // the test's own self-signed server
		if err := tc.Handshake(); err != nil {
			t.Fatalf("c2s_tls %s: TLS handshake: %v", addr, err)
		}
		return
	case "cluster":
		hello := append([]byte{'R', 1}, make([]byte, 32)...)
		c.Write(hello)
		want = 32 + 32
	}
	if _, err := io.ReadFull(c, make([]byte, want)); err != nil {
		t.Fatalf("%s %s: not served within a second: %v", role, addr, err)
	}
}

var (
	s2sLine     = regexp.MustCompile(`s2s_starttls=(\S+)`)
	clusterLine = regexp.MustCompile(`cluster port open.*bind=(\S+)`)
	fdLine      = regexp.MustCompile(`file descriptor limit.* soft=(\d+) hard=(\d+)`)
)

// Running out of file descriptors must not kill a listener: under
// RLIMIT_NOFILE 256, 300 idle connections exhaust the process, and once
// they are gone every listener serves a new client within a second.
func TestFileDescriptorExhaustion(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "cluster.secret")
	os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	conf := filepath.Join(dir, "herald.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`data_dir = %q
log_level = "info"
[c2s]
listen = ["127.0.0.1:0"]
listen_tls = ["127.0.0.1:0"]
[s2s]
listen = ["127.0.0.1:0"]
listen_tls = []
[cluster]
bind = "127.0.0.1:0"
secret_file = %q
bootstrap = true
[limits]
max_connections = 100000   # past the descriptor limit: accepts fail first
exempt = ["127.0.0.0/8"]
`, filepath.Join(dir, "data"), secret)), 0o600)
	// The soft limit starts below the hard one: heraldd raises it.
	t.Setenv("HERALDD_TEST_NOFILE", "128:256")
	c := startChildWith(t, filepath.Join(dir, "data"), "-config", conf)
	if m := c.waitLog(t, fdLine, 5*time.Second); m[1] != "256" || m[2] != "256" {
		t.Fatalf("file descriptor limit logged as soft=%s hard=%s, want the soft limit raised to 256", m[1], m[2])
	}
	listeners := map[string]string{
		"c2s": c.c2s, "c2s_tls": c.c2sTLS, "admin": c.admin,
		"s2s":     c.waitLog(t, s2sLine, 5*time.Second)[1],
		"cluster": c.waitLog(t, clusterLine, 5*time.Second)[1],
	}
	for role, addr := range listeners {
		freshClient(t, role, addr)
	}

	var idle []net.Conn
	for range 300 {
		conn, err := net.Dial("tcp", c.c2s)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, conn)
	}
	// The process is out of descriptors once an accept fails.
	c.waitLog(t, regexp.MustCompile(`gate: accept failing|listener stopped`), 30*time.Second)
	for _, conn := range idle {
		conn.Close()
	}
	closed := time.Now()
	for _, role := range []string{"c2s", "c2s_tls", "s2s", "cluster", "admin"} {
		freshClient(t, role, listeners[role])
	}
	t.Logf("every listener served a fresh client %v after the idle connections closed", time.Since(closed).Round(time.Millisecond))
	if strings.Contains(c.stderr.String(), "listener stopped") {
		t.Fatalf("a listener stopped:\n%s", tail(c.stderr.String(), 40))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lim, err := c.client().Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lim.AcceptErrors == 0 || lim.FileLimit != 256 {
		t.Fatalf("limits %+v: want accept errors counted and file limit 256", lim)
	}
	t.Logf("%d failed accepts retried", lim.AcceptErrors)
}
