package consensus

import (
	"errors"
	"fmt"
	"github.com/heraldxmpp/herald/roster"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// fsm is the Raft state machine over Pebble. Raft calls Apply, ApplyBatch,
// Snapshot and Restore from one goroutine; the reads in read.go go to Pebble
// directly and concurrently.
type fsm struct {
	db  *pebble.DB
	log *slog.Logger

	// applied mirrors the applied key: the index of the last log entry whose
	// effects are in Pebble. Entries at or below it are skipped on replay.
	applied atomic.Uint64
	// floor is the index of a Raft snapshot the state is known to hold: the
	// newest in the store at Open, or the one Restore loaded. Restore cannot
	// tell Raft's index to the skip logic above (see Restore), but for
	// WaitApplied the state covers max(applied, floor).
	floor atomic.Uint64
	snaps raft.SnapshotStore // Raft's snapshot store, for Restore's floor; nil in tests

	// levelCap, when not zero, makes the FSM refuse command types above it
	// as unknown, as a binary of that level would (tests of rolling
	// upgrades); zero means every type of the catalogue.
	levelCap CommandType

	// keyedExpired counts keyed commands refused because their key had
	// left the window of kept outcomes (keyed.go).
	keyedExpired atomic.Uint64

	mu     sync.Mutex
	broken error         // set when Pebble refused a write; the FSM then applies nothing
	wait   chan struct{} // closed when appliedIndex moves; nil until someone waits
}

// appliedIndex is the index up to which the state reflects the log.
func (f *fsm) appliedIndex() uint64 { return max(f.applied.Load(), f.floor.Load()) }

// watch returns a channel closed when appliedIndex next moves.
func (f *fsm) watch() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wait == nil {
		f.wait = make(chan struct{})
	}
	return f.wait
}

func (f *fsm) notify() {
	f.mu.Lock()
	if f.wait != nil {
		close(f.wait)
		f.wait = nil
	}
	f.mu.Unlock()
}

var _ raft.BatchingFSM = (*fsm)(nil)

// response is what the FSM hands back through ApplyFuture.Response.
type response struct {
	res Result
	err error
}

// Apply applies one committed entry.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries as one Pebble batch that also records
// the last applied index, so the state and the index move together: after a
// crash either the whole batch is in Pebble or Raft replays the whole batch.
//
// Entries at or below the applied index are already in Pebble (Pebble outlives
// the process and Raft replays its log from the last snapshot on start) and
// are skipped, which makes replay idempotent. Configuration entries only
// advance the index.
//
// A command that cannot be decoded, or fails validation, gets an error
// response and changes nothing; it is logged, not fatal: every replica decides
// the same way, so the replicas stay identical. A command whose apply panics
// or fails with an error other than a domain error is answered with the error
// and leaves nothing in the batch (applyAll rebuilds it without the entry).
//
// A command type this binary does not know (written by a newer one) stops the
// state machine at that entry: the entries before it are applied, it and
// everything after are answered with ErrUnknownCommand, and the applied index
// stays below it, so a restart with a binary that knows the type applies it.
// Skipping it would let this replica diverge from those that applied it.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken != nil {
		for i := range out {
			out[i] = response{err: broken}
		}
		return out
	}

	applied := f.applied.Load()
	b, last, halt := f.applyAll(logs, applied, out)
	defer b.Close()
	if halt != nil {
		f.log.Error("consensus: state machine halted on a command this binary does not know; "+
			"upgrade this node to a release that knows it and restart", "err", halt)
	}
	err := error(nil)
	if last > applied {
		// NoSync: the Raft log (fsync'd per commit) is the durable record; a
		// crash loses at most a tail of this state, which Raft replays. See
		// Snapshot.
		err = b.Set(appliedKey, be64(last), nil)
		if err == nil {
			err = b.Commit(pebble.NoSync)
		}
		if err == nil {
			f.applied.Store(last)
			f.notify()
		}
	}
	if err == nil && halt == nil {
		return out
	}
	if err != nil {
		halt = fmt.Errorf("consensus: pebble write at index %d: %w", last, err)
		f.log.Error("consensus: state machine stopped; restart to replay the log", "err", halt)
		for i := range out {
			out[i] = response{err: halt}
		}
	}
	f.mu.Lock()
	f.broken = halt
	f.mu.Unlock()
	return out
}

// applyAll applies the entries of logs after index applied into a new
// indexed batch, filling out, and returns the batch, the index of the last
// entry it covers, and, if it stopped at a command type this binary does not
// know, why.
//
// An entry that panicked or failed with a non-domain error may have written
// part of its effect; the batch is then rebuilt from the entries applied
// before it (applying is deterministic, so they decide again as they did),
// which leaves that entry without a trace.
func (f *fsm) applyAll(logs []*raft.Log, applied uint64, out []any) (b *pebble.Batch, last uint64, halt error) {
	b = f.db.NewIndexedBatch()
	last = applied
	kept := make([]int, 0, len(logs)) // entries whose effects are in b
	for i, l := range logs {
		if l.Index <= applied {
			out[i] = response{err: fmt.Errorf("consensus: log index %d already applied", l.Index)}
			continue
		}
		if l.Type != raft.LogCommand {
			last = l.Index
			continue
		}
		c, err := f.decode(l)
		if errors.Is(err, ErrUnknownCommand) {
			halt = fmt.Errorf("consensus: log index %d: %w", l.Index, err)
			for j := i; j < len(logs); j++ {
				out[j] = response{err: halt}
			}
			return b, last, halt
		}
		last = l.Index
		if err != nil {
			out[i] = response{err: err}
			continue
		}
		resp, clean := f.applyOne(&tx{b: b, index: l.Index}, l.Index, c)
		out[i] = resp
		if clean {
			kept = append(kept, i)
			continue
		}
		b.Close()
		b = f.db.NewIndexedBatch()
		for _, j := range kept {
			c, _ := f.decode(logs[j])
			f.applyOne(&tx{b: b, index: logs[j].Index}, logs[j].Index, c)
		}
	}
	return b, last, nil
}

