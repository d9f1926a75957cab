package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/heraldxmpp/herald/consensus/mux"
)

// Config configures a Node. The zero value plus Dir opens a single node.
type Config struct {
	// Dir is the data directory. Open creates Dir/raft (the bolt log and the
	// Raft snapshots) and Dir/state (Pebble).
	Dir string
	// NodeID is the Raft server ID; default "node1". With ClusterAddr it is
	// required, unique in the cluster and stable across restarts.
	NodeID string
	// Transport carries Raft traffic between nodes. Nil means a single node
	// on an in-memory transport (no network port), which Node owns and closes,
	// unless ClusterAddr is set. A supplied transport stays the caller's to
	// close; with one, a follower's Propose fails with ErrNotLeader (there is
	// no forwarding channel).
	Transport raft.Transport
	// Bootstrap makes the node bootstrap a one-voter cluster when it has no
	// Raft state yet. It is implied when Transport and ClusterAddr are
	// unset; otherwise set it on exactly one node of a new cluster, the one
	// the others Join.
	Bootstrap bool

	// ClusterAddr is the cluster port's bind address (host:port; port 0
	// picks a free one). It carries Raft and the forwarding channel between
	// nodes, authenticated with Secret (package mux). Empty means no
	// cluster port. With one, NodeID and Secret are required and Transport
	// must be nil.
	ClusterAddr string
	// AdvertiseAddr is the address the other nodes reach the cluster port at
	// (host:port), which is also this node's Raft address. Default: the
	// bound address, which then must not be a wildcard (0.0.0.0, [::]).
	AdvertiseAddr string
	// Secret is the shared cluster secret, the same on every node: at least
	// MinSecretLen bytes, best 32 random ones. A peer that cannot prove it
	// knows the secret cannot connect.
	Secret []byte
	// Join lists cluster ports of members of an existing cluster. Open asks
	// them, in turn, to add this node as a voter (retrying until
	// LeaderTimeout), also when the node already has Raft state: for a
	// member that is a no-op, and it brings back a removed node. Join and
	// Bootstrap are exclusive. Entries equal to AdvertiseAddr are skipped,
	// so every node may be given the same list.
	Join []string
	// Logger receives Herald's and Raft's logs (Raft's at Warn and above
	// only). Nil discards.
	Logger *slog.Logger
	// WrapListener, when set, wraps the cluster port's listener, as
	// heraldd does with its connection gate (accept backoff, metrics).
	WrapListener func(net.Listener) net.Listener
	// OfflineLimit is the maximum number of offline messages stored per
	// user; default DefaultOfflineLimit. Propose stamps it into each
	// StoreOffline, so every replica applies the proposer's limit.
	OfflineLimit int
	// SnapshotThreshold is Raft's: how many log entries since the last
	// snapshot trigger a new one. Default 8192.
	SnapshotThreshold uint64
	// LeaderTimeout bounds how long Open waits for a leader, and, with
	// Join, for a member to admit this node; default 10s.
	LeaderTimeout time.Duration
	// ApplyTimeout bounds a Propose whose context has no deadline; default 30s.
	ApplyTimeout time.Duration

	// Test hooks.
	fs      vfs.FS                            // Pebble's filesystem; nil is the OS
	tune    func(*raft.Config)                // adjusts the Raft config before NewRaft
	wrapLog func(raft.LogStore) raft.LogStore // wraps the bolt log (benchmarks count its commits)
	level   CommandType                       // acts as a binary of this feature level (feature.go); 0: Level()
	// hold runs before the forwarding server handles a request, and
	// dropAnswer after: true closes the connection instead of answering
	// (tests: a request held up, or an answer lost, in a partition).
	hold       func(op byte)
	dropAnswer func(op byte) bool
}

// retainSnapshots is how many Raft snapshots stay on disk.
const retainSnapshots = 2

