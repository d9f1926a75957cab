package delivery

import (
	"hash/maphash"
	"sync"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Sink is a connected resource as the router sees it: something that can
// take a stanza without blocking. A c2s session implements it; so will a
// cluster link to another node.
type Sink interface {
	// Deliver queues st for the resource. It must not block and must not
	// keep st after serializing it: the router may share one element among
	// several recipients. It reports false when the resource could not
	// take the stanza (closed, or its queue is full).
	Deliver(st *stanza.Element) bool
}

// Resource is one connected resource: a bound full JID and its presence
// state. The registry owns the fields; readers get copies.
type Resource struct {
	JID  jid.JID
	Sink Sink
	// Available is true once the resource has sent initial presence and
	// until it sends unavailable presence (RFC 6121 4.2, "available
	// resource"); a connected resource that is not available receives no
	// presence broadcasts and no bare-JID messages.
	Available bool
	// Priority of the last available presence (RFC 6121 4.7.2.3).
	Priority int8
	// Interested is true once the resource has requested the roster
	// (RFC 6121 2.1.6, "interested resource").
	Interested bool
	// Presence is the last available presence the resource broadcast,
	// what a probe or a new subscriber is answered with (RFC 6121 4.3.2).
	Presence *stanza.Element
}

const shardCount = 32

// Registry is the node-local table of connected resources, keyed by bare
// JID. It is safe for concurrent use; each shard has its own lock so that
// logins and presence changes on different accounts do not contend.
type Registry struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu    sync.RWMutex
	users map[string][]Resource // bare JID string -> resources
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].users = make(map[string][]Resource)
	}
	return r
}

func (r *Registry) shard(bare string) *shard {
	return &r.shards[maphash.String(r.seed, bare)%shardCount]
}

// Conflict is how Bind treats a resourcepart that is already bound (RFC
// 6120 7.7.2.2 lists the three choices).
type Conflict uint8

const (
	// ConflictRename gives the new session a server-generated resourcepart
	// (behaviour #1, the one RFC 6120 encourages).
	ConflictRename Conflict = iota
	// ConflictRefuse refuses the new binding with a <conflict/> stanza
	// error and keeps the old session (behaviour #2).
	ConflictRefuse
	// ConflictReplace binds the new session and returns the old one's sink
	// so the caller can close it with a <conflict/> stream error
	// (behaviour #3).
	ConflictReplace
)

// Bind registers sink under full. When full is already bound, policy
// decides: rename calls gen for a new resourcepart until one is free,
// refuse returns ok=false, replace evicts the old entry and returns its
// sink as old.
func (r *Registry) Bind(full jid.JID, sink Sink, policy Conflict, gen func() string) (bound jid.JID, old Sink, ok bool) {
	bare := full.Bare().String()
	sh := r.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.users[bare]
	for {
		i := indexOf(list, full)
		if i < 0 {
			sh.users[bare] = append(list, Resource{JID: full, Sink: sink})
			return full, old, true
		}
		switch policy {
		case ConflictRefuse:
			return jid.JID{}, nil, false
		case ConflictReplace:
			old = list[i].Sink
			list[i] = Resource{JID: full, Sink: sink}
			return full, old, true
		default:
			next, err := full.WithResource(gen())
			if err != nil {
				return jid.JID{}, nil, false
			}
			full = next
		}
	}
}

// Unbind removes full if it is still bound to sink (a replaced session
// must not remove its successor). It returns the removed entry.
func (r *Registry) Unbind(full jid.JID, sink Sink) (Resource, bool) {
	bare := full.Bare().String()
	sh := r.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.users[bare]
	i := indexOf(list, full)
	if i < 0 || list[i].Sink != sink {
		return Resource{}, false
	}
	res := list[i]
	list = append(list[:i:i], list[i+1:]...)
	if len(list) == 0 {
		delete(sh.users, bare)
	} else {
		sh.users[bare] = list
	}
	return res, true
}

// Update applies fn to the entry for full under the shard lock and returns
// the entry as it was before and after. It reports false when full is not
// bound.
func (r *Registry) Update(full jid.JID, fn func(*Resource)) (before, after Resource, ok bool) {
	bare := full.Bare().String()
	sh := r.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.users[bare]
	i := indexOf(list, full)
	if i < 0 {
		return Resource{}, Resource{}, false
	}
	before = list[i]
	fn(&list[i])
	return before, list[i], true
}

// Get returns the entry for a full JID.
func (r *Registry) Get(full jid.JID) (Resource, bool) {
	bare := full.Bare().String()
	sh := r.shard(bare)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	list := sh.users[bare]
	if i := indexOf(list, full); i >= 0 {
		return list[i], true
	}
	return Resource{}, false
}

// Resources appends every connected resource of bare to dst.
func (r *Registry) Resources(dst []Resource, bare jid.JID) []Resource {
	b := bare.Bare().String()
	sh := r.shard(b)
	sh.mu.RLock()
	dst = append(dst, sh.users[b]...)
	sh.mu.RUnlock()
	return dst
}

// Count returns the number of connected resources.
func (r *Registry) Count() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, l := range sh.users {
			n += len(l)
		}
		sh.mu.RUnlock()
	}
	return n
}

// All calls fn for every connected resource until fn returns false. fn
// runs without any registry lock held.
func (r *Registry) All(fn func(Resource) bool) {
	var buf []Resource
	for i := range r.shards {
		sh := &r.shards[i]
		buf = buf[:0]
		sh.mu.RLock()
		for _, l := range sh.users {
			buf = append(buf, l...)
		}
		sh.mu.RUnlock()
		for _, res := range buf {
			if !fn(res) {
				return
			}
		}
	}
}

func indexOf(list []Resource, full jid.JID) int {
	for i := range list {
		if list[i].JID == full {
			return i
		}
	}
	return -1
}
