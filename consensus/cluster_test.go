package consensus

import (
	"context"
	"errors"
	"fmt"
	"github.com/heraldxmpp/herald/consensus/mux"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// A three-node cluster forms (one bootstrap, two joins); writes made on a
// follower are forwarded to the leader, their outcome comes back intact
// (domain errors included), and every node ends with the same state.
func TestClusterForwarding(t *testing.T) {
	c := newCluster(t, 3)
	li, leader := c.leader()
	fs := c.followers(li)
	f1, f2 := fs[0], fs[1]
	ctx := ctxPatience(t)

	st := leader.Status()
	if len(st.Members) != 3 || st.LeaderID != st.ID || st.State != raft.Leader.String() {
		t.Fatalf("leader status %+v", st)
	}
	for _, m := range st.Members {
		if m.Suffrage != raft.Voter.String() || m.Leader != (m.ID == st.ID) {
			t.Errorf("member %+v", m)
		}
	}
	if fst := f1.Status(); fst.LeaderID != st.ID || fst.LeaderAddr != st.Addr || len(fst.Members) != 3 {
		t.Errorf("follower status %+v", fst)
	}

	res := propose(t, f1, CreateAccount{Name: "alice@localhost", Secret: []byte("s"), Created: ts})
	// Read your writes: Propose returns once the proposing node applied it.
	if f1.AppliedIndex() < res.Index {
		t.Errorf("Propose on a follower returned at applied index %d, before its entry %d", f1.AppliedIndex(), res.Index)
	}
	c.converge(res.Index)
	for _, i := range c.reachable() {
		if a, err := c.nodes[i].Account("alice@localhost"); err != nil || string(a.Secret) != "s" {
			t.Errorf("%s: Account = %+v, %v", c.cfgs[i].NodeID, a, err)
		}
	}

	// Domain errors keep their identity across the link, and the Result
	// (its Index) comes along.
	res, err := f2.Propose(ctx, CreateAccount{Name: "alice@localhost", Created: ts})
	if !errors.Is(err, ErrExists) || res.Index == 0 {
		t.Errorf("CreateAccount again via a follower: %+v, %v; want ErrExists with an index", res, err)
	}
	if _, err := f1.Propose(ctx, SetSecret{Name: "nobody@localhost"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetSecret of nobody: %v, want ErrNotFound", err)
	}
	if res := propose(t, f2, StoreOffline{User: "alice@localhost", From: "b@x", Stanza: []byte("<m/>"), At: ts, Limit: 1}); res.Seq != 1 {
		t.Errorf("Seq = %d", res.Seq)
	}
	if _, err := f1.Propose(ctx, StoreOffline{User: "alice@localhost", From: "b@x", Stanza: []byte("<m/>"), At: ts, Limit: 1}); !errors.Is(err, ErrOfflineFull) {
		t.Errorf("StoreOffline over the limit: %v, want ErrOfflineFull", err)
	}

	// Roster effects come back as the table computed them: the same
	// commands on a single node give the same effects.
	single := open(t, t.TempDir(), memState)
	const user = "juliet@localhost"
	set := rop(roster.OpSet, user, "romeo@example.net")
	set.Name, set.Groups, set.MaxItems = "Romeo", []string{"Friends"}, 1
	sub := subOp(roster.OpIn, roster.Subscribe, user, "nurse@example.net")
	sub.Stanza, sub.MaxPending = []byte("<presence type='subscribe'/>"), 1
	sub2 := sub
	sub2.Contact = "tybalt@example.net"
	full := set
	full.Contact = "paris@example.net"
	for _, cmd := range []Command{CreateAccount{Name: user, Created: ts}, set, sub, subOp(roster.OpOut, roster.Subscribe, user, "romeo@example.net"), sub2, full} {
		want, werr := single.Propose(ctx, cmd)
		got, gerr := f1.Propose(ctx, cmd)
		if !reflect.DeepEqual(got.Roster, want.Roster) || got.Seq != want.Seq || got.Removed != want.Removed {
			t.Errorf("%T: forwarded result %+v, single node %+v", cmd, got, want)
		}
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Errorf("%T: forwarded error %v, single node %v", cmd, gerr, werr)
		}
	}
	if _, err := f2.Propose(ctx, sub2); !errors.Is(err, ErrPendingFull) {
		t.Errorf("subscribe over the pending cap: %v, want ErrPendingFull", err)
	}
	var se *roster.SetError
	if _, err := f2.Propose(ctx, full); !errors.As(err, &se) || se.Condition != stanza.NotAcceptable {
		t.Errorf("roster set over the cap: %v, want a *roster.SetError not-acceptable", err)
	}

	res = propose(t, f2, DeleteOffline{User: "alice@localhost", UpTo: 10})
	if res.Removed != 1 {
		t.Errorf("Removed = %d", res.Removed)
	}
	c.converge(res.Index)
	c.sameState()

	// The leader learns each follower's progress from its heartbeats.
	waitFor(t, "the leader to hear from both followers", func() bool {
		known := 0
		for _, m := range leader.Status().Members {
			if m.Known && m.ID != st.ID {
				known++
			}
		}
		return known == 2
	})
	for _, m := range leader.Status().Members {
		if m.ID != st.ID && (m.LastContact <= 0 || m.LastContact > patience) {
			t.Errorf("member %s: last contact %s", m.ID, m.LastContact)
		}
	}
}

// Close the leader while 32 writers propose through the followers. Every
// proposal either failed or is applied exactly once, at the Seq it was
// acknowledged with, on every surviving node: never acknowledged then lost,
// never applied twice.
func TestClusterLeaderKilled(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.OfflineLimit = 1 << 20 })
	li, leader := c.leader()
	const user = "hot@localhost"
	c.converge(propose(t, leader, CreateAccount{Name: user, Created: ts}).Index)
	fs := c.followers(li)

	const writers, each = 32, 30
	var (
		mu       sync.Mutex
		acked    = map[string]uint64{}
		failed   = map[string]error{}
		total    atomic.Int64
		killed   atomic.Bool
		afterAck atomic.Int64
		wg       sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			via := fs[w%len(fs)]
			for i := range each {
				s := fmt.Sprintf("<m w='%d' i='%d'/>", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), patience)
				res, err := via.Propose(ctx, StoreOffline{User: user, From: "x@y", Stanza: []byte(s), At: ts})
				cancel()
				mu.Lock()
				if err != nil {
					failed[s] = err
				} else {
					acked[s] = res.Seq
					if killed.Load() {
						afterAck.Add(1)
					}
				}
				mu.Unlock()
				total.Add(1)
			}
		})
	}
	waitFor(t, "a third of the writes", func() bool { return total.Load() >= writers*each/3 })
	killed.Store(true)
	c.stop(li)
	wg.Wait()

	_, nl := c.leader()
	c.converge(propose(t, nl, CreateAccount{Name: "barrier@localhost", Created: ts}).Index)
	c.sameState()
	msgs, err := nl.Offline(user)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]uint64{}
	for _, m := range msgs {
		if _, dup := at[string(m.Stanza)]; dup {
			t.Errorf("%s applied twice", m.Stanza)
		}
		at[string(m.Stanza)] = m.Seq
	}
	for s, seq := range acked {
		if got, ok := at[s]; !ok || got != seq {
			t.Errorf("%s acknowledged with Seq %d, present: %v at %d", s, seq, ok, got)
		}
	}
	unknown := 0
	kinds := map[string]int{}
	for s, err := range failed {
		if _, ok := at[s]; ok {
			unknown++ // committed although its proposer got an error: allowed
		}
		kinds[strings.SplitN(err.Error(), ":", 3)[1]]++
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrTimeout) {
			t.Errorf("%s: unexpected error %v", s, err)
		}
	}
	if afterAck.Load() == 0 {
		t.Error("no write succeeded after the leader died")
	}
	t.Logf("%d acknowledged (%d after the kill), %d failed %v (%d of them committed anyway), %d present",
		len(acked), afterAck.Load(), len(failed), kinds, unknown, len(msgs))
}

