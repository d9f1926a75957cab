package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/cmd/internal/config"
	"github.com/heraldxmpp/herald/ops"
)

// An online snapshot restores into a new data directory with every
// account, roster and pending request (heraldctl snapshot save, heraldd
// -restore).
func TestSnapshotSaveRestore(t *testing.T) {
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "alice@localhost", "password-alice")
	s.addUser(t, "bob@localhost", "password-bob")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.client().SetRosterItem(ctx, "alice@localhost", "bob@localhost", "Bob", []string{"Friends"}); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := s.client().Snapshot(ctx, &snap); err != nil || snap.Len() == 0 {
		t.Fatalf("snapshot: %d bytes, %v", snap.Len(), err)
	}
	file := filepath.Join(t.TempDir(), "herald.snap")
	os.WriteFile(file, snap.Bytes(), 0o600)

	cfg := testConfig(t.TempDir())
	if err := restoreSnapshot(cfg, file); err != nil {
		t.Fatal(err)
	}
	d2, err := start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.close(context.Background())
	c2 := d2.server().client()
	users, err := c2.ListUsers(ctx, "")
	if err != nil || strings.Join(users, ",") != "alice@localhost,bob@localhost" {
		t.Fatalf("restored users = %v, %v", users, err)
	}
	r, err := c2.Roster(ctx, "alice@localhost")
	if err != nil || len(r.Items) != 1 || r.Items[0].Name != "Bob" {
		t.Fatalf("restored roster = %+v, %v", r, err)
	}
}

// clusterNode is heraldd as a child process, one node of a cluster.
type clusterNode struct {
	id, dir, addr string
	*child
}

// startNode runs node id of a loopback cluster; extra are flags such as
// -bootstrap or -join.
func startNode(t *testing.T, id, dir, clusterAddr, secretFile string, extra ...string) *clusterNode {
	t.Helper()
	args := append([]string{"-data", dir, "-c2s", "127.0.0.1:0", "-c2s-tls", "", "-s2s", "", "-s2s-tls", "",
		"-node-id", id, "-cluster", clusterAddr, "-cluster-secret-file", secretFile}, extra...)
	c := startChildWith(t, dir, args...)
	return &clusterNode{id: id, dir: dir, addr: clusterAddr, child: c}
}

// cluster is three heraldd processes on loopback: n1 bootstrapped, n2 and
// n3 joined, cluster ports base+1..base+3.
type cluster struct {
	nodes  []*clusterNode
	dir    string
	secret string
	addrs  []string
}

// startCluster starts the three nodes and waits until each sees all three
// members, a leader, and its peer links to the two others.
func startCluster(t *testing.T, base int) *cluster {
	t.Helper()
	c := &cluster{dir: t.TempDir()}
	c.secret = filepath.Join(c.dir, "cluster.secret")
	os.WriteFile(c.secret, []byte("a-shared-cluster-secret-of-32-by"), 0o600)
	for i := 1; i <= 3; i++ {
		c.addrs = append(c.addrs, "127.0.0.1:"+strconv.Itoa(base+i))
	}
	c.nodes = []*clusterNode{c.start(t, 0, "-bootstrap")}
	waitLeader(t, c.nodes[0], "n1")
	c.nodes = append(c.nodes, c.start(t, 1, "-join", c.addrs[0]), c.start(t, 2, "-join", c.addrs[0]))
	for _, n := range c.nodes {
		waitMembers(t, n, 3)
		waitLog(t, n, "peer up", 2) // "consensus: peer up", or "mux: peer up" once the port has its own package
	}
	return c
}

func (c *cluster) start(t *testing.T, i int, extra ...string) *clusterNode {
	id := "n" + strconv.Itoa(i+1)
	return startNode(t, id, filepath.Join(c.dir, id), c.addrs[i], c.secret, extra...)
}

// restart starts node i again on its data, after a kill.
func (c *cluster) restart(t *testing.T, i int) *clusterNode {
	t.Helper()
	c.nodes[i] = c.start(t, i)
	return c.nodes[i]
}

// clientAt is a slixmpp client of node n's c2s port.
func clientAt(n *clusterNode, spec clientSpec) fedClient {
	host, port, _ := net.SplitHostPort(n.c2s)
	p, _ := strconv.Atoi(port)
	return fedClient{clientSpec: spec, Host: host, Port: p, CAFile: n.cafile}
}

