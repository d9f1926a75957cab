package consensus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A keyed command applied twice changes the state once; the repeat answers
// with the first outcome, index included. A key that fell out of the window
// is refused as of unknown outcome.
func TestKeyedAppliedOnce(t *testing.T) {
	db, f := memFSM(t)
	store := StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<m/>"), At: ts}
	out := f.ApplyBatch([]*raft.Log{
		logEntry(1, CreateAccount{Name: "a@x", Created: ts}),
		logEntry(2, Keyed{Origin: "n2", Seq: 10, Cmd: store}),
		logEntry(3, Keyed{Origin: "n2", Seq: 10, Cmd: store}),
		logEntry(4, Keyed{Origin: "n2", Seq: 11, Cmd: CreateAccount{Name: "a@x"}}),
		logEntry(5, Keyed{Origin: "n2", Seq: 11, Cmd: CreateAccount{Name: "a@x"}}),
	})
	first, again := out[1].(response), out[2].(response)
	if first.err != nil || again.err != nil || first.res.Seq != 1 || again.res != first.res || again.res.Index != 2 {
		t.Fatalf("keyed store then its repeat: %+v / %+v", first, again)
	}
	if r := out[4].(response); !errors.Is(r.err, ErrExists) || r.res.Index != 4 {
		t.Errorf("repeat of a keyed domain error: %+v, want ErrExists at index 4", r)
	}
	n := &Node{db: db, fsm: f, done: make(chan struct{})}
	if msgs, err := n.Offline("a@x"); err != nil || len(msgs) != 1 {
		t.Fatalf("offline messages after a repeated keyed store: %d, %v", len(msgs), err)
	}
	// Push the window past seq 10: its outcome is forgotten, and a repeat
	// now says so instead of applying it again.
	r := f.ApplyBatch([]*raft.Log{logEntry(6, Keyed{Origin: "n2", Seq: 10 + keyedWindow, Cmd: DeleteOffline{User: "a@x"}})})[0].(response)
	if r.err != nil {
		t.Fatal(r.err)
	}
	r = f.ApplyBatch([]*raft.Log{logEntry(7, Keyed{Origin: "n2", Seq: 10, Cmd: store})})[0].(response)
	if !errors.Is(r.err, ErrKeyExpired) || !errors.Is(r.err, ErrOutcomeUnknown) {
		t.Errorf("a key older than the window: %v, want ErrKeyExpired (outcome unknown)", r.err)
	}
	if got := f.keyedExpired.Load(); got != 1 {
		t.Errorf("keyed_expired counts %d, want 1", got)
	}
	if _, ok, _ := get(db, keyedKey("n2", 10)); ok {
		t.Error("the outcome of seq 10 is still kept past the window")
	}
	// Seqs in line drop one outcome each.
	r = f.ApplyBatch([]*raft.Log{logEntry(8, Keyed{Origin: "n2", Seq: 11 + keyedWindow, Cmd: DeleteOffline{User: "a@x"}})})[0].(response)
	if _, ok, _ := get(db, keyedKey("n2", 11)); ok || r.err != nil {
		t.Errorf("the outcome of seq 11 is still kept past the window (%v)", r.err)
	}
	// Another origin has its own window.
	if r := f.ApplyBatch([]*raft.Log{logEntry(9, Keyed{Origin: "n3", Seq: 10, Cmd: store})})[0].(response); r.err != nil || r.res.Seq != 2 {
		t.Errorf("same seq, other origin: %+v", r)
	}
}

// keyedCluster starts three nodes whose forwarding servers run hold and
// dropAnswer, and creates the account the writes go to. It returns the
// cluster, the leader and a follower.
func keyedCluster(t *testing.T, hold func(byte), drop func(byte) bool) (*tcluster, *Node, *Node) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.hold, cfg.dropAnswer = hold, drop })
	lead, ln := c.leader()
	res := propose(t, ln, CreateAccount{Name: "a@x", Created: ts})
	c.converge(res.Index)
	return c, ln, c.followers(lead)[0]
}

