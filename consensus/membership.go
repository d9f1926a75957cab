package consensus

import (
	"context"
	"errors"
	"fmt"
	"github.com/heraldxmpp/herald/consensus/mux"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Join adds the node id, whose cluster port is at addr, to the cluster as a
// voter. Any member may be asked: the change is made by the leader (through
// lead, like a Propose). Joining a member again with the same address
// changes nothing; with another address, it moves the member. A different
// member found at addr (a node that came back under a new ID) is removed
// first.
//
// The join is refused with ErrUnsafe when the new configuration would not
// have a live majority (see checkLive; the joining node counts as live when
// the leader can reach it at addr); ForceJoin skips the check.
func (n *Node) Join(ctx context.Context, id, addr string) error {
	return n.join(ctx, id, addr, false)
}

// ForceJoin is Join without the live-majority check.
func (n *Node) ForceJoin(ctx context.Context, id, addr string) error {
	return n.join(ctx, id, addr, true)
}

func (n *Node) join(ctx context.Context, id, addr string, force bool) error {
	if id == "" {
		return fmt.Errorf("%w: empty server ID", ErrInvalid)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: address %q: %v", ErrInvalid, addr, err)
	}
	if n.isClosed() {
		return ErrClosed
	}
	_, err := n.lead(ctx, request{op: opJoin, id: id, addr: addr, force: force})
	return err
}

// Remove takes the node id out of the cluster (ErrNotFound if it is not a
// member). A removed follower stays idle: it knows no leader, starts no
// election, and its Propose fails with ErrNoQuorum. Close it; to bring it
// back, start it again with Config.Join (its data directory may be kept; the
// leader brings it up to date). A removed leader shuts its Raft down after
// handing over; Stepdown first is gentler, the removal then costs no
// election.
//
// The removal also forgets the node's identity (identity.go), so that the
// ID may join again with a new data directory; a node that is no member
// but has an identity recorded (a join that never completed) only has it
// forgotten.
//
// The removal is refused with ErrUnsafe when the remaining configuration
// would not have a live majority: a majority of its voters that answer the
// leader now (see checkLive). ForceRemove skips the check.
func (n *Node) Remove(ctx context.Context, id string) error {
	return n.remove(ctx, id, false)
}

// ForceRemove is Remove without the live-majority check, for taking dead
// members out of a cluster that lost its majority's worth of nodes.
func (n *Node) ForceRemove(ctx context.Context, id string) error {
	return n.remove(ctx, id, true)
}

func (n *Node) remove(ctx context.Context, id string, force bool) error {
	if id == "" {
		return fmt.Errorf("%w: empty server ID", ErrInvalid)
	}
	if n.isClosed() {
		return ErrClosed
	}
	_, err := n.lead(ctx, request{op: opRemove, id: id, force: force})
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
func (n *Node) addVoter(ctx context.Context, id, addr string, force bool) error {
	if n.raft.State() != raft.Leader {
		return raftError(raft.ErrNotLeader)
	}
	servers, err := n.servers(ctx)
	if err != nil {
		return err
	}
	next := []raft.Server{{ID: raft.ServerID(id), Address: raft.ServerAddress(addr), Suffrage: raft.Voter}}
	for _, s := range servers {
		if s.ID == raft.ServerID(id) && s.Address == raft.ServerAddress(addr) && s.Suffrage == raft.Voter {
			return nil // already a member, as asked
		}
		if s.ID != raft.ServerID(id) && s.Address != raft.ServerAddress(addr) {
			next = append(next, s)
		}
	}
	if err := n.checkLive(ctx, next, n.answers(ctx, addr, force), raft.ServerID(id), "join "+id, force); err != nil {
		return err
	}
	for _, s := range servers {
		if s.Address == raft.ServerAddress(addr) && s.ID != raft.ServerID(id) {
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
func (n *Node) removeServer(ctx context.Context, id string, force bool) error {
	if n.raft.State() != raft.Leader {
		return raftError(raft.ErrNotLeader)
	}
	servers, err := n.servers(ctx)
	if err != nil {
		return err
	}
	next := slices.DeleteFunc(slices.Clone(servers), func(s raft.Server) bool { return s.ID == raft.ServerID(id) })
	if len(next) == len(servers) {
		// Not a member: a join that never completed may have left its
		// identity behind.
		_, ferr := n.apply(ctx, Encode(NodeIdentity{Node: id}), "forget identity of "+id)
		if ferr == nil {
			n.log.Info("consensus: identity of a non-member forgotten", "id", id)
			return nil
		}
		if !errors.Is(ferr, ErrNotFound) {
			return ferr
		}
		return fmt.Errorf("%w: no member %q", ErrNotFound, id)
	}
	if err := n.checkLive(ctx, next, false, "", "remove "+id, force); err != nil {
		return err
	}
	if err := n.await(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, n.enqueueTimeout(ctx)), "remove "+id); err != nil {
		return err
	}
	n.log.Info("consensus: member removed", "id", id, "forced", force)
	if id == n.cfg.NodeID {
		// A removed leader steps down; the next leader cannot be asked
		// here. The identity stays until the ID is removed again.
		return nil
	}
	if _, err := n.apply(ctx, Encode(NodeIdentity{Node: id}), "forget identity of "+id); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("consensus: %s removed, but its identity is still recorded (remove it again): %w", id, err)
	}
	return nil
}

// ErrUnsafe is returned by Join and Remove when the new configuration would
// have no live majority, so that the cluster could not commit anything
// until members came back.
var ErrUnsafe = errors.New("consensus: membership change refused")

// liveWindow bounds how long checkLive waits to hear from the members: the
// time Raft itself takes to give up on a leader and elect another. A live
// member answers the leader's heartbeats (every tenth of HeartbeatTimeout)
// well within it.
func (n *Node) liveWindow() time.Duration { return n.leaderWait / 2 }

// checkLive refuses, unless forced, a configuration next without a live
// majority of voters. A voter is live when it answers an AppendEntries or a
// heartbeat of this leader sent after the check began: a member that died
// a moment ago, whose last answer is still recent, is not taken for live.
// This node counts as live, and so does joining, the node asking to join,
// when joinerLive (it answered at its cluster port). The check returns as
// soon as a majority has answered, and refuses after liveWindow. Without a
// cluster port there is no contact record, and nothing is checked.
func (n *Node) checkLive(ctx context.Context, next []raft.Server, joinerLive bool, joining raft.ServerID, what string, force bool) error {
	if force || n.peers == nil {
		return nil
	}
	start := time.Now()
	deadline := start.Add(n.liveWindow())
	for {
		voters, live := 0, 0
		var down []string
		for _, s := range next {
			if s.Suffrage != raft.Voter {
				continue
			}
			voters++
			seen, ok := n.peers.peer(s.ID)
			if s.ID == raft.ServerID(n.cfg.NodeID) || s.ID == joining && joinerLive || ok && seen.at.After(start) {
				live++
			} else {
				down = append(down, string(s.ID))
			}
		}
		if live > voters/2 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s would leave %d live voters of %d, no majority (no answer within %s from %s); "+
				"the cluster could commit nothing until they return. Bring them back first, or force the change",
				ErrUnsafe, what, live, voters, n.liveWindow(), strings.Join(down, ", "))
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: checking which members are live: %w", ErrTimeout, what, ctx.Err())
		case <-n.done:
			return ErrClosed
		}
	}
}

// joinCluster asks the members at Config.Join, in turn and until one agrees
// or the deadline passes, to add this node as a voter. Raft is already
// running, so the leader can replicate to this node while the change
// commits. A wrong secret fails at once (ErrAuth).
func (n *Node) joinCluster(deadline time.Time) error {
	via, err := n.viaMembers(deadline, request{op: opJoin, relay: true, id: n.cfg.NodeID, addr: n.net.Addr()})
	if err == nil {
		n.log.Info("consensus: joined the cluster", "node", n.cfg.NodeID, "via", via)
	}
	return err
}

// viaMembers sends req to the members at Config.Join, in turn and until one
// answers or the deadline passes, and returns the address that answered. A
// wrong secret (ErrAuth) or a refused identity (ErrIdentity) fails at once.
func (n *Node) viaMembers(deadline time.Time, req request) (string, error) {
	var lastErr error
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		tried := false
		for _, addr := range n.cfg.Join {
			if addr == n.net.Addr() {
				continue
			}
			tried = true
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			_, err := n.roundTrip(ctx, addr, req)
			cancel()
			if err == nil {
				return addr, nil
			}
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrIdentity) {
				return "", fmt.Errorf("consensus: %s via %s: %w", req, addr, err)
			}
			lastErr = err
			n.log.Warn("consensus: request to a member failed", "request", req.String(), "via", addr, "err", err)
		}
		if !tried {
			return "", errors.New("consensus: Config.Join lists only this node")
		}
		if time.Until(deadline) < pause {
			return "", fmt.Errorf("%w: %s: no member of %v answered: %w", ErrTimeout, req, n.cfg.Join, lastErr)
		}
		select {
		case <-time.After(pause):
		case <-n.done:
			return "", ErrClosed
		}
	}
}

