package consensus

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// peerTransport is Raft's network transport, watching the leader's
// AppendEntries (heartbeats included, every HeartbeatTimeout/10) to learn when
// each follower last answered and how far its log reaches, for Status. Raft
// keeps that knowledge to itself.
type peerTransport struct {
	*raft.NetworkTransport
	mu   sync.Mutex
	seen map[raft.ServerID]peerSeen
}

type peerSeen struct {
	at      time.Time
	lastLog uint64
}

func (t *peerTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, target, args, resp)
	if err == nil {
		t.mu.Lock()
		t.seen[id] = peerSeen{at: time.Now(), lastLog: resp.LastLog}
		t.mu.Unlock()
	}
	return err
}

func (t *peerTransport) peer(id raft.ServerID) (peerSeen, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.seen[id]
	return s, ok
}
