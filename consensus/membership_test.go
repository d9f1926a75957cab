package consensus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// A follower restarted after the cluster took many writes without it is
// not caught up when Open returns; once WaitCaughtUp returns it has applied
// everything committed before it started, and every acknowledged account
// is readable there at once.
func TestCatchUpAfterRestart(t *testing.T) {
	const accounts = 1500
	c := newCluster(t, 3)
	li, leader := c.leader()
	fi := slices.Index(c.nodes, c.followers(li)[0])
	c.stop(fi)
	ctx, cancel := context.WithTimeout(context.Background(), 4*patience)
	defer cancel()
	secret := []byte(strings.Repeat("s", 120)) // about the size of real SCRAM credentials
	for i := range accounts {
		if _, err := leader.Propose(ctx, CreateAccount{Name: fmt.Sprintf("u%d@localhost", i), Secret: secret, Created: ts}); err != nil {
			t.Fatal(err)
		}
	}
	committed := leader.raft.CommitIndex()

	start := time.Now()
	n := c.start(fi)
	opened := time.Since(start)
	if n.CaughtUp() && n.AppliedIndex() < committed {
		t.Fatalf("caught up at Open with applied index %d, below the commit index %d", n.AppliedIndex(), committed)
	}
	// A fresh wait: the writes above may have used much of ctx, and the
	// leader's retry backoff towards a long-dead follower reaches ~10s.
	if err := n.WaitCaughtUp(ctxPatience(t)); err != nil {
		t.Fatal(err)
	}
	took, ok := n.CatchUpTime()
	t.Logf("restarted follower, %d accounts written while it was down: Open took %s, caught up after %s", accounts, opened, took)
	if !ok || !n.CaughtUp() || !n.Status().CaughtUp {
		t.Fatal("WaitCaughtUp returned but the node does not say it caught up")
	}
	if got := n.AppliedIndex(); got < committed {
		t.Fatalf("caught up at applied index %d, below the commit index %d of the cluster at its start", got, committed)
	}
	for _, i := range []int{0, accounts / 2, accounts - 1} {
		if _, err := n.Account(fmt.Sprintf("u%d@localhost", i)); err != nil {
			t.Errorf("account u%d after catching up: %v", i, err)
		}
	}
}

// After a leader change with no writes, Raft's applied index reaches the
// commit index on every node; the state's index may stay behind by the new
// leader's no-op, and is reported apart.
func TestAppliedIndexAfterLeaderChange(t *testing.T) {
	c := newCluster(t, 3)
	li, leader := c.leader()
	for _, n := range c.nodes {
		if err := n.WaitCaughtUp(ctxPatience(t)); err != nil {
			t.Fatal(err)
		}
	}
	before := leader.raft.LastIndex()
	if err := leader.Stepdown(ctxPatience(t)); err != nil {
		t.Fatal(err)
	}
	if ni, _ := c.leader(); ni == li {
		t.Fatal("the leader did not change")
	}
	// The new leader's first entry is its no-op, which the state never sees.
	target := before + 1
	for _, n := range c.nodes {
		waitFor(t, fmt.Sprintf("%s to apply up to the no-op at %d", n.cfg.NodeID, target), func() bool {
			st := n.Status()
			return st.CommitIndex >= target && st.AppliedIndex == st.CommitIndex
		})
		if st := n.Status(); st.StateIndex >= target {
			t.Errorf("%s: state index %d, want it below the no-op at %d", n.cfg.NodeID, st.StateIndex, target)
		}
	}
	for _, n := range c.nodes {
		st := n.Status()
		t.Logf("%s after the leader change: commit %d, applied %d, state %d", n.cfg.NodeID, st.CommitIndex, st.AppliedIndex, st.StateIndex)
	}
}