// Partition the leader away. Its side refuses writes with ErrNoQuorum within
// a bounded time; the majority elects a new leader and takes writes; healed,
// the old leader follows and converges, and whatever it took alone is gone.
func TestClusterPartition(t *testing.T) {
	c := newCluster(t, 3)
	li, old := c.leader()
	c.converge(propose(t, old, CreateAccount{Name: "before@localhost", Created: ts}).Index)

	c.isolate(li, true)
	var minority []string
	for k := 0; ; k++ {
		name := fmt.Sprintf("minority%d@localhost", k)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		_, err := old.Propose(ctx, CreateAccount{Name: name, Created: ts})
		cancel()
		took := time.Since(start)
		if err == nil {
			t.Fatalf("the isolated leader committed %s", name)
		}
		minority = append(minority, name)
		if errors.Is(err, ErrNoQuorum) {
			if !errors.Is(err, ErrNotLeader) {
				t.Errorf("ErrNoQuorum is not an ErrNotLeader: %v", err)
			}
			if limit := old.leaderWait + 2*time.Second; took > limit {
				t.Errorf("ErrNoQuorum after %s, want within %s", took, limit)
			}
			t.Logf("minority: %v after %s", err, took)
			break
		}
		// While its lease lasts, the old leader takes the write and then
		// loses office: outcome unknown.
		if !errors.Is(err, ErrNotLeader) || k > 20 {
			t.Fatalf("isolated leader: %v (after %s)", err, took)
		}
		t.Logf("minority, during the lease: %v", err)
	}

	ni, nl := c.leader()
	t.Logf("new leader %s", nl.cfg.NodeID)
	if ni == li {
		t.Fatal("the isolated node still leads the majority")
	}
	majority := c.followers(ni)[0]
	res := propose(t, majority, CreateAccount{Name: "majority@localhost", Created: ts})
	c.converge(res.Index)

	c.isolate(li, false)
	// All three agree on a leader again (usually still nl; a stale term on
	// the old leader may force one more election).
	if ai, _ := c.leader(); ai == li {
		t.Logf("the old leader was elected again after healing")
	}
	res = propose(t, old, CreateAccount{Name: "after@localhost", Created: ts})
	c.converge(res.Index)
	c.sameState()
	for _, name := range append([]string{"before@localhost", "majority@localhost", "after@localhost"}, minority...) {
		_, err := old.Account(name)
		if want := !slices.Contains(minority, name); (err == nil) != want {
			t.Errorf("Account(%s) on the old leader: %v", name, err)
		}
	}
}

