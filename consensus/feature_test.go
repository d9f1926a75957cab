package consensus

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
)

// Test-only commands, registered past every released number: futureOp
// stands for a command a newer release adds, panicOp for an apply with a
// bug that writes and then panics.
const (
	typeFutureOp = testTypeBase + 1
	typePanicOp  = testTypeBase + 2
)

var _ = register(
	row{typeFutureOp, "test-future-op", func(d *decoder) Command { return futureOp{Name: d.string()} }},
	row{typePanicOp, "test-panic-op", func(d *decoder) Command { return panicOp{Name: d.string()} }},
)

// futureOp creates the account Name, as CreateAccount would.
type futureOp struct{ Name string }

func (futureOp) Type() CommandType        { return typeFutureOp }
func (c futureOp) validate() error        { return validName(c.Name) }
func (c futureOp) encode(b []byte) []byte { return appendString(b, c.Name) }
func (c futureOp) apply(t *tx) (Result, error) {
	return CreateAccount{Name: c.Name, Created: ts}.apply(t)
}
func (panicOp) Type() CommandType        { return typePanicOp }
func (c panicOp) validate() error        { return validName(c.Name) }
func (c panicOp) encode(b []byte) []byte { return appendString(b, c.Name) }

// panicOp writes the account Name and its offline counter, then panics.
type panicOp struct{ Name string }

func (c panicOp) apply(t *tx) (Result, error) {
	if _, err := (CreateAccount{Name: c.Name, Created: ts}).apply(t); err != nil {
		return Result{}, err
	}
	if err := t.b.Set(counterKey(c.Name), offlineCounter{last: 7}.encode(), nil); err != nil {
		return Result{}, err
	}
	panic("test: apply bug after a partial write")
}

// releasedLevel is the level of this release without the test rows: what a
// node built from the same source but without the test commands knows.
func releasedLevel() CommandType {
	var l CommandType
	for _, t := range Types() {
		if t < testTypeBase {
			l = max(l, t)
		}
	}
	return l
}

// memFSM returns a state machine over a new in-memory store, closed at the
// end of the test.
func memFSM(t *testing.T) (*pebble.DB, *fsm) {
	db, _, err := openState(filepath.Join(t.TempDir(), "state"), vfs.NewMem(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, &fsm{db: db, log: testLog(t)}
}

func logEntry(index uint64, c Command) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: Encode(c)}
}

// TestApplyPanicLeavesNoPartialWrite: a command whose apply writes and then
// panics, in the middle of a batch, leaves nothing of its writes; the
// commands before and after it in the batch are applied and the applied
// index covers the whole batch.
func TestApplyPanicLeavesNoPartialWrite(t *testing.T) {
	db, f := memFSM(t)
	out := f.ApplyBatch([]*raft.Log{
		logEntry(1, CreateAccount{Name: "a@x", Created: ts}),
		logEntry(2, StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<m/>"), At: ts}),
		logEntry(3, panicOp{Name: "p@x"}),
		logEntry(4, CreateAccount{Name: "c@x", Created: ts}),
		logEntry(5, StoreOffline{User: "a@x", From: "b@x", Stanza: []byte("<m/>"), At: ts}),
	})
	if r := out[2].(response); r.err == nil || !strings.Contains(r.err.Error(), "panicked") {
		t.Fatalf("panicking entry answered %+v, want a panic error", r)
	}
	for _, i := range []int{0, 1, 3, 4} {
		if r := out[i].(response); r.err != nil {
			t.Fatalf("entry %d: %v", i+1, r.err)
		}
	}
	if seq := out[4].(response).res.Seq; seq != 2 {
		t.Errorf("second offline message got Seq %d, want 2 (the first must survive the rebuild)", seq)
	}
	if _, ok, _ := get(db, accountKey("p@x")); ok {
		t.Error("the panicking command's account write is in the store")
	}
	if _, ok, _ := get(db, counterKey("p@x")); ok {
		t.Error("the panicking command's counter write is in the store")
	}
	for _, name := range []string{"a@x", "c@x"} {
		if _, ok, _ := get(db, accountKey(name)); !ok {
			t.Errorf("account %s missing", name)
		}
	}
	if idx, _, _ := getUint64(db, appliedKey); idx != 5 || f.applied.Load() != 5 {
		t.Errorf("applied index %d (stored) / %d, want 5", idx, f.applied.Load())
	}
	// The state machine goes on: the panic was one entry's outcome.
	if r := f.ApplyBatch([]*raft.Log{logEntry(6, CreateAccount{Name: "p@x", Created: ts})})[0].(response); r.err != nil {
		t.Fatalf("after the panic: %v", r.err)
	}
}

// TestApplyPanicThroughPropose: the proposer of a panicking command gets the
// error, the store has none of its writes, and the applied index includes it.
func TestApplyPanicThroughPropose(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	_, err := n.Propose(ctxPatience(t), panicOp{Name: "p@x"})
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Propose(panicOp) = %v, want the panic as an error", err)
	}
	if _, err := n.Account("p@x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Account after the panic: %v, want ErrNotFound", err)
	}
	if n.AppliedIndex() != n.raft.LastIndex() {
		t.Errorf("FSM applied index %d, the panicking entry is at %d", n.AppliedIndex(), n.raft.LastIndex())
	}
	res := propose(t, n, CreateAccount{Name: "p@x", Created: ts})
	if res.Index != n.AppliedIndex() {
		t.Errorf("index %d after the panic, applied %d", res.Index, n.AppliedIndex())
	}
}