// A removal or a join that would leave the cluster without a live majority is
// refused, with the reason, wherever it is asked; forced, it goes through.
func TestMembershipRefusedWithoutLiveMajority(t *testing.T) {
	c := newCluster(t, 3)
	li, leader := c.leader()
	fs := c.followers(li)
	keep, down := fs[0], fs[1]
	di := slices.Index(c.nodes, down)
	downID := down.cfg.NodeID
	// Asked right after the node died, while its last answer is recent.
	c.stop(di)
	ctx := ctxPatience(t)
	for _, asker := range []*Node{leader, keep} {
		err := asker.Remove(ctx, keep.cfg.NodeID)
		if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), downID) || !strings.Contains(err.Error(), "1 live voters of 2") {
			t.Fatalf("Remove(%s) asked on %s with %s down = %v, want ErrUnsafe naming %s", keep.cfg.NodeID, asker.cfg.NodeID, downID, err, downID)
		}
	}
	if got := len(leader.Status().Members); got != 3 {
		t.Fatalf("%d members after a refused removal", got)
	}
	// Nor may a node that does not answer join: two of four would be live.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := ln.Addr().String()
	ln.Close()
	if err := keep.Join(ctx, "n9", silent); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "2 live voters of 4") {
		t.Fatalf("Join of a silent node with %s down = %v, want ErrUnsafe", downID, err)
	}
	if got := len(leader.Status().Members); got != 3 {
		t.Fatalf("%d members after a refused join", got)
	}
	// Removing the dead node itself leaves two live voters: allowed.
	if err := keep.Remove(ctx, downID); err != nil {
		t.Fatalf("Remove of the dead node: %v", err)
	}
	if got := len(leader.Status().Members); got != 2 {
		t.Fatalf("%d members after removing the dead node", got)
	}
	// Forced, a removal that leaves the leader alone goes through.
	if err := keep.ForceRemove(ctx, keep.cfg.NodeID); err != nil {
		t.Fatalf("ForceRemove: %v", err)
	}
	waitFor(t, "one member", func() bool { return len(leader.Status().Members) == 1 })
	propose(t, leader, CreateAccount{Name: "alone@localhost", Created: ts})
}

// A node that comes back under a known ID with a wiped data directory is
// refused, whether it asks to join or just starts; once an operator
// removes the ID, it joins again as a new node and gets the whole state.
func TestWipedNodeRefused(t *testing.T) {
	c := newCluster(t, 3)
	li, leader := c.leader()
	wi := slices.Index(c.nodes, c.followers(li)[0])
	id := c.cfgs[wi].NodeID
	ctx := ctxPatience(t)
	for _, n := range c.nodes {
		if err := n.WaitCaughtUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res := propose(t, leader, CreateAccount{Name: "before@localhost", Created: ts})
	c.converge(res.Index)
	known, err := leader.NodeIdentities()
	if err != nil || len(known) != 3 || known[id] != c.nodes[wi].Identity() {
		t.Fatalf("recorded identities %v (%v), want three with %s=%s", known, err, id, c.nodes[wi].Identity())
	}
	c.stop(wi)
	if err := os.RemoveAll(c.cfgs[wi].Dir); err != nil {
		t.Fatal(err)
	}

	// Started with Join: refused before its Raft starts.
	if n, err := Open(c.cfgs[wi]); !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), "remove the node") {
		if n != nil {
			n.Close()
		}
		t.Fatalf("Open of the wiped node = %v, want ErrIdentity", err)
	}
	// Started without Join (it is still in the configuration): Raft starts,
	// the claim is refused and Raft stops again.
	cfg := c.cfgs[wi]
	cfg.Join = nil
	os.RemoveAll(cfg.Dir)
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open without Join: %v", err)
	}
	if err := n.WaitCaughtUp(ctx); !errors.Is(err, ErrIdentity) {
		t.Fatalf("WaitCaughtUp of the wiped node = %v, want ErrIdentity", err)
	}
	if n.CaughtUp() {
		t.Fatal("a refused node says it caught up")
	}
	n.Close()
	if got, _ := leader.NodeIdentities(); got[id] != known[id] {
		t.Fatalf("the refused node changed the recorded identity: %s, was %s", got[id], known[id])
	}

	// The operator removes it; it then joins as a new node.
	if err := leader.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(cfg.Dir)
	back := c.start(wi)
	if err := back.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := back.Account("before@localhost"); err != nil {
		t.Fatalf("the re-added node lacks the state: %v", err)
	}
	waitFor(t, "three members", func() bool { return len(leader.Status().Members) == 3 })
	if got, _ := leader.NodeIdentities(); got[id] != back.Identity() || back.Identity() == known[id] {
		t.Fatalf("recorded identity of %s = %s, want the new %s", id, got[id], back.Identity())
	}
}