// A follower that fell behind the leader's log start catches up through
// InstallSnapshot, and ends with the leader's state.
func TestClusterSnapshotInstall(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold = 1 << 20 // only the forced snapshot
		cfg.tune = func(rc *raft.Config) {
			clusterTimings(rc)
			rc.TrailingLogs = 4
		}
	})
	li, leader := c.leader()
	const user = "lag@localhost"
	c.converge(propose(t, leader, CreateAccount{Name: user, Created: ts, Secret: []byte("v1")}).Index)

	fi := c.reachable()[0]
	if fi == li {
		fi = c.reachable()[1]
	}
	behind := c.nodes[fi].raft.LastIndex()
	c.stop(fi)

	other := c.followers(li)[0]
	for i := range 100 {
		propose(t, other, StoreOffline{User: user, From: "x@y", Stanza: fmt.Appendf(nil, "<m i='%d'/>", i), At: ts})
	}
	propose(t, leader, SetSecret{Name: user, Secret: []byte("v2")})
	propose(t, leader, DeleteOffline{User: user, UpTo: 10})
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	first, err := leader.bolt.FirstIndex()
	if err != nil || first <= behind+1 {
		t.Fatalf("leader's log starts at %d (%v); the follower stopped at %d", first, err, behind)
	}
	metas, err := leader.fsm.snaps.List()
	if err != nil || len(metas) == 0 {
		t.Fatalf("snapshots: %v, %v", metas, err)
	}

	lagging := c.start(fi)
	res := propose(t, leader, StoreOffline{User: user, From: "x@y", Stanza: []byte("<last/>"), At: ts})
	c.converge(res.Index)
	if got := lagging.fsm.floor.Load(); got < metas[0].Index {
		t.Errorf("no snapshot installed: floor %d, leader's snapshot at %d", got, metas[0].Index)
	}
	c.sameState()
	msgs, err := lagging.Offline(user)
	if err != nil || len(msgs) != 91 || msgs[0].Seq != 11 || msgs[90].Seq != 101 {
		t.Errorf("lagging follower: %d messages, %v", len(msgs), err)
	}
	if a, _ := lagging.Account(user); string(a.Secret) != "v2" {
		t.Errorf("lagging follower's account: %+v", a)
	}
}