// A three-process cluster: one node bootstraps, two join; an account
// created through any node exists on all; the leader is killed with
// SIGKILL during a burst of account creations and of offline messages
// (a client of a follower writing to an account with no session), and
// every creation that was acknowledged is present exactly once on every
// node afterwards, also on the old leader once it is back; every message
// its sender got no error for is delivered exactly once when the
// recipient logs in to the old leader after its restart.
func TestClusterThreeProcesses(t *testing.T) {
	c := startCluster(t, 17420)
	nodes := c.nodes
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A write through a follower is forwarded and seen everywhere.
	if err := nodes[2].client().CreateUser(ctx, "alice@localhost", "password-alice"); err != nil {
		t.Fatal(err)
	}
	nodes[2].addUser(t, "bob@localhost", "password-bob")
	nodes[2].addUser(t, "carol@localhost", "password-carol")
	for _, n := range nodes {
		waitUsers(t, n, []string{"alice@localhost", "bob@localhost", "carol@localhost"})
	}
	carol := rawLogin(t, nodes[1].server, "carol", "password-carol", "c")
	carol.send("<presence/>")
	offline := startOfflineBurst(carol, "bob@localhost", 200)

	// A burst of creations through the two followers, while the leader
	// (n1) dies.
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			n := nodes[1+w%2]
			for i := 0; i < 25; i++ {
				name := fmt.Sprintf("u%d-%d@localhost", w, i)
				cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
				err := n.client().CreateUser(cctx, name, "password-"+name)
				ccancel()
				if err == nil {
					mu.Lock()
					acked[name] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	// Let the bursts begin: the kill must land inside them.
	offline.waitAcked(t, 10)
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	offlineBefore := offline.ackedCount()
	nodes[0].kill()
	wg.Wait()
	t.Logf("%d creations acknowledged before the leader was killed, %d in all, of 200", before, len(acked))
	if offlineBefore == 200 {
		t.Fatal("the offline burst was over before the leader died; the test proves nothing")
	}
	if before == 200 {
		t.Fatal("the burst was over before the leader died; the test proves nothing")
	}
	if len(acked) == 0 {
		t.Fatal("no creation was acknowledged after the leader died")
	}
	for _, n := range nodes[1:] {
		checkAcked(t, n, acked)
	}
	// The old leader comes back as a follower and converges.
	nodes[0] = c.restart(t, 0)
	checkAcked(t, nodes[0], acked)
	t.Logf("%d offline messages acknowledged before the leader was killed", offlineBefore)
	checkOfflineDelivered(t, nodes, 0, "bob", "password-bob", offline)
	st, err := nodes[1].client().Cluster(ctx)
	if err != nil || len(st.Members) != 3 || st.LeaderID == "" {
		t.Fatalf("cluster after the restart: %+v, %v", st, err)
	}
}

func checkAcked(t *testing.T, n *clusterNode, acked map[string]bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		users, err := n.client().ListUsers(ctx, "localhost")
		cancel()
		seen := map[string]int{}
		for _, u := range users {
			seen[u]++
		}
		missing := 0
		for u := range acked {
			if seen[u] != 1 {
				missing++
			}
		}
		if err == nil && missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %d of %d acknowledged accounts missing (err %v)", n.id, missing, len(acked), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitLeader(t *testing.T, n *clusterNode, want string) {
	t.Helper()
	waitCluster(t, n, func(st ops.Cluster) bool { return st.LeaderID == want })
}

func waitMembers(t *testing.T, n *clusterNode, count int) {
	t.Helper()
	waitCluster(t, n, func(st ops.Cluster) bool { return len(st.Members) == count && st.LeaderID != "" })
}

func waitCluster(t *testing.T, n *clusterNode, ok func(ops.Cluster) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last ops.Cluster
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last, err = n.client().Cluster(ctx)
		cancel()
		if err == nil && ok(last) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("node %s: cluster status %+v (err %v) never got there\n%s", n.id, last, err, n.stderr)
}

func waitUsers(t *testing.T, n *clusterNode, want []string) {
	t.Helper()
	acked := map[string]bool{}
	for _, u := range want {
		acked[u] = true
	}
	checkAcked(t, n, acked)
}

// A daemon that cannot start undoes what it started and says why, rather
// than crashing (a port in use, here).
func TestStartFailureCleansUp(t *testing.T) {
	d := startInProcess(t)
	cfg := testConfig(t.TempDir())
	cfg.C2S.Listen = []string{d.addrs["c2s"][0]}
	_, err := start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("start on a taken port: %v", err)
	}
	// Its state directory was closed again: a new daemon can open it.
	cfg.C2S.Listen = []string{"127.0.0.1:0"}
	d2, err := start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("restart after a failed start: %v", err)
	}
	d2.close(context.Background())
}

// Every node of a cluster derives the same dialback secret from the
// cluster secret, so a dialback key is verifiable on any node; a single
// node keeps its own across restarts.
func TestDialbackSecretShared(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "cluster.secret")
	os.WriteFile(secret, []byte("a-shared-cluster-secret-of-32-by\n"), 0o600)
	a, b := testConfig(filepath.Join(dir, "a")), testConfig(filepath.Join(dir, "b"))
	for _, c := range []*config.Config{&a, &b} {
		c.Cluster.Bind, c.Cluster.SecretFile = "127.0.0.1:0", secret
	}
	ka, err1 := dialbackSecret(a)
	kb, err2 := dialbackSecret(b)
	if err1 != nil || err2 != nil || !bytes.Equal(ka, kb) || len(ka) != 32 {
		t.Fatalf("cluster nodes: %x (%v) and %x (%v), want the same 32 bytes", ka, err1, kb, err2)
	}
	single := testConfig(filepath.Join(dir, "single"))
	os.MkdirAll(single.DataDir, 0o700)
	k1, _ := dialbackSecret(single)
	k2, _ := dialbackSecret(single)
	if !bytes.Equal(k1, k2) || bytes.Equal(k1, ka) {
		t.Fatalf("single node secret not stable or equal to the cluster's: %x %x", k1, k2)
	}
}

// admin.metrics serves the same metrics as the admin socket over TCP,
// for scrapers.
func TestMetricsListener(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Admin.Metrics = "127.0.0.1:0"
	d, err := start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close(context.Background())
	resp, err := http.Get("http://" + d.addrs["metrics"][0] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"herald_sessions 0\n", "herald_raft_leader 1\n", "herald_cluster_members 1\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// Nothing else of the admin API is reachable there.
	if r, err := http.Get("http://" + d.addrs["metrics"][0] + "/v1/users"); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET /v1/users on the metrics port: %s", r.Status)
		}
	}
}
