package consensus

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// testLog sends Warn and above to the test's log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// memState keeps Pebble in memory, for tests where persistence is not the
// point (the bolt log stays on disk in t.TempDir()).
func memState(c *Config) { c.fs = vfs.NewMem() }

// open opens a node on dir and closes it at the end of the test.
func open(t testing.TB, dir string, opts ...func(*Config)) *Node {
	t.Helper()
	cfg := Config{Dir: dir, Logger: testLog(t)}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// propose proposes c and fails the test on any error.
func propose(t testing.TB, n *Node, c Command) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.Propose(ctx, c)
	if err != nil {
		t.Fatalf("Propose(%T %+v): %v", c, c, err)
	}
	return res
}

// ts is a fixed timestamp: tests, like Apply, do not read the clock.
const ts = int64(1_700_000_000_000_000_000)

func seqs(msgs []OfflineMessage) []uint64 {
	s := make([]uint64, len(msgs))
	for i, m := range msgs {
		s[i] = m.Seq
	}
	return s
}
