package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Catching up. Open returns as soon as a leader is known, so a follower
// that was down may still be replaying the log, or waiting for entries the
// leader has yet to send it: its state is behind, and a read there (an
// account's credentials, a roster) may miss a write the cluster
// acknowledged long ago. At every start the node presents its identity to
// the cluster (a NodeIdentity claim, identity.go) through Propose, which
// returns once this node has applied the claim's entry: everything
// committed before the node started is then in its state. Until then
// CaughtUp is false, and callers serving reads that matter (logins, roster
// gets) answer with a temporary error instead of from stale state.
//
// Without a quorum the claim cannot commit, so a node that starts while the
// cluster has no majority stays behind until the majority is back; nodes
// that caught up earlier keep serving reads.

// catchup is the progress of the start-up claim.
type catchup struct {
	start time.Time
	done  chan struct{} // closed when the claim is applied, or failed for good

	mu    sync.Mutex
	err   error         // why it failed for good (ErrIdentity, ErrClosed)
	took  time.Duration // from Open to caught up
	index uint64        // the claim's log index
}

// startCatchUp begins presenting the identity once Raft runs. A leader
// (a single node, a bootstrapped one) has everything already: its claim
// commits at once, and Open waits for it, so that a single node is caught
// up when Open returns.
func (n *Node) startCatchUp(start time.Time) {
	n.cu = &catchup{start: start, done: make(chan struct{})}
	if n.raft.State() == raft.Leader {
		n.catchUp()
		return
	}
	go n.catchUp()
}

// catchUp proposes the claim until it is applied here or refused. The
// claim is idempotent, so retrying one whose outcome was unknown is safe.
func (n *Node) catchUp() {
	claim := NodeIdentity{Node: n.cfg.NodeID, Identity: n.identity}
	level := slog.LevelWarn // the first failure; the retries are quieter
	for pause := retryMin; ; pause = min(2*pause, time.Second) {
		if n.fwd == nil && n.raft.State() != raft.Leader {
			// A follower on a supplied transport cannot reach the leader
			// (no forwarding channel): it cannot tell whether it is behind.
			n.caughtUp(0, nil)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
		res, err := n.Propose(ctx, claim)
		cancel()
		switch {
		case err == nil:
			n.caughtUp(res.Index, nil)
			return
		case errors.Is(err, ErrIdentity):
			n.log.Error("consensus: the cluster refused this node: stopping Raft", "node", n.cfg.NodeID, "err", err)
			// An unrecognised data directory must not vote or take entries.
			n.raft.Shutdown()
			n.caughtUp(0, err)
			return
		case errors.Is(err, ErrClosed):
			n.caughtUp(0, err)
			return
		}
		n.log.Log(context.Background(), level, "consensus: catching up: the leader cannot be reached yet; logins wait", "err", err)
		level = slog.LevelDebug
		select {
		case <-time.After(pause):
		case <-n.done:
			n.caughtUp(0, ErrClosed)
			return
		}
	}
}

func (n *Node) caughtUp(index uint64, err error) {
	cu := n.cu
	cu.mu.Lock()
	cu.err, cu.index, cu.took = err, index, time.Since(cu.start)
	cu.mu.Unlock()
	close(cu.done)
	if err == nil {
		n.log.Info("consensus: caught up with the cluster", "node", n.cfg.NodeID, "index", index, "after", cu.took)
	}
}

// CaughtUp reports whether this node has applied everything the cluster
// had committed when it started (see WaitCaughtUp), so that its reads are
// not behind what was acknowledged before.
func (n *Node) CaughtUp() bool {
	select {
	case <-n.cu.done:
		n.cu.mu.Lock()
		defer n.cu.mu.Unlock()
		return n.cu.err == nil
	default:
		return false
	}
}

// WaitCaughtUp waits until this node has caught up with the cluster: it
// presented its identity through the leader and applied that entry, which
// comes after everything committed before Open. It returns ErrIdentity when
// the cluster refused the node (its data directory is not the one the
// cluster knows under its ID; Raft is stopped), ErrClosed, or ErrTimeout
// when ctx ends first.
func (n *Node) WaitCaughtUp(ctx context.Context) error {
	select {
	case <-n.cu.done:
	case <-ctx.Done():
		return fmt.Errorf("%w: not caught up with the cluster (applied %d of commit %d): %w",
			ErrTimeout, n.fsm.appliedIndex(), n.raft.CommitIndex(), ctx.Err())
	}
	n.cu.mu.Lock()
	defer n.cu.mu.Unlock()
	return n.cu.err
}

// CatchUpTime returns how long after Open began the node caught up, and
// false while it has not.
func (n *Node) CatchUpTime() (time.Duration, bool) {
	if !n.CaughtUp() {
		return 0, false
	}
	n.cu.mu.Lock()
	defer n.cu.mu.Unlock()
	return n.cu.took, true
}

// presentIdentity runs before Raft starts on a node with no Raft state that
// joins a cluster: it presents the identity through the members at
// Config.Join, so that a wiped data directory under a known ID is refused
// before it could take entries or vote with an empty log.
func (n *Node) presentIdentity(deadline time.Time) error {
	req := request{op: opPropose, relay: true, cmd: Encode(NodeIdentity{Node: n.cfg.NodeID, Identity: n.identity})}
	if _, err := n.viaMembers(deadline, req); err != nil {
		if errors.Is(err, ErrIdentity) {
			n.log.Error("consensus: the cluster refused this node", "node", n.cfg.NodeID, "err", err)
		}
		return err
	}
	return nil
}