// Node is one member of the replicated state: a Raft instance, its bolt log
// and the Pebble FSM. Its methods are safe for concurrent use.
type Node struct {
	cfg      Config
	log      *slog.Logger
	db       *pebble.DB
	fsm      *fsm
	bolt     *raftboltdb.BoltStore
	raft     *raft.Raft
	ownTrans *raft.InmemTransport

	// The cluster port (nil without ClusterAddr): the listener, Raft's
	// transport over it, and the forwarding client (port.go, forward.go).
	net        *mux.Net
	peers      *peerTransport
	fwd        *mux.Client
	pmu        sync.Mutex
	pm         *mux.Peers    // the peer channel, once SetPeerHandler ran (peer.go)
	leaderWait time.Duration // how long lead looks for a leader (ErrNoQuorum)
	lmu        sync.Mutex
	lch        chan struct{} // closed at the next leader change; see leaderWatch
	lv         levels        // the members' feature levels, on the leader (feature.go)

	identity string   // this data directory's identity (identity.go)
	cu       *catchup // the start-up claim (catchup.go)

	mu     sync.RWMutex // held shared by reads, exclusively by Close
	closed bool
	done   chan struct{} // closed by Close

	seq atomic.Uint64 // the last idempotency key seq of this node's Proposes (keyed.go)

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the data directory, checks the Pebble schema
// version, starts Raft, bootstraps a single-node cluster when the log is new,
// and waits until a leader is known and, on the leader, until every committed
// entry is applied. Reads after Open see all acknowledged writes.
func Open(cfg Config) (*Node, error) {
	if cfg.Dir == "" {
		return nil, errors.New("consensus: Config.Dir is empty")
	}
	if err := checkCluster(&cfg); err != nil {
		return nil, err
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "node1"
	}
	if cfg.OfflineLimit <= 0 {
		cfg.OfflineLimit = DefaultOfflineLimit
	}
	cfg.OfflineLimit = min(cfg.OfflineLimit, 1<<31)
	if cfg.LeaderTimeout <= 0 {
		cfg.LeaderTimeout = 10 * time.Second
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	// Keys must not repeat across restarts: start past any seq an earlier
	// run of this node can have used (its clock was behind this one).
	n.seq.Store(uint64(time.Now().UnixNano()))
	if err := n.open(); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	return n, nil
}

func (n *Node) open() error {
	cfg, start := n.cfg, time.Now()
	raftDir, stateDir := filepath.Join(cfg.Dir, "raft"), filepath.Join(cfg.Dir, "state")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return fmt.Errorf("consensus: %w", err)
	}
	hlog := newHclog(n.log)
	identity, err := loadIdentity(cfg.Dir)
	if err != nil {
		return err
	}
	n.identity = identity

	db, fresh, err := openState(stateDir, cfg.fs, n.log)
	if err != nil {
		return err
	}
	n.db = db
	n.fsm = &fsm{db: db, log: n.log, levelCap: cfg.level}
	applied, _, err := getUint64(db, appliedKey)
	if err != nil {
		return err
	}
	n.fsm.applied.Store(applied)

	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, retainSnapshots, hlog)
	if err != nil {
		return fmt.Errorf("consensus: %w", err)
	}
	// Pebble's directory lock, taken above, keeps a second process (or a
	// second Open) away from the bolt file too.
	n.bolt, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "raft.db")})
	if err != nil {
		return fmt.Errorf("consensus: open raft log: %w", err)
	}
	if err := n.recoverState(snaps, fresh); err != nil {
		return err
	}

	n.fsm.snaps = snaps
	if metas, err := snaps.List(); err == nil && len(metas) > 0 {
		// Pebble holds every snapshot in the store: Snapshot syncs it first,
		// and restores are synced (see WaitApplied).
		n.fsm.floor.Store(metas[0].Index)
	}

	trans := cfg.Transport
	switch {
	case cfg.ClusterAddr != "":
		if trans, err = n.listen(hlog); err != nil {
			return err
		}
	case trans == nil:
		_, n.ownTrans = raft.NewInmemTransport(raft.ServerAddress(cfg.NodeID))
		trans = n.ownTrans
	}
	rc := raftConfig(cfg, hlog, n.ownTrans != nil)
	if cfg.tune != nil {
		cfg.tune(rc)
	}
	n.leaderWait = 2 * (rc.HeartbeatTimeout + rc.ElectionTimeout)
	existing, err := raft.HasExistingState(n.bolt, n.bolt, snaps)
	if err != nil {
		return fmt.Errorf("consensus: %w", err)
	}
	if err := n.checkRestored(existing); err != nil {
		return err
	}
	seed := false
	if !existing && (cfg.Bootstrap || n.ownTrans != nil) {
		if seed, err = n.holdsData(); err != nil {
			return err
		}
	}
	if !existing && len(cfg.Join) > 0 {
		if err := n.presentIdentity(time.Now().Add(cfg.LeaderTimeout)); err != nil {
			return err
		}
	}
	var logs raft.LogStore = n.bolt
	if cfg.wrapLog != nil {
		logs = cfg.wrapLog(logs)
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.bolt, snaps, trans)
	if err != nil {
		return fmt.Errorf("consensus: start raft: %w", err)
	}
	if n.net != nil {
		n.net.Start(n.serveForward, n.servePeer)
		n.watchLeader()
	}
	if !existing && (cfg.Bootstrap || n.ownTrans != nil) {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr(),
		}}}
		if err := n.raft.BootstrapCluster(boot).Error(); err != nil {
			return fmt.Errorf("consensus: bootstrap: %w", err)
		}
		n.log.Info("consensus: bootstrapped a new cluster", "node", cfg.NodeID)
	}
	if len(cfg.Join) > 0 {
		if err := n.joinCluster(time.Now().Add(cfg.LeaderTimeout)); err != nil {
			return err
		}
	}
	if err := n.waitLeader(cfg.LeaderTimeout); err != nil {
		return err
	}
	if seed {
		if err := n.seedLog(); err != nil {
			return err
		}
	}
	n.startCatchUp(start)
	n.log.Info("consensus: open", "node", cfg.NodeID, "dir", cfg.Dir, "applied", n.fsm.applied.Load())
	return nil
}