// TestUnknownCommandHalts: a node that meets a command type above its level
// in its log stops applying there, loudly, instead of skipping it; a restart
// with a binary that knows the type applies it and what followed.
func TestUnknownCommandHalts(t *testing.T) {
	dir := t.TempDir()
	old := releasedLevel()
	n, err := Open(Config{Dir: dir, Logger: testLog(t), level: old})
	if err != nil {
		t.Fatal(err)
	}
	propose(t, n, CreateAccount{Name: "a@x", Created: ts})
	before := n.AppliedIndex()
	// A newer leader would have proposed it; this node meets it in its log.
	f := n.raft.Apply(Encode(futureOp{Name: "f@x"}), patience)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if r := f.Response().(response); !errors.Is(r.err, ErrUnknownCommand) {
		t.Fatalf("unknown command answered %v, want ErrUnknownCommand", r.err)
	}
	if n.AppliedIndex() != before {
		t.Errorf("applied index moved from %d to %d past an unknown command", before, n.AppliedIndex())
	}
	if s := n.Stats()["fsm_error"]; !strings.Contains(s, "unknown command") {
		t.Errorf("Stats fsm_error = %q, want the halt", s)
	}
	// Halted: later commands are not applied either (no skip, no divergence).
	if _, err := n.Propose(ctxPatience(t), CreateAccount{Name: "b@x", Created: ts}); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("Propose after the halt: %v, want ErrUnknownCommand", err)
	}
	if _, err := n.Account("b@x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("b@x applied past the halt: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// The upgraded binary replays from the unknown entry.
	n = open(t, dir)
	for _, name := range []string{"a@x", "f@x", "b@x"} {
		if _, err := n.Account(name); err != nil {
			t.Errorf("after the upgrade, %s: %v", name, err)
		}
	}
	if _, ok := n.Stats()["fsm_error"]; ok {
		t.Errorf("still halted after the upgrade: %v", n.Stats()["fsm_error"])
	}
}

// TestUnknownCommandRefused: while one member runs an older release, the
// leader refuses a command type that member does not know, before
// proposing, with ErrUnsupported naming it, whether proposed on the leader
// or forwarded; once the member is upgraded the command goes through.
func TestUnknownCommandRefused(t *testing.T) {
	old := releasedLevel()
	c := newCluster(t, 3, func(cfg *Config) {
		if cfg.NodeID == "n3" {
			cfg.level = old
		}
	})
	lead, ln := c.leader()
	if c.cfgs[lead].NodeID == "n3" {
		if err := ln.Stepdown(ctxPatience(t)); err != nil {
			t.Fatal(err)
		}
		lead, ln = c.leader()
	}

	var follower *Node
	for _, f := range c.followers(lead) {
		if f.cfg.NodeID != "n3" {
			follower = f
		}
	}
	for _, n := range []*Node{ln, follower, c.nodes[2]} {
		_, err := n.Propose(ctxPatience(t), futureOp{Name: "f@x"})
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Propose on %s while n3 is old: %v, want ErrUnsupported", n.cfg.NodeID, err)
		}
		if n != c.nodes[2] && !strings.Contains(err.Error(), "n3") {
			t.Errorf("the error does not name the old member: %v", err)
		}
	}

	// Released types are not checked: the old member takes part as before.
	res := propose(t, follower, CreateAccount{Name: "a@x", Created: ts})
	c.converge(res.Index)
	for _, n := range c.nodes {
		if _, err := n.Account("f@x"); !errors.Is(err, ErrNotFound) || n.Stats()["fsm_error"] != "" {
			t.Errorf("%s: a refused command was applied (%v) or halted a node (%s)", n.cfg.NodeID, err, n.Stats()["fsm_error"])
		}
	}

	// Upgrade n3: restart it knowing every type.
	c.stop(2)
	c.cfgs[2].level = 0
	c.start(2)
	c.leader()
	// The leader asks a member that stated too low a level again after
	// levelRetry.
	waitFor(t, "the upgraded member's level to be learned", func() bool {
		r, err := follower.Propose(ctxPatience(t), futureOp{Name: "f@x"})
		if errors.Is(err, ErrUnsupported) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		res = r
		return true
	})
	c.converge(res.Index)
	c.sameState()
	if _, err := c.nodes[2].Account("f@x"); err != nil {
		t.Errorf("n3 after the upgrade: %v", err)
	}
}

// The level question travels as a request without a body and is answered
// with the level in the result.
func TestLevelRequestWire(t *testing.T) {
	frame := reqFrame(3, request{op: opLevel})
	id, req, err := splitReq(frame[4:])
	if err != nil || id != 3 || req.op != opLevel || req.String() != "level" {
		t.Fatalf("decode level request: %d %+v %v", id, req, err)
	}
	_, _, rerr, err := splitResp(respFrame(1, Result{}, ErrUnsupported)[4:])
	if err != nil || !errors.Is(rerr, ErrUnsupported) {
		t.Errorf("ErrUnsupported across the wire: %v %v", rerr, err)
	}
	if binary.BigEndian.Uint16(Encode(futureOp{Name: "f@x"})[1:3]) != uint16(typeFutureOp) {
		t.Error("futureOp encodes another type")
	}
}