// Remove a member (through another follower), then bring it back with its
// data; leadership moves on request.
func TestClusterRemoveAndRejoin(t *testing.T) {
	c := newCluster(t, 3)
	li, leader := c.leader()
	ctx := ctxPatience(t)
	fs := c.followers(li)
	gone, asker := fs[0], fs[1]
	gi := slices.Index(c.nodes, gone)

	if err := asker.Remove(ctx, gone.cfg.NodeID); err != nil {
		t.Fatal(err)
	}
	if err := asker.Remove(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(nobody) = %v, want ErrNotFound", err)
	}
	if got := len(leader.Status().Members); got != 2 {
		t.Errorf("%d members after the removal", got)
	}
	// The removed node learns it is out and stays idle: no leader, no
	// election, writes refused.
	waitFor(t, "the removed node to lose its leader", func() bool {
		st := gone.Status()
		return st.LeaderID == "" && !slices.ContainsFunc(st.Members, func(m Member) bool { return m.ID == st.ID })
	})
	if _, err := gone.Propose(ctx, CreateAccount{Name: "x@localhost"}); !errors.Is(err, ErrNoQuorum) {
		t.Errorf("Propose on a removed node = %v, want ErrNoQuorum", err)
	}
	c.stop(gi)
	res := propose(t, asker, CreateAccount{Name: "two@localhost", Created: ts})
	c.converge(res.Index)

	back := c.start(gi) // Config.Join asks to be added again
	waitFor(t, "three members", func() bool { return len(leader.Status().Members) == 3 })
	res = propose(t, back, CreateAccount{Name: "three@localhost", Created: ts})
	c.converge(res.Index)
	c.sameState()
	if _, err := back.Account("two@localhost"); err != nil {
		t.Errorf("the rejoined node misses a write made while it was out: %v", err)
	}

	// Joining again is a no-op.
	if err := back.Join(ctx, back.cfg.NodeID, back.net.Addr()); err != nil {
		t.Errorf("Join of a member: %v", err)
	}
	// Stepdown through a follower moves the leadership.
	if err := back.Stepdown(ctx); err != nil {
		t.Fatal(err)
	}
	if ni, _ := c.leader(); ni == li {
		t.Error("the leader did not change")
	}
	propose(t, back, CreateAccount{Name: "four@localhost", Created: ts})
}