// The identity survives restarts and a restored directory forgets the
// identities of the cluster it came from.
func TestIdentityFile(t *testing.T) {
	dir := t.TempDir()
	n, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	first := n.Identity()
	if ids, _ := n.NodeIdentities(); ids["node1"] != first || len(first) < 16 {
		t.Fatalf("identity %q, recorded %v", first, ids)
	}
	var snap strings.Builder
	if err := n.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	n.Close()
	n, err = Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if n.Identity() != first {
		t.Fatalf("identity changed across a restart: %s, was %s", n.Identity(), first)
	}
	n.Close()

	restored := t.TempDir()
	if err := RestoreDir(restored, strings.NewReader(snap.String())); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Config{Dir: restored})
	if err != nil {
		t.Fatalf("Open of a restored copy (same node ID, new identity): %v", err)
	}
	defer r.Close()
	if ids, _ := r.NodeIdentities(); r.Identity() == first || ids["node1"] != r.Identity() {
		t.Fatalf("restored node: identity %s (old %s), recorded %v", r.Identity(), first, ids)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := r.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
}

// The force flag crosses the forwarding channel on joins and removals only.
func TestWireForceFlag(t *testing.T) {
	for _, r := range []request{
		{op: opRemove, id: "n2", force: true},
		{op: opJoin, id: "n4", addr: "10.0.0.4:7422", force: true, relay: true},
	} {
		f := reqFrame(7, r)
		_, got, err := splitReq(f[4:])
		if err != nil || got.force != true || got.id != r.id || got.relay != r.relay {
			t.Errorf("%s: decoded %+v, %v", r, got, err)
		}
	}
	f := reqFrame(7, request{op: opPropose, cmd: Encode(DeleteAccount{Name: "a@b"}), force: true})
	if _, _, err := splitReq(f[4:]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("force on a propose: %v, want ErrCorrupt", err)
	}
	for _, sentinel := range []error{ErrUnsafe, ErrIdentity} {
		code, msg, _ := wireError(fmt.Errorf("%w: why", sentinel))
		if err := wireErr(code, msg, nil); !errors.Is(err, sentinel) || err.Error() != msg {
			t.Errorf("%v crossed as %v", sentinel, err)
		}
	}
}

// A restored directory forms a new cluster only when bootstrapped, and
// nodes that join it later get the restored state (Raft sends them the
// snapshot the bootstrap seeded its log with).
func TestRestoredClusterSeedsJoiners(t *testing.T) {
	src, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	propose(t, src, CreateAccount{Name: "kept@localhost", Created: ts})
	var snap strings.Builder
	if err := src.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	src.Close()

	dir := t.TempDir()
	if err := RestoreDir(dir, strings.NewReader(snap.String())); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: dir, NodeID: "n1", ClusterAddr: "127.0.0.1:0", Secret: testSecret,
		Logger: clusterLog(t, "n1"), LeaderTimeout: patience, tune: clusterTimings}
	if n, err := Open(cfg); !errors.Is(err, ErrRestored) {
		if n != nil {
			n.Close()
		}
		t.Fatalf("Open of a restored directory without Bootstrap = %v, want ErrRestored", err)
	}
	cfg.Bootstrap = true
	n1, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	n2, err := Open(Config{Dir: t.TempDir(), NodeID: "n2", ClusterAddr: "127.0.0.1:0", Secret: testSecret,
		Join: []string{n1.net.Addr()}, Logger: clusterLog(t, "n2"), LeaderTimeout: patience, tune: clusterTimings})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if err := n2.WaitCaughtUp(ctxPatience(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Account("kept@localhost"); err != nil {
		t.Fatalf("a node joined to the restored cluster lacks the restored state: %v", err)
	}
	res := propose(t, n2, CreateAccount{Name: "new@localhost", Created: ts})
	if err := n1.WaitApplied(ctxPatience(t), res.Index); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Account("kept@localhost"); err != nil {
		t.Fatalf("the restored node lost its state: %v", err)
	}
}
