package consensus

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// countingLog counts the bolt log's commits: every StoreLog(s) call is one
// bolt transaction, one fsync.
type countingLog struct {
	raft.LogStore
	n *atomic.Int64
}

func (c countingLog) StoreLog(l *raft.Log) error {
	c.n.Add(1)
	return c.LogStore.StoreLog(l)
}

func (c countingLog) StoreLogs(ls []*raft.Log) error {
	c.n.Add(1)
	return c.LogStore.StoreLogs(ls)
}

// fsyncCounter hands out a counting log per node and sums them.
type fsyncCounter struct {
	mu sync.Mutex
	ns []*atomic.Int64
}

func (f *fsyncCounter) opt(cfg *Config) {
	cfg.wrapLog = func(l raft.LogStore) raft.LogStore {
		n := new(atomic.Int64)
		f.mu.Lock()
		f.ns = append(f.ns, n)
		f.mu.Unlock()
		return countingLog{l, n}
	}
}

func (f *fsyncCounter) total() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t int64
	for _, n := range f.ns {
		t += n.Load()
	}
	return t
}

var benchSeq atomic.Int64

// BenchmarkCluster3Propose commits CreateAccount commands on a three-node
// cluster over loopback TCP (every node on this machine's disk, each with its
// own bolt log fsync'd per commit), next to a single node in the same run:
//
//	nodes=1            one node, in-memory transport (BenchmarkPropose*'s setup)
//	nodes=3/leader     proposed on the leader: local fsync, then a round trip
//	                   to the followers and their fsync
//	nodes=3/follower   proposed on the followers: forwarded to the leader first
//
// Each reports the median and 99th percentile commit latency (p50-ms,
// p99-ms) and the bolt commits (fsyncs) per command summed over all nodes.
func BenchmarkCluster3Propose(b *testing.B) {
	var one, three fsyncCounter
	single := open(b, b.TempDir(), one.opt)
	c := newCluster(b, 3, three.opt)
	li, leader := c.leader()
	followers := c.followers(li)

	for _, tc := range []struct {
		name  string
		nodes []*Node
		fs    *fsyncCounter
	}{
		{"nodes=1", []*Node{single}, &one},
		{"nodes=3/leader", []*Node{leader}, &three},
		{"nodes=3/follower", followers, &three},
	} {
		b.Run(tc.name+"/serial", func(b *testing.B) {
			benchPropose(b, tc.nodes, tc.fs, 1)
		})
		b.Run(tc.name+"/parallel64", func(b *testing.B) {
			benchPropose(b, tc.nodes, tc.fs, 64)
		})
	}
}

// benchPropose runs b.N proposals from workers goroutines, spread over nodes.
func benchPropose(b *testing.B, nodes []*Node, fs *fsyncCounter, workers int) {
	ctx := context.Background()
	var (
		mu   sync.Mutex
		lats []time.Duration
		next atomic.Int64
	)
	fsyncs := fs.total()
	b.ResetTimer()
	op := func(w int, local *[]time.Duration) {
		i := benchSeq.Add(1)
		start := time.Now()
		_, err := nodes[w%len(nodes)].Propose(ctx, CreateAccount{Name: fmt.Sprintf("u%d@bench", i), Secret: []byte("secret"), Created: ts})
		*local = append(*local, time.Since(start))
		if err != nil {
			b.Error(err)
		}
	}
	if workers == 1 {
		local := make([]time.Duration, 0, b.N)
		for range b.N {
			op(0, &local)
		}
		lats = local
	} else {
		b.SetParallelism((workers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			w := int(next.Add(1))
			var local []time.Duration
			for pb.Next() {
				op(w, &local)
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		})
	}
	b.StopTimer()
	slices.Sort(lats)
	if len(lats) > 0 {
		b.ReportMetric(ms(lats[len(lats)/2]), "p50-ms")
		b.ReportMetric(ms(lats[min(len(lats)-1, len(lats)*99/100)]), "p99-ms")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(float64(fs.total()-fsyncs)/float64(b.N), "fsyncs/op")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
