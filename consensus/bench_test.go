package consensus

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// The benchmarks run one node on disk: every Raft commit is an fsync of the
// bolt log, Pebble commits are NoSync. Each op is one CreateAccount; the
// figure to read is commits/s.

func BenchmarkProposeSerial(b *testing.B) {
	n := open(b, b.TempDir())
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := n.Propose(ctx, CreateAccount{Name: fmt.Sprintf("u%d@bench", i), Secret: []byte("secret"), Created: ts}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkProposeParallel proposes from 64 goroutines; Raft batches what is
// queued into one fsync and one ApplyBatch (one Pebble batch).
func BenchmarkProposeParallel(b *testing.B) {
	n := open(b, b.TempDir())
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if _, err := n.Propose(ctx, CreateAccount{Name: fmt.Sprintf("u%d@bench", i), Secret: []byte("secret"), Created: ts}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
