package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/ops"
)

// TestNotifyReadyWatchdogStopping runs heraldd as a Type=notify service
// would: NOTIFY_SOCKET names a real unixgram socket the test listens on.
// READY=1 arrives only when /ready says ready, WATCHDOG=1 follows at
// half of WATCHDOG_USEC, and STOPPING=1 at shutdown.
func TestNotifyReadyWatchdogStopping(t *testing.T) {
	dir := t.TempDir()
	sockPath := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("NOTIFY_SOCKET", sockPath)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	admin := filepath.Join(dir, "admin.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-data", filepath.Join(dir, "data"), "-admin-socket", admin,
			"-c2s", "127.0.0.1:0", "-c2s-tls", "127.0.0.1:0", "-s2s", "127.0.0.1:0", "-s2s-tls", "", "-log-level", "error"},
			io.Discard, io.Discard)
	}()
	// next returns the next datagram, failing the test after a generous wait.
	next := func(want string) string {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			sock.SetReadDeadline(time.Now().Add(60 * time.Second))
			n, err := sock.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if msg := string(buf[:n]); strings.Contains(msg, want) {
				return msg
			}
		}
	}
	msg := next("READY=1")
	if !strings.HasSuffix(msg, "\n") || !strings.Contains(msg, "STATUS=serving") {
		t.Errorf("ready datagram %q", msg)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if rd, err := ops.Dial(admin).Ready(rctx); err != nil || !rd.Ready {
		t.Fatalf("READY=1 sent while /ready says %+v %v", rd, err)
	}
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	cancel()
	next("STOPPING=1")
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("heraldd did not stop")
	}
}

// TestNotifierEnvironment: no NOTIFY_SOCKET, no notifications; a watchdog
// meant for another process (WATCHDOG_PID) is not this one's.
func TestNotifierEnvironment(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if n := newNotifier(env(nil), 7); n != nil || n.send("READY=1") != nil {
		t.Fatalf("without NOTIFY_SOCKET: %+v", n)
	}
	n := newNotifier(env(map[string]string{"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "8"}), 7)
	if n == nil || n.watchdog != 0 {
		t.Fatalf("other pid's watchdog: %+v", n)
	}
	n = newNotifier(env(map[string]string{"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "7"}), 7)
	if n.watchdog != 3*time.Second {
		t.Fatalf("own watchdog: %v", n.watchdog)
	}
	n = newNotifier(env(map[string]string{"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "junk"}), 7)
	if n.watchdog != 0 {
		t.Fatalf("bad WATCHDOG_USEC: %v", n.watchdog)
	}
}
