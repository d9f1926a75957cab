package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A built daemon is wired completely and reachable by nobody: the router
// sends to other domains through s2s before any client can connect, and
// the listeners open only in serve.
func TestBuildThenServe(t *testing.T) {
	cfg := testConfig(t.TempDir())
	c2sAddr := freePort(t)
	cfg.C2S.Listen = []string{c2sAddr}
	d, err := newDaemon(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.close(context.Background()) })
	if d.router.Remote == nil || d.router.Presence == nil || d.c2s == nil || d.s2s == nil {
		t.Fatalf("built daemon not wired: remote=%v presence=%v", d.router.Remote, d.router.Presence)
	}
	if len(d.addrs) != 0 {
		t.Fatalf("built daemon listens already: %v", d.addrs)
	}
	if c, err := net.Dial("tcp", c2sAddr); err == nil {
		c.Close()
		t.Fatalf("c2s port %s accepts connections before serve", c2sAddr)
	}
	if _, err := os.Stat(cfg.Admin.Socket); err == nil {
		t.Fatal("admin socket exists before serve")
	}
	if err := d.serve(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", c2sAddr)
	if err != nil {
		t.Fatalf("c2s after serve: %v", err)
	}
	c.Close()
	if len(d.addrs["c2s"]) != 1 || len(d.addrs["s2s"]) != 1 || len(d.addrs["admin"]) != 1 {
		t.Fatalf("listeners after serve: %v", d.addrs)
	}
}

// Listeners open all or none: when one address is taken, the ones opened
// before it are closed again and the admin socket is not left behind.
func TestServeAllOrNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t.TempDir())
	c2sAddr := freePort(t)
	cfg.C2S.Listen = []string{c2sAddr}
	cfg.S2S.Listen = []string{taken.Addr().String()}
	if _, err := start(cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("start succeeded with the s2s address taken")
	}
	ln, err := net.Listen("tcp", c2sAddr)
	if err != nil {
		t.Fatalf("the c2s listener was left open: %v", err)
	}
	ln.Close()
	if _, err := os.Stat(cfg.Admin.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin socket after a failed start: %v", err)
	}
}

// Flags are parsed into a value: -restore in one parse does not leak into
// the next.
func TestParseFlagsRestore(t *testing.T) {
	dir := t.TempDir()
	o, err := parseFlags([]string{"-data", dir, "-restore", "snap"}, os.Stderr)
	if err != nil || o.restore != "snap" || o.cfg.DataDir != dir {
		t.Fatalf("parseFlags = %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-data", dir}, os.Stderr)
	if err != nil || o.restore != "" {
		t.Fatalf("second parseFlags = %+v, %v", o, err)
	}
}

// The departed resources of a dead node are handled by a fixed number of
// workers through a bounded queue; a full queue holds the caller back, and
// close waits for the handlers running.
func TestDeparturesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var running, handled atomic.Int32
		p := newDepartures(2, 1, func(delivery.Resource) {
			running.Add(1)
			<-release
			running.Add(-1)
			handled.Add(1)
		})
		p.start()
		res := delivery.Resource{JID: jid.MustParse("a@x/r")}
		for range 3 {
			p.add(res) // two to the workers, one queued
		}
		synctest.Wait()
		if n := running.Load(); n != 2 {
			t.Fatalf("%d handlers running, want the 2 workers", n)
		}
		var added atomic.Bool
		go func() { p.add(res); added.Store(true) }()
		synctest.Wait()
		if added.Load() {
			t.Fatal("add returned with the workers busy and the queue full")
		}
		var closed atomic.Bool
		go func() { p.close(); closed.Store(true) }()
		synctest.Wait()
		if closed.Load() {
			t.Fatal("close returned while handlers were running")
		}
		close(release)
		synctest.Wait()
		if !closed.Load() || !added.Load() {
			t.Fatalf("after release: closed=%v, blocked add returned=%v", closed.Load(), added.Load())
		}
		if n := handled.Load(); n < 2 || n > 4 {
			t.Fatalf("%d handled", n)
		}
		p.add(res) // after close: returns at once
	})
}

// The roster service's bounded tables show on the metrics endpoint, and
// a resource pushed past its directed-presence bound is refused and
// counted there.
func TestBoundsInMetrics(t *testing.T) {
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "alice@localhost", "password-alice")
	s.addUser(t, "bob@localhost", "password-bob")
	d.roster.MaxDirected = 1
	alice := connect(t, d, "alice@localhost/a")
	connect(t, d, "bob@localhost/b")
	for _, to := range []string{"bob@localhost", "bob@localhost/b"} {
		p := stanza.NewElement(stanza.NSClient, "presence").Set("from", "alice@localhost/a").Set("to", to)
		d.roster.Directed(jid.MustParse("alice@localhost/a"), jid.MustParse(to), p)
	}
	expect(t, "alice after the second directed presence", alice.take(), "presence error bob@localhost/b")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var body strings.Builder
	if err := s.client().Metrics(ctx, &body); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"herald_presence_directed 1\n",
		"herald_presence_directed_refused_total 1\n",
		"herald_roster_subscribe_buckets 0\n",
		"# TYPE herald_roster_subscribe_buckets_evicted_total counter\n",
	} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, body.String())
		}
	}
}