// decode decodes and validates one entry's command. A command type this
// binary does not know is ErrUnknownCommand.
func (f *fsm) decode(l *raft.Log) (Command, error) {
	c, err := Decode(l.Data)
	if err == nil && !f.knows(c.Type()) {
		err = fmt.Errorf("%w: %s (%d) is above this node's level %d", ErrUnknownCommand, c.Type(), c.Type(), f.levelCap)
	}
	if err == nil {
		err = c.validate()
	}
	if err != nil && !errors.Is(err, ErrUnknownCommand) {
		f.log.Error("consensus: rejected log entry", "index", l.Index, "err", err)
		err = fmt.Errorf("log index %d: %w", l.Index, err)
	}
	return c, err
}

// knows reports whether this node applies command type t.
func (f *fsm) knows(t CommandType) bool {
	return f.levelCap == 0 || t <= f.levelCap
}

// applyOne applies one decoded command into t. clean is false when the
// command may have written part of its effect before failing (a panic, or an
// error that is not a domain outcome): the caller must drop those writes.
func (f *fsm) applyOne(t *tx, index uint64, c Command) (resp response, clean bool) {
	defer func() {
		// A panic here is a bug, but it is deterministic: every replica hits
		// it on the same entry, so answering with an error (and dropping
		// what the command wrote) keeps them equal.
		if p := recover(); p != nil {
			resp = response{err: fmt.Errorf("consensus: apply index %d panicked: %v", index, p)}
			clean = false
			f.log.Error("consensus: apply panicked", "index", index, "command", c.Type(), "panic", p)
		}
	}()
	res, err := c.apply(t)
	if res.Index == 0 {
		res.Index = index // a repeated Keyed keeps its first index
	}
	if err != nil && !isDomain(err) {
		f.log.Error("consensus: apply failed", "index", index, "command", c.Type(), "err", err)
		return response{err: err}, false
	}
	if errors.Is(err, ErrKeyExpired) {
		f.keyedExpired.Add(1)
	}
	return response{res: res, err: err}, true
}

func isDomain(err error) bool {
	var se *roster.SetError
	return errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrOfflineFull) ||
		errors.Is(err, ErrPendingFull) || errors.Is(err, ErrBlocklistFull) || errors.Is(err, ErrKeyExpired) ||
		errors.As(err, &se)
}

// Snapshot makes Pebble's WAL durable and captures a Pebble snapshot.
//
// The sync is what makes NoSync commits safe: Raft compacts its log only up to
// a snapshot, and every entry in that snapshot is now on disk in Pebble, so no
// entry whose effect Pebble might lose in a crash is ever dropped from the log.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken != nil {
		return nil, broken
	}
	if err := f.db.LogData(nil, pebble.Sync); err != nil {
		return nil, fmt.Errorf("consensus: sync pebble for snapshot: %w", err)
	}
	return &fsmSnapshot{snap: f.db.NewSnapshot(), log: f.log}, nil
}

// Restore replaces the whole state with a snapshot stream (see snapshot.go).
// Raft calls it on a follower that fell behind the leader's log.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	// Raft does not say which log index the snapshot covers; zero is safe
	// (see restoreInto) and the next applied batch moves it on.
	if err := restoreInto(f.db, rc, 0); err != nil {
		// The state is now partial: apply nothing until a restore succeeds
		// (Raft retries it; a restart redoes it from the marker).
		err = fmt.Errorf("consensus: snapshot restore: %w", err)
		f.log.Error("consensus: snapshot restore failed", "err", err)
		f.mu.Lock()
		f.broken = err
		f.mu.Unlock()
		return err
	}
	f.applied.Store(0)
	// Raft has just written the snapshot it restores into its store (for
	// InstallSnapshot and for a user restore alike), so it is the newest one
	// there. The state now holds everything up to its index.
	if f.snaps != nil {
		if metas, err := f.snaps.List(); err == nil && len(metas) > 0 {
			f.floor.Store(metas[0].Index)
		}
	}
	f.mu.Lock()
	f.broken = nil
	f.mu.Unlock()
	f.notify()
	return nil
}

// fsmSnapshot streams a Pebble snapshot to Raft's snapshot sink. Persist runs
// concurrently with Apply; the Pebble snapshot keeps its view fixed.
type fsmSnapshot struct {
	snap *pebble.Snapshot
	log  *slog.Logger
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeStream(sink, s.snap); err != nil {
		s.log.Error("consensus: persist snapshot", "id", sink.ID(), "err", err)
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { _ = s.snap.Close() }
