package consensus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Join adds the node id, whose cluster port is at addr, to the cluster as a
// voter. Any member may be asked: the change is made by the leader (through
// lead, like a Propose). Joining a member again with the same address
// changes nothing; with another address, it moves the member. A different
// member found at addr (a node that came back under a new ID) is removed
// first.
func (n *Node) Join(ctx context.Context, id, addr string) error {
	if id == "" {
		return fmt.Errorf("%w: empty server ID", ErrInvalid)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: address %q: %v", ErrInvalid, addr, err)
	}
	if n.isClosed() {
		return ErrClosed
	}
	_, err := n.lead(ctx, request{op: opJoin, id: id, addr: addr})
	return err
}

// Remove takes the node id out of the cluster (ErrNotFound if it is not a
// member). A removed follower stays idle: it knows no leader, starts no
// election, and its Propose fails with ErrNoQuorum. Close it; to bring it
// back, start it again with Config.Join (its data directory may be kept; the
// leader brings it up to date). A removed leader shuts its Raft down after
// handing over; Stepdown first is gentler, the removal then costs no
// election.
func (n *Node) Remove(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty server ID", ErrInvalid)
	}
	if n.isClosed() {
		return ErrClosed
	}
	_, err := n.lead(ctx, request{op: opRemove, id: id})
	return err
}

// Stepdown asks the leader to hand its office to another voter (Raft's
// leadership transfer), for maintenance of the leader's machine. It returns
// once the transfer is done.
func (n *Node) Stepdown(ctx context.Context) error {
	if n.isClosed() {
		return ErrClosed
	}
	_, err := n.lead(ctx, request{op: opStepdown})
	return err
}

// enqueueTimeout is how long Raft may take to accept a future, from ctx.
func (n *Node) enqueueTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return n.cfg.ApplyTimeout
}

// servers returns the latest Raft configuration, committed or not.
func (n *Node) servers(ctx context.Context) ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := n.await(ctx, f, "configuration"); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// addVoter runs a join on the leader.
func (n *Node) addVoter(ctx context.Context, id, addr string) error {
	if n.raft.State() != raft.Leader {
		return raftError(raft.ErrNotLeader)
	}
	servers, err := n.servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range servers {
		switch {
		case s.ID == raft.ServerID(id) && s.Address == raft.ServerAddress(addr) && s.Suffrage == raft.Voter:
			return nil // already a member, as asked
		case s.Address == raft.ServerAddress(addr) && s.ID != raft.ServerID(id):
			n.log.Warn("consensus: removing the member at the joining node's address", "old", s.ID, "new", id, "addr", addr)
			if err := n.await(ctx, n.raft.RemoveServer(s.ID, 0, n.enqueueTimeout(ctx)), "join "+id); err != nil {
				return err
			}
		}
	}
	if err := n.await(ctx, n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, n.enqueueTimeout(ctx)), "join "+id); err != nil {
		return err
	}
	n.log.Info("consensus: member joined", "id", id, "addr", addr)
	return nil
}

// removeServer runs a removal on the leader.
func (n *Node) removeServer(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return raftError(raft.ErrNotLeader)
	}
	servers, err := n.servers(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(servers, func(s raft.Server) bool { return s.ID == raft.ServerID(id) }) {
		return fmt.Errorf("%w: no member %q", ErrNotFound, id)
	}
	if err := n.await(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, n.enqueueTimeout(ctx)), "remove "+id); err != nil {
		return err
	}
	n.log.Info("consensus: member removed", "id", id)
	return nil
}

// joinCluster asks the members at Config.Join, in turn and until one agrees
// or the deadline passes, to add this node as a voter. Raft is already
// running, so the leader can replicate to this node while the change
// commits. A wrong secret fails at once (ErrAuth).
func (n *Node) joinCluster(deadline time.Time) error {
	req := request{op: opJoin, relay: true, id: n.cfg.NodeID, addr: n.net.addr}
	var lastErr error
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		tried := false
		for _, addr := range n.cfg.Join {
			if addr == n.net.addr {
				continue
			}
			tried = true
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			_, err := n.fwd.roundTrip(ctx, addr, req)
			cancel()
			if err == nil {
				n.log.Info("consensus: joined the cluster", "node", n.cfg.NodeID, "via", addr)
				return nil
			}
			if errors.Is(err, ErrAuth) {
				return fmt.Errorf("consensus: join via %s: %w", addr, err)
			}
			lastErr = err
			n.log.Warn("consensus: join attempt failed", "via", addr, "err", err)
		}
		if !tried {
			return errors.New("consensus: Config.Join lists only this node")
		}
		if time.Until(deadline) < pause {
			return fmt.Errorf("%w: could not join the cluster via %v: %w", ErrTimeout, n.cfg.Join, lastErr)
		}
		select {
		case <-time.After(pause):
		case <-n.done:
			return ErrClosed
		}
	}
}

// ClusterStatus is a node's view of the cluster.
type ClusterStatus struct {
	ID    string
	Addr  string // this node's cluster port as the others reach it (its Raft address)
	State string // Raft's: Follower, Candidate, Leader, Shutdown

	LeaderID   string // empty while no leader is known
	LeaderAddr string

	Term         uint64
	LastIndex    uint64 // the last entry in this node's log
	CommitIndex  uint64
	AppliedIndex uint64 // see Node.AppliedIndex

	Members []Member // the latest configuration, in configuration order
}

// Member is one server of the cluster configuration.
type Member struct {
	ID       string
	Addr     string
	Suffrage string // Raft's: Voter, Nonvoter, Staging
	Leader   bool

	// On the leader, for every other member it has heard from: how long ago
	// the member last answered an AppendEntries (heartbeats included), and
	// how many entries its log was behind the leader's last entry then.
	// Known is false elsewhere, and for the leader itself.
	Known       bool
	LastContact time.Duration
	Lag         uint64
}

// Status returns this node's view of the cluster. Followers know the
// membership and the leader; only the leader knows the followers' progress.
func (n *Node) Status() ClusterStatus {
	addr, leader := n.raft.LeaderWithID()
	st := ClusterStatus{
		ID:           n.cfg.NodeID,
		State:        n.raft.State().String(),
		LeaderID:     string(leader),
		LeaderAddr:   string(addr),
		Term:         n.raft.CurrentTerm(),
		LastIndex:    n.raft.LastIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.AppliedIndex(),
	}
	if n.net != nil {
		st.Addr = n.net.addr
	} else if n.cfg.Transport != nil {
		st.Addr = string(n.cfg.Transport.LocalAddr())
	} else if n.ownTrans != nil {
		st.Addr = string(n.ownTrans.LocalAddr())
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return st
	}
	isLeader := st.State == raft.Leader.String()
	now := time.Now()
	for _, s := range f.Configuration().Servers {
		m := Member{ID: string(s.ID), Addr: string(s.Address), Suffrage: s.Suffrage.String(), Leader: s.ID == leader}
		if isLeader && n.peers != nil && s.ID != raft.ServerID(n.cfg.NodeID) {
			if seen, ok := n.peers.peer(s.ID); ok {
				m.Known, m.LastContact = true, now.Sub(seen.at)
				if st.LastIndex > seen.lastLog {
					m.Lag = st.LastIndex - seen.lastLog
				}
			}
		}
		st.Members = append(st.Members, m)
	}
	return st
}