// TestForwardedWriteDeadline: a write forwarded to a leader that reads it
// only after the proposer's deadline (held up as in a partition) fails with
// ErrOutcomeUnknown on the follower, which could not know better, and is
// then refused by the leader, so it is never applied: a client that retries
// does not get a duplicate.
func TestForwardedWriteDeadline(t *testing.T) {
	release := make(chan struct{})
	var armed atomic.Bool
	var held atomic.Int32
	hold := func(op byte) {
		if op == opPropose && armed.Load() && held.Add(1) == 1 {
			<-release
		}
	}
	c, ln, f := keyedCluster(t, hold, nil)
	armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := f.Propose(ctx, StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<m/>"), At: ts})
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotApplied) {
		t.Fatalf("Propose through a held-up leader: %v, want ErrOutcomeUnknown only", err)
	}
	close(release)
	// The leader has now read the request, past its deadline. A write
	// after it orders the check: once it is applied everywhere, the held
	// one would be too.
	waitFor(t, "the held request to be handled", func() bool { return held.Load() >= 1 })
	res := propose(t, f, StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<after/>"), At: ts})
	c.converge(res.Index)
	for _, n := range []*Node{ln, f} {
		msgs, err := n.Offline("a@x")
		if err != nil || len(msgs) != 1 || string(msgs[0].Stanza) != "<after/>" {
			t.Errorf("%s: offline messages %+v, %v; want only <after/>", n.cfg.NodeID, msgs, err)
		}
	}
	c.sameState()
}

// TestForwardedWriteResent: the leader applies a forwarded write but its
// answer is lost with the connection. The follower sends it again under
// the same key, the leader's state machine recognises it, and the caller
// gets the first outcome: success, applied once.
func TestForwardedWriteResent(t *testing.T) {
	var armed atomic.Bool
	var served atomic.Int32
	drop := func(op byte) bool { return op == opPropose && armed.Load() && served.Add(1) == 1 }
	c, ln, f := keyedCluster(t, nil, drop)
	armed.Store(true)
	res, err := f.Propose(ctxPatience(t), StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<m/>"), At: ts})
	if err != nil || res.Seq != 1 {
		t.Fatalf("Propose whose first answer was lost: %+v, %v; want Seq 1", res, err)
	}
	if got := served.Load(); got != 2 {
		t.Errorf("the leader served the write %d times, want 2 (the original and one resend)", got)
	}
	c.converge(res.Index)
	for _, n := range []*Node{ln, f} {
		if msgs, _ := n.Offline("a@x"); len(msgs) != 1 {
			t.Errorf("%s holds %d offline messages, want 1", n.cfg.NodeID, len(msgs))
		}
	}
	c.sameState()
}

// TestForwardedWriteNotApplied: a follower cut off from the others says
// that its write was not applied, and after healing it never is.
func TestForwardedWriteNotApplied(t *testing.T) {
	c, ln, f := keyedCluster(t, nil, nil)
	fi := 0
	for i, n := range c.nodes {
		if n == f {
			fi = i
		}
	}
	c.isolate(fi, true)
	_, err := f.Propose(ctxPatience(t), StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<m/>"), At: ts})
	if !errors.Is(err, ErrNotApplied) || errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("Propose from an isolated follower: %v, want ErrNoQuorum, not applied", err)
	}
	c.isolate(fi, false)
	res := propose(t, ln, CreateAccount{Name: "b@x", Created: ts})
	c.converge(res.Index)
	if msgs, _ := f.Offline("a@x"); len(msgs) != 0 {
		t.Errorf("a write reported not applied was applied: %d messages", len(msgs))
	}
	c.sameState()
}

// A keyed command nested in another is refused at decoding, so that no
// input makes Decode recurse.
func TestKeyedNotNested(t *testing.T) {
	inner := Encode(Keyed{Origin: "n1", Seq: 1, Cmd: DeleteAccount{Name: "a@b"}})
	outer := encodeKeyed("n1", 2, inner)
	if _, err := Decode(outer); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Decode(keyed in keyed) = %v, want ErrCorrupt", err)
	}
	if err := (Keyed{Origin: "n1", Seq: 2, Cmd: Keyed{Origin: "n1", Seq: 1, Cmd: DeleteAccount{Name: "a@b"}}}).validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("validate(keyed in keyed) = %v, want ErrInvalid", err)
	}
}

// TestForwardedWriteResentMemberDown: with a member down (it stated its
// level before), writes stay keyed and quick: a write whose answer is lost
// is still sent again and applied once.
func TestForwardedWriteResentMemberDown(t *testing.T) {
	var armed atomic.Bool
	drop := func(op byte) bool { return op == opPropose && armed.CompareAndSwap(true, false) }
	c, ln, f := keyedCluster(t, nil, drop)
	propose(t, f, StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<1/>"), At: ts})
	for i, n := range c.nodes {
		if n != ln && n != f {
			c.stop(i)
		}
	}
	armed.Store(true)
	start := time.Now()
	res, err := f.Propose(ctxPatience(t), StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<2/>"), At: ts})
	if err != nil || res.Seq != 2 {
		t.Fatalf("Propose with a member down and the answer lost: %+v, %v; want Seq 2", res, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the write took %s with a member down", took)
	}
	if armed.Load() {
		t.Error("the answer was never dropped")
	}
	for _, n := range []*Node{ln, f} {
		if msgs, _ := n.Offline("a@x"); len(msgs) != 2 {
			t.Errorf("%s holds %d offline messages, want 2", n.cfg.NodeID, len(msgs))
		}
	}
}
