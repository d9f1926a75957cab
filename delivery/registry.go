package delivery

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

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
	// Carbons is true while the resource has Message Carbons enabled
	// (XEP-0280 4); the carbons service sets it, and like the fields
	// above it is known on every node of the cluster.
	Carbons bool
	// Presence is the last available presence the resource broadcast,
	// what a probe or a new subscriber is answered with (RFC 6121 4.3.2).
	Presence *stanza.Element
}

const shardCount = 32

// Registry is the node-local table of connected resources, keyed by bare
// JID. It is safe for concurrent use; each shard has its own lock so that
// logins and presence changes on different accounts do not contend.
//
// With a Cluster attached (NewCluster), Resources and Get also answer with
// the resources of other nodes, and every local change is announced to
// them (remote.go); Count and All stay node-local.
type Registry struct {
	seed    maphash.Seed
	shards  [shardCount]shard
	cluster atomic.Pointer[Cluster]
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
// sink as old. A full JID bound on another node of the cluster is refused
// under ConflictRefuse and renamed otherwise (remote.go).
func (r *Registry) Bind(full jid.JID, sink Sink, policy Conflict, gen func() string) (bound jid.JID, old Sink, ok bool) {
	bare := full.Bare().String()
	sh := r.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := r.cluster.Load()
	list := sh.users[bare]
	for {
		i := indexOf(list, full)
		if i < 0 && (c == nil || !c.has(full)) {
			res := Resource{JID: full, Sink: sink}
			sh.users[bare] = append(list, res)
			if c != nil {
				c.announce(res, false)
			}
			return full, old, true
		}
		switch {
		case policy == ConflictRefuse:
			return jid.JID{}, nil, false
		case policy == ConflictReplace && i >= 0:
			old = list[i].Sink
			list[i] = Resource{JID: full, Sink: sink}
			if c != nil {
				c.announce(list[i], false)
			}
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
	if c := r.cluster.Load(); c != nil {
		c.announce(res, true)
	}
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
	after = list[i]
	if c := r.cluster.Load(); c != nil && (before.Available != after.Available ||
		before.Priority != after.Priority || before.Interested != after.Interested ||
		before.Carbons != after.Carbons || before.Presence != after.Presence) {
		c.announce(after, false)
	}
	return before, after, true
}

// Get returns the entry for a full JID: the local one, else one on another
// node.
func (r *Registry) Get(full jid.JID) (Resource, bool) {
	if res, ok := r.getLocal(full); ok {
		return res, true
	}
	if c := r.cluster.Load(); c != nil {
		return c.get(full)
	}
	return Resource{}, false
}

// getLocal returns the entry for a full JID bound on this node.
func (r *Registry) getLocal(full jid.JID) (Resource, bool) {
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

// Resources appends every connected resource of bare to dst, those of
// this node first, then those of other nodes.
func (r *Registry) Resources(dst []Resource, bare jid.JID) []Resource {
	b := bare.Bare().String()
	sh := r.shard(b)
	sh.mu.RLock()
	dst = append(dst, sh.users[b]...)
	sh.mu.RUnlock()
	if c := r.cluster.Load(); c != nil {
		dst = c.appendResources(dst, b)
	}
	return dst
}

// Count returns the number of resources connected to this node.
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

// All calls fn for every resource connected to this node until fn returns
// false. fn
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
