package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/ops"
)

// runHeraldd runs heraldd to its exit and returns its output and exit code.
func runHeraldd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patienceD)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HERALDD_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("heraldd %v did not exit:\n%s", args, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// saveSnapshot saves a snapshot of the node behind s to a file, as
// heraldctl snapshot save does.
func saveSnapshot(t *testing.T, s server) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "herald.snap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patienceD)
	defer cancel()
	if err := s.client().Snapshot(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

// The single-node restore of the README: save a snapshot, restore it into
// an empty data directory with heraldd -restore, start heraldd on it.
func TestRestoreSingleNode(t *testing.T) {
	a := startChild(t, t.TempDir())
	a.addUser(t, "alice@localhost", "password-alice")
	ctx, cancel := context.WithTimeout(context.Background(), patienceD)
	defer cancel()
	if err := a.client().SetRosterItem(ctx, "alice@localhost", "bob@example.org", "Bob", nil); err != nil {
		t.Fatal(err)
	}
	file := saveSnapshot(t, a.server)
	a.kill()

	dir := filepath.Join(t.TempDir(), "restored")
	if out, code := runHeraldd(t, "-restore", file, "-data", dir); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("heraldd -restore: exit %d\n%s", code, out)
	}
	// A second restore into the same directory is refused.
	if out, code := runHeraldd(t, "-restore", file, "-data", dir); code == 0 || !strings.Contains(out, "already holds") {
		t.Fatalf("restore over restored data: exit %d\n%s", code, out)
	}
	b := startChild(t, dir)
	if got, err := scramLogin(b.c2s, "localhost", "alice", "password-alice"); got != "success" {
		t.Fatalf("login on the restored server: %s %v", got, err)
	}
	r, err := b.client().Roster(ctx, "alice@localhost")
	if err != nil || len(r.Items) != 1 || r.Items[0].Name != "Bob" {
		t.Fatalf("restored roster: %+v, %v", r, err)
	}
}

// The cluster restore of the README: a snapshot of a running cluster is
// restored into one node's empty data directory, which is started with
// -bootstrap (without it, heraldd says so and exits), and the other nodes
// join it with empty data directories, under their old IDs.
func TestRestoreCluster(t *testing.T) {
	c := startCluster(t, 17480)
	c.nodes[1].addUser(t, "alice@localhost", "password-alice")
	c.nodes[2].addUser(t, "carol@localhost", "password-carol")
	file := saveSnapshot(t, c.nodes[2].server) // any node, a follower here
	for _, n := range c.nodes {
		n.kill()
	}
	for _, n := range c.nodes {
		if err := os.RemoveAll(n.dir); err != nil {
			t.Fatal(err)
		}
	}

	if out, code := runHeraldd(t, "-restore", file, "-data", c.nodes[0].dir); code != 0 {
		t.Fatalf("heraldd -restore: exit %d\n%s", code, out)
	}
	// Without -bootstrap the restored node cannot form a cluster: it says
	// what to do instead of waiting for a leader.
	out, code := runHeraldd(t, "-data", c.nodes[0].dir, "-c2s", "127.0.0.1:0", "-c2s-tls", "", "-s2s", "", "-s2s-tls", "",
		"-node-id", "n1", "-cluster", c.addrs[0], "-cluster-secret-file", c.secret)
	if code == 0 || !strings.Contains(out, "-bootstrap") {
		t.Fatalf("restored node started without -bootstrap: exit %d\n%s", code, out)
	}

	c.nodes[0] = c.start(t, 0, "-bootstrap")
	waitLeader(t, c.nodes[0], "n1")
	c.nodes[1] = c.start(t, 1, "-join", c.addrs[0])
	c.nodes[2] = c.start(t, 2, "-join", c.addrs[0])
	for _, n := range c.nodes {
		waitMembers(t, n, 3)
		waitUsers(t, n, []string{"alice@localhost", "carol@localhost"})
	}
	deadline := time.Now().Add(patienceD)
	for {
		got, err := scramLogin(c.nodes[2].c2s, "localhost", "alice", "password-alice")
		if got == "success" {
			break
		}
		if got != "temporary-auth-failure" || time.Now().After(deadline) {
			t.Fatalf("login on a node joined to the restored cluster: %s %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The cluster takes writes.
	c.nodes[1].addUser(t, "dave@localhost", "password-dave")
	waitUsers(t, c.nodes[2], []string{"dave@localhost"})
}

// Membership that cannot break the cluster, with real processes: a node
// restarted on a wiped data directory under its old ID is refused and
// exits saying what to do; removing a live member while another is down
// is refused, naming the silent one; after the operator removes the wiped
// node, it joins again and gets the state.
func TestClusterMembershipSafety(t *testing.T) {
	c := startCluster(t, 17490)
	c.nodes[0].addUser(t, "alice@localhost", "password-alice")
	waitUsers(t, c.nodes[2], []string{"alice@localhost"})
	c.nodes[2].kill()
	if err := os.RemoveAll(c.nodes[2].dir); err != nil {
		t.Fatal(err)
	}
	out, code := runHeraldd(t, "-data", c.nodes[2].dir, "-c2s", "127.0.0.1:0", "-c2s-tls", "", "-s2s", "", "-s2s-tls", "",
		"-node-id", "n3", "-cluster", c.addrs[2], "-cluster-secret-file", c.secret, "-join", c.addrs[0])
	if code == 0 || !strings.Contains(out, "identity") || !strings.Contains(out, "heraldctl cluster remove") {
		t.Fatalf("wiped n3 started with -join: exit %d\n%s", code, out)
	}
	waitLog(t, c.nodes[0], "presents identity", 1) // the leader logs the refusal too

	ctx, cancel := context.WithTimeout(context.Background(), patienceD)
	defer cancel()
	if err := c.nodes[1].client().RemoveNode(ctx, "n2", false); !errors.Is(err, ops.ErrRefused) || !strings.Contains(err.Error(), "n3") {
		t.Fatalf("remove n2 while n3 is down: %v, want a refusal naming n3", err)
	}
	if err := c.nodes[1].client().RemoveNode(ctx, "n3", false); err != nil {
		t.Fatalf("remove the wiped n3: %v", err)
	}
	c.nodes[2] = c.start(t, 2, "-join", c.addrs[0])
	for _, n := range c.nodes {
		waitMembers(t, n, 3)
	}
	waitUsers(t, c.nodes[2], []string{"alice@localhost"})
	waitCluster(t, c.nodes[2], func(st ops.Cluster) bool { return st.CaughtUp && st.AppliedIndex == st.CommitIndex })
}