// A node that does not know the secret cannot join, and a connection that
// fails the handshake is closed before anything reaches Raft or the
// forwarding server.
func TestClusterWrongSecret(t *testing.T) {
	c := newCluster(t, 1)
	_, leader := c.leader()
	addr := leader.net.Addr()
	before := leader.AppliedIndex()
	raftConns := leader.net.RaftAccepted()

	start := time.Now()
	_, err := Open(Config{
		Dir: t.TempDir(), NodeID: "intruder", ClusterAddr: "127.0.0.1:0",
		Secret: []byte("not-the-cluster-secret"), Join: []string{addr},
		Logger: clusterLog(t, "intruder"), LeaderTimeout: patience, tune: clusterTimings,
	})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Open with a wrong secret = %v, want ErrAuth", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("refusal took %s", took)
	}

	// A dialer that skips the check and sends a wrong MAC, then a Raft RPC
	// or a forwarded command, is cut off.
	for _, ch := range []byte{mux.ChanRaft, mux.ChanForward} {
		conn := rawDial(t, addr, ch, []byte("wrong-secret-wrong-secret"))
		payload := []byte{0} // rpcAppendEntries
		if ch == mux.ChanForward {
			payload = reqFrame(1, request{op: opPropose, cmd: Encode(CreateAccount{Name: "evil@localhost", Created: ts})})
		}
		conn.Write(payload)
		conn.SetReadDeadline(time.Now().Add(patience))
		if n, err := conn.Read(make([]byte, 64)); err == nil {
			t.Errorf("channel %c: read %d bytes after a wrong MAC", ch, n)
		}
		conn.Close()
	}
	if got := leader.net.RaftAccepted(); got != raftConns {
		t.Errorf("Raft accepted %d unauthenticated connections", got-raftConns)
	}
	if got := leader.net.AuthFailures(); got < 2 {
		t.Errorf("%d authentication failures counted, want at least 2", got)
	}
	if _, err := leader.Account("evil@localhost"); !errors.Is(err, ErrNotFound) || leader.AppliedIndex() != before {
		t.Errorf("an unauthenticated command was applied (%v, applied %d -> %d)", err, before, leader.AppliedIndex())
	}
	if st := leader.Status(); len(st.Members) != 1 {
		t.Errorf("members: %+v", st.Members)
	}
}

func TestClusterConfig(t *testing.T) {
	base := func() Config {
		return Config{Dir: t.TempDir(), NodeID: "n1", ClusterAddr: "127.0.0.1:0", Secret: testSecret, Bootstrap: true}
	}
	for name, mod := range map[string]func(*Config){
		"short secret":        func(c *Config) { c.Secret = []byte("short") },
		"no node ID":          func(c *Config) { c.NodeID = "" },
		"bootstrap and join":  func(c *Config) { c.Join = []string{"127.0.0.1:1"} },
		"transport too":       func(c *Config) { _, c.Transport = raft.NewInmemTransport("x") },
		"join without a port": func(c *Config) { c.ClusterAddr, c.Bootstrap, c.Join = "", false, []string{"127.0.0.1:1"} },
		"bad join address":    func(c *Config) { c.Bootstrap, c.Join = false, []string{"nohost"} },
		"wildcard":            func(c *Config) { c.ClusterAddr = "0.0.0.0:0" },
		"bad advertise":       func(c *Config) { c.AdvertiseAddr = "no-port" },
	} {
		cfg := base()
		mod(&cfg)
		if n, err := Open(cfg); err == nil {
			n.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
	// A wildcard bind with an advertised address is fine.
	cfg := base()
	cfg.ClusterAddr, cfg.AdvertiseAddr = "0.0.0.0:0", "127.0.0.1:1"
	cfg.Logger = clusterLog(t, "n1")
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := n.Status(); st.Addr != "127.0.0.1:1" || st.Members[0].Addr != "127.0.0.1:1" {
		t.Errorf("status %+v", st)
	}
	n.Close()
}

func TestWaitApplied(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	res := propose(t, n, CreateAccount{Name: "a@b", Created: ts})
	if err := n.WaitApplied(context.Background(), res.Index); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.WaitApplied(ctx, res.Index+1000); !errors.Is(err, ErrTimeout) {
		t.Errorf("WaitApplied of a future index = %v, want ErrTimeout", err)
	}
	done := make(chan error, 1)
	go func() { done <- n.WaitApplied(context.Background(), res.Index+1) }()
	propose(t, n, CreateAccount{Name: "c@d", Created: ts})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Status works for a single node too.
	if st := n.Status(); st.State != raft.Leader.String() || len(st.Members) != 1 || st.AppliedIndex < res.Index+1 {
		t.Errorf("status %+v", st)
	}
}