// raftConfig is Raft's configuration for this node.
func raftConfig(cfg Config, logger hclog.Logger, local bool) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(cfg.NodeID)
	c.Logger = logger
	// Commands queued together are committed with one fsync and reach the
	// FSM as one ApplyBatch, which writes one Pebble batch.
	c.BatchApplyCh = true
	// Pebble outlives the process: restoring the snapshot on start would
	// throw it away and rebuild it. The FSM skips replayed entries instead.
	c.NoSnapshotRestoreOnStart = true
	if cfg.SnapshotThreshold > 0 {
		c.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.ClusterAddr != "" {
		// A follower learns that an entry is committed from the leader's
		// next AppendEntries, which Raft sends after CommitTimeout when no
		// new entry comes (heartbeats do not carry it). A forwarded Propose
		// waits for that before it returns (read your writes): 50ms by
		// default, 5-10ms here, at the price of about 150 empty
		// AppendEntries a second per idle follower.
		c.CommitTimeout = 5 * time.Millisecond
	}
	if local {
		// One voter and no network: nobody to wait for, so elect quickly.
		c.HeartbeatTimeout = 50 * time.Millisecond
		c.ElectionTimeout = 50 * time.Millisecond
		c.LeaderLeaseTimeout = 50 * time.Millisecond
	}
	return c
}

// recoverState brings Pebble up to the newest Raft snapshot when Raft will not
// (NoSnapshotRestoreOnStart): after an interrupted restore, or when the state
// directory was lost while the Raft directory survived. Otherwise Pebble is at
// least as new as every snapshot, because Snapshot syncs Pebble first.
func (n *Node) recoverState(snaps raft.SnapshotStore, fresh bool) error {
	_, restoring, err := get(n.db, restoringKey)
	if err != nil {
		return err
	}
	if !restoring && !fresh {
		return nil
	}
	metas, err := snaps.List()
	if err != nil {
		return fmt.Errorf("consensus: list snapshots: %w", err)
	}
	if len(metas) == 0 {
		if restoring {
			return fmt.Errorf("consensus: %s holds an interrupted restore and there is no raft snapshot to redo it from: rerun RestoreDir", n.cfg.Dir)
		}
		return nil // a fresh start: Raft replays the whole log, if any
	}
	meta, rc, err := snaps.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("consensus: open snapshot: %w", err)
	}
	defer rc.Close()
	// The snapshot covers every entry up to meta.Index; Raft starts applying
	// after it.
	if err := restoreInto(n.db, rc, meta.Index); err != nil {
		return err
	}
	n.fsm.applied.Store(meta.Index)
	n.log.Warn("consensus: state rebuilt from raft snapshot", "snapshot", meta.ID)
	return nil
}

// waitLeader waits until a leader is known and, if it is this node, until
// everything committed before is applied.
func (n *Node) waitLeader(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: no leader after %s", ErrTimeout, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n.raft.State() != raft.Leader {
		return nil
	}
	if err := n.raft.Barrier(time.Until(deadline)).Error(); err != nil {
		return fmt.Errorf("consensus: barrier: %w", err)
	}
	return nil
}

