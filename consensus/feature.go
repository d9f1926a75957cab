package consensus

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Feature levels: how a cluster in a rolling upgrade keeps every node able to
// apply every entry of its log.
//
// A node's level is the highest command type it knows (Level; the catalogue
// is numbered in order of release, so knowing type t means knowing all
// before it). A node that meets a type it does not know in its log cannot
// apply it, and skipping it would make its state diverge from the nodes that
// did; so it halts there (fsm.ApplyBatch) and says so in its log and Stats,
// and a restart with a newer binary resumes from that entry.
//
// To keep that from happening, the leader refuses, before proposing, a
// command whose type is above the level of any member (ErrUnsupported). It
// learns each member's level by asking it over the forwarding channel
// (opLevel) and keeps the answer for levelTTL. A member that cannot answer
// keeps the level it stated last; one that never stated one (down since,
// unreachable, or a release from before levels, which closes the connection
// at the unknown request) counts as baseLevel, the catalogue every release
// has known. Commands of types up to baseLevel are never
// checked, so an old cluster and a mixed one behave as before.
//
// The check narrows the window, it cannot close it: a member replaced by an
// older binary within levelTTL, or a member added between the check and the
// commit, can still meet an unknown type. Such a node halts rather than
// diverges. The upgrade procedure is therefore: upgrade every node, one at a
// time; new command types become usable once the last one runs the new
// release. Downgrades are not supported once a new type has been used.

// ErrUnsupported is returned by Propose for a command type that some member
// of the cluster does not know yet (a rolling upgrade in progress). Nothing
// was proposed.
// It is also an ErrNotApplied.
var ErrUnsupported error = unsupported{}

type unsupported struct{}

func (unsupported) Error() string        { return "consensus: command type not supported by every member" }
func (unsupported) Is(target error) bool { return target == ErrNotApplied }

const (
	// levelTTL is how long a leader trusts a member's stated level.
	levelTTL = 10 * time.Second
	// levelRetry is how long a member that did not answer, or stated a
	// level below the one needed, is not asked again.
	levelRetry = time.Second
	// levelAsk bounds one question to a member about its level.
	levelAsk = 2 * time.Second
)

// level is this node's feature level.
func (n *Node) level() CommandType {
	if n.fsm.levelCap != 0 {
		return n.fsm.levelCap
	}
	return Level()
}

// levels is a leader's memory of its members' levels.
type levels struct {
	mu   sync.Mutex
	seen map[raft.ServerID]levelSeen
	all  map[CommandType]time.Time // when every member last knew the type
}

type levelSeen struct {
	addr  raft.ServerAddress
	level CommandType
	at    time.Time
}

// checkLevel refuses an encoded command whose type some member of the
// configuration does not know. It runs on the leader, before proposing.
func (n *Node) checkLevel(ctx context.Context, cmd []byte) error {
	if len(cmd) < 3 {
		return nil // Decode refuses it
	}
	t := CommandType(binary.BigEndian.Uint16(cmd[1:3]))
	if t <= baseLevel {
		return nil
	}
	return n.needLevel(ctx, t)
}

// needLevel returns nil when this node and every member of the
// configuration know command type t, and ErrUnsupported naming one that
// does not otherwise.
func (n *Node) needLevel(ctx context.Context, t CommandType) error {
	if t > n.level() {
		return fmt.Errorf("%w: %s (%d) is above this node's level %d", ErrUnsupported, t, t, n.level())
	}
	servers, err := n.servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range servers {
		if string(s.ID) == n.cfg.NodeID {
			continue
		}
		if l := n.memberLevel(ctx, s, t); l < t {
			return fmt.Errorf("%w: %s (%d) needs level %d; member %s is at level %d (upgrade it first)",
				ErrUnsupported, t, t, t, s.ID, l)
		}
	}
	return nil
}

// clusterAtLeast reports whether every member knows command type t, as
// needLevel, remembering a yes for levelTTL so that the write path does not
// ask Raft for its configuration at every Propose.
func (n *Node) clusterAtLeast(ctx context.Context, t CommandType) bool {
	n.lv.mu.Lock()
	at, ok := n.lv.all[t]
	n.lv.mu.Unlock()
	if ok && time.Since(at) < levelTTL {
		return true
	}
	if n.needLevel(ctx, t) != nil {
		return false
	}
	n.lv.mu.Lock()
	if n.lv.all == nil {
		n.lv.all = map[CommandType]time.Time{}
	}
	n.lv.all[t] = time.Now()
	n.lv.mu.Unlock()
	return true
}

// memberLevel returns s's level: remembered, or asked now.
//
// A member that does not answer keeps the level it last stated at that
// address (it is down or cut off, not downgraded; a node restarted on an
// older release halts rather than diverges), or counts as baseLevel if it
// never stated one. Either way it is asked again only after levelRetry, so a
// member that is down costs the write path one failed question per
// levelRetry, not one per write. A remembered level below t is asked again
// after levelRetry too: the member may have been upgraded since.
func (n *Node) memberLevel(ctx context.Context, s raft.Server, t CommandType) CommandType {
	n.lv.mu.Lock()
	seen, ok := n.lv.seen[s.ID]
	n.lv.mu.Unlock()
	ok = ok && seen.addr == s.Address
	if ok && (time.Since(seen.at) < levelRetry || seen.level >= t && time.Since(seen.at) < levelTTL) {
		return seen.level
	}
	l := baseLevel
	if ok {
		l = seen.level
	}
	if n.fwd != nil {
		ctx, cancel := context.WithTimeout(ctx, levelAsk)
		defer cancel()
		res, err := n.roundTrip(ctx, string(s.Address), request{op: opLevel})
		if err == nil && res.Seq > 0 && res.Seq <= 0xffff {
			l = CommandType(res.Seq)
		} else {
			n.log.Info("consensus: member did not state its level", "member", s.ID, "assumed", l, "err", err)
		}
	}
	n.lv.mu.Lock()
	if n.lv.seen == nil {
		n.lv.seen = map[raft.ServerID]levelSeen{}
	}
	n.lv.seen[s.ID] = levelSeen{addr: s.Address, level: l, at: time.Now()}
	n.lv.mu.Unlock()
	return l
}