// answers reports whether a node answers at the cluster port addr: it
// accepts a connection and proves it knows the secret. Forced, nothing is
// asked.
func (n *Node) answers(ctx context.Context, addr string, force bool) bool {
	if force || n.net == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, mux.HandshakeTimeout)
	defer cancel()
	c, err := n.net.Dial(ctx, addr, mux.ChanForward)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// ClusterStatus is a node's view of the cluster.
type ClusterStatus struct {
	ID    string
	Addr  string // this node's cluster port as the others reach it (its Raft address)
	State string // Raft's: Follower, Candidate, Leader, Shutdown

	LeaderID   string // empty while no leader is known
	LeaderAddr string

	Term        uint64
	LastIndex   uint64 // the last entry in this node's log
	CommitIndex uint64 // the last entry this node knows committed
	// AppliedIndex is Raft's: the last entry this node has processed,
	// whatever its kind. Caught up, it equals CommitIndex.
	AppliedIndex uint64
	// StateIndex is the state's (Node.AppliedIndex): the last entry whose
	// effect is in Pebble. Raft's own entries (the no-op a new leader
	// writes, barriers) never reach the state, so it may stay a few below
	// AppliedIndex for good; compare AppliedIndex with CommitIndex instead.
	StateIndex uint64
	// CaughtUp is Node.CaughtUp: the node has applied everything the
	// cluster had committed when it started.
	CaughtUp bool

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
		AppliedIndex: n.raft.AppliedIndex(),
		StateIndex:   n.AppliedIndex(),
		CaughtUp:     n.CaughtUp(),
	}
	if n.net != nil {
		st.Addr = n.net.Addr()
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