// Close shuts Raft down, then closes the log and Pebble. Later calls return
// the first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		close(n.done)
		n.mu.Unlock()
		var errs []error
		var shutdown raft.Future
		if n.raft != nil {
			shutdown = n.raft.Shutdown()
		}
		if pm := n.peerMgr(); pm != nil {
			pm.Close()
		}
		if n.net != nil {
			// Cut the network while Raft stops, so that none of its
			// goroutines waits out an I/O deadline on a silent peer.
			errs = append(errs, n.net.Close())
		}
		if shutdown != nil {
			errs = append(errs, shutdown.Error())
		}
		if n.fwd != nil {
			n.fwd.Close()
		}
		if pm := n.peerMgr(); pm != nil {
			pm.Wait()
		}
		if n.ownTrans != nil {
			errs = append(errs, n.ownTrans.Close())
		}
		if n.bolt != nil {
			errs = append(errs, n.bolt.Close())
		}
		if n.db != nil {
			errs = append(errs, n.db.Close())
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// Propose commits c through Raft and returns the FSM's outcome once it is
// applied on this node, so that reads here see it. On a follower of a
// cluster, Propose forwards the encoded command to the leader, which applies
// it and answers (forward.go), then waits until this node has applied the
// entry too. Result.Index is the entry's index: another node can WaitApplied
// for it before reading.
//
// Errors: ErrInvalid before proposing; ErrNoQuorum when no leader could be
// reached within a bounded wait (nothing was proposed; it is also an
// ErrNotLeader); ErrNotLeader when this node cannot lead the write and has
// no cluster port to forward it over, or when the leader was lost with the
// command in flight (outcome unknown); ErrTimeout when ctx ends first, in
// which case the command may still commit; ErrClosed; and Apply's domain
// errors ErrExists, ErrNotFound, ErrOfflineFull, ErrPendingFull and
// *roster.SetError, meaning the command was committed and changed nothing.
// Forwarded errors keep their identity for errors.Is and errors.As.
//
// This and the membership calls are the only places that know about
// leadership, through Node.lead; callers do not.
func (n *Node) Propose(ctx context.Context, c Command) (Result, error) {
	c = deref(c)
	if c == nil {
		return Result{}, fmt.Errorf("%w: nil command", ErrInvalid)
	}
	if so, ok := c.(StoreOffline); ok && so.Limit == 0 {
		so.Limit = uint32(n.cfg.OfflineLimit)
		c = so
	}
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, notApplied(fmt.Errorf("%w: %w", ErrTimeout, err))
	}
	if n.isClosed() {
		return Result{}, notApplied(ErrClosed)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(n.cfg.ApplyTimeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return n.lead(ctx, request{op: opPropose, cmd: Encode(c), origin: n.cfg.NodeID, seq: n.seq.Add(1), deadline: deadline})
}

// raftError maps Raft's errors onto the package's.
func raftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return notApplied(fmt.Errorf("%w: %w", ErrNotLeader, err))
	case errors.Is(err, raft.ErrLeadershipLost):
		return unknownOutcome(fmt.Errorf("%w: outcome unknown: %w", ErrNotLeader, err))
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return notApplied(fmt.Errorf("%w: %w", ErrTimeout, err))
	case errors.Is(err, raft.ErrRaftShutdown):
		return unknownOutcome(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	return fmt.Errorf("consensus: raft: %w", err)
}

func (n *Node) isClosed() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.closed
}

// AppliedIndex returns the index up to which this node's state reflects the
// log: the last entry applied to Pebble, or the Raft snapshot the state was
// last restored from or saved as, whichever is later.
func (n *Node) AppliedIndex() uint64 { return n.fsm.appliedIndex() }

// Stats returns Raft's statistics plus the FSM's applied index.
func (n *Node) Stats() map[string]string {
	s := n.raft.Stats()
	s["fsm_applied_index"] = strconv.FormatUint(n.AppliedIndex(), 10)
	s["keyed_window"] = strconv.Itoa(keyedWindow)
	s["keyed_expired"] = strconv.FormatUint(n.fsm.keyedExpired.Load(), 10)
	n.fsm.mu.Lock()
	if n.fsm.broken != nil {
		s["fsm_error"] = n.fsm.broken.Error()
	}
	n.fsm.mu.Unlock()
	return s
}
