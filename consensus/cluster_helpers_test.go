package consensus

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// Cluster tests run real nodes in one process, on loopback TCP with the real
// cluster port. They wait on conditions (a leader elected, an index applied)
// with generous deadlines, never on fixed sleeps: this machine is small and
// busy.

var testSecret = []byte("herald-test-cluster-secret-0123456789")

// patience bounds every wait of the cluster tests.
const patience = 30 * time.Second

// clusterTimings shortens Raft's timeouts for tests, not so far that a
// loaded machine sees spurious elections.
func clusterTimings(rc *raft.Config) {
	rc.HeartbeatTimeout = 400 * time.Millisecond
	rc.ElectionTimeout = 400 * time.Millisecond
	rc.LeaderLeaseTimeout = 300 * time.Millisecond
}

// lateLog is a test logger that goes quiet once the test is over: Raft's
// connection goroutines may still log as they wind down after Close.
type lateLog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *lateLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func clusterLog(t testing.TB, id string) *slog.Logger {
	w := &lateLog{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", id)
}

// tcluster is an in-process cluster. nodes[i] is nil while node i is down.
type tcluster struct {
	t        testing.TB
	cfgs     []Config
	nodes    []*Node
	isolated []bool
}

// newCluster starts size nodes: the first bootstraps, the others join it.
func newCluster(t testing.TB, size int, opts ...func(*Config)) *tcluster {
	t.Helper()
	c := &tcluster{t: t, nodes: make([]*Node, size), isolated: make([]bool, size)}
	t.Cleanup(c.closeAll)
	for i := range size {
		id := fmt.Sprintf("n%d", i+1)
		cfg := Config{
			Dir:           t.TempDir(),
			NodeID:        id,
			ClusterAddr:   "127.0.0.1:0",
			Secret:        testSecret,
			Logger:        clusterLog(t, id),
			LeaderTimeout: patience,
			tune:          clusterTimings,
		}
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = []string{c.nodes[0].net.Addr()}
		}
		for _, o := range opts {
			o(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
		c.start(i)
	}
	// From now on a node restarts on its port (Raft's configuration holds
	// the address) and rejoins through any member.
	var all []string
	for _, n := range c.nodes {
		all = append(all, n.net.Addr())
	}
	for i := range c.cfgs {
		c.cfgs[i].Bootstrap = false
		c.cfgs[i].Join = all
	}
	return c
}

func (c *tcluster) start(i int) *Node {
	c.t.Helper()
	n, err := Open(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("Open %s: %v", c.cfgs[i].NodeID, err)
	}
	c.cfgs[i].ClusterAddr = n.net.Addr()
	c.nodes[i] = n
	return n
}

func (c *tcluster) stop(i int) {
	c.t.Helper()
	if err := c.nodes[i].Close(); err != nil {
		c.t.Errorf("Close %s: %v", c.cfgs[i].NodeID, err)
	}
	c.nodes[i] = nil
}

func (c *tcluster) closeAll() {
	for i, n := range c.nodes {
		if n != nil {
			n.Close()
			c.nodes[i] = nil
		}
	}
}

// isolate cuts node i off the others (a partition), or heals it.
func (c *tcluster) isolate(i int, on bool) {
	c.nodes[i].net.Isolate(on)
	c.isolated[i] = on
}

// reachable returns the indexes of the running, connected nodes.
func (c *tcluster) reachable() []int {
	var out []int
	for i, n := range c.nodes {
		if n != nil && !c.isolated[i] {
			out = append(out, i)
		}
	}
	return out
}

// waitFor polls cond until it holds or patience runs out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting %s for %s", patience, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits until the reachable nodes agree on a leader among them and
// returns it.
func (c *tcluster) leader() (int, *Node) {
	c.t.Helper()
	lead := -1
	waitFor(c.t, "a leader", func() bool {
		lead = -1
		for _, i := range c.reachable() {
			if c.nodes[i].raft.State() == raft.Leader {
				lead = i
			}
		}
		if lead < 0 {
			return false
		}
		for _, i := range c.reachable() {
			if _, id := c.nodes[i].raft.LeaderWithID(); string(id) != c.cfgs[lead].NodeID {
				return false
			}
		}
		return true
	})
	return lead, c.nodes[lead]
}

// followers returns the reachable nodes other than lead.
func (c *tcluster) followers(lead int) []*Node {
	var out []*Node
	for _, i := range c.reachable() {
		if i != lead {
			out = append(out, c.nodes[i])
		}
	}
	return out
}

// converge waits until every reachable node has applied index.
func (c *tcluster) converge(index uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	for _, i := range c.reachable() {
		if err := c.nodes[i].WaitApplied(ctx, index); err != nil {
			c.t.Fatalf("%s: %v", c.cfgs[i].NodeID, err)
		}
	}
}

// sameState checks that every reachable node holds the same data.
func (c *tcluster) sameState() {
	c.t.Helper()
	var want []string
	for k, i := range c.reachable() {
		got := dump(c.t, c.nodes[i])
		if k == 0 {
			want = got
			continue
		}
		if !slices.Equal(got, want) {
			c.t.Fatalf("%s differs from %s:\n%s\nvs\n%s", c.cfgs[i].NodeID, c.cfgs[c.reachable()[0]].NodeID,
				strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// dump lists a node's user keyspace: every record, not the metadata.
func dump(t testing.TB, n *Node) []string {
	t.Helper()
	it, err := n.db.NewIter(&pebble.IterOptions{LowerBound: usersStart, UpperBound: usersEnd})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for it.First(); it.Valid(); it.Next() {
		out = append(out, fmt.Sprintf("%q=%x", it.Key(), it.Value()))
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

func ctxPatience(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}
