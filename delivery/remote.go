package delivery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Sessions across nodes (ARCHITECTURE.md: sessions and presence do not go
// through Raft). Each node keeps its own Registry and tells the others, over the
// cluster's peer channel, which resources live on it; a Cluster keeps the
// table of what the others announced and hooks it into the Registry, so
// that Registry.Resources and Registry.Get answer for the whole cluster and
// the router, c2s and the roster layer need not know where a resource is.
// A remote resource's Sink forwards the stanza to the node that holds the
// session, which hands it to the local Sink (or drops it when the session
// has gone meanwhile).
//
// Announcements. Every change of a local entry (Bind, Unbind, Update of
// Available, Priority, Interested, Carbons or Presence) is sent to every connected
// peer under the registry's shard lock, so that the changes of one full JID
// reach a peer in the order they were made. When a connection to a peer is
// (re)established (PeerUp), the node sends a reset and its whole table:
// what was sent while the link was down is lost, and the reset replaces
// everything the peer held for this node.
//
// Departures. When a peer goes down (PeerDown: its link has been lost for a
// few seconds, or it left the configuration), its entries are dropped, and
// the unavailable presence its available resources owed their contacts is
// sent by one surviving node only, the one with the smallest node ID among
// those it can see (Departed), so that contacts get it once, not once per
// node. A partition may make two nodes responsible: a duplicate unavailable
// presence is harmless.
//
// Conflicts across nodes. Bind treats a full JID bound on another node as
// taken: ConflictRefuse refuses, ConflictRename and ConflictReplace rename
// (a session on another node cannot be evicted from here). Two binds of the
// same full JID racing on two nodes can both succeed; Get then prefers the
// local one, and each node delivers to its own.
//
// Back-pressure: a remote Sink's Deliver queues the stanza on the peer
// connection and never blocks; it reports false when the peer is not
// connected or its queue was full (consensus cuts that connection, and the
// peers resync when it comes back).
//
// Wire format, version 1 (each message is one peer-channel message):
//
//	version (1) | kind | body
//	kindReset   nothing: forget everything the sender announced
//	kindUpsert  uvarint count | count × (string full JID | flags | priority | string presence XML)
//	kindDown    string full JID
//	kindDeliver string full JID | string stanza XML
//
// Strings are a uvarint length and the bytes; XML is serialized in the
// jabber:client namespace; flags bit 0 is Available, bit 1 Interested,
// bit 2 Carbons (a node that predates a bit reads it as unset).

// PeerLink is the cluster's peer channel as the delivery layer sees it.
// *consensus.Node satisfies it.
type PeerLink interface {
	// ID is this node's ID.
	ID() string
	// SendPeer queues msg for the node id without blocking.
	SendPeer(id string, msg []byte) error
	// Peers lists the nodes connected now.
	Peers() []string
}

const (
	wireVersion byte = 1

	kindReset   byte = 'R'
	kindUpsert  byte = 'U'
	kindDown    byte = 'D'
	kindDeliver byte = 'M'

	flagAvailable  byte = 1
	flagInterested byte = 2
	flagCarbons    byte = 4

	// syncBatch bounds the entries in one upsert of a full resync.
	syncBatch = 256
)

// Cluster is the table of resources on other nodes. Its PeerMessage,
// PeerUp and PeerDown methods make it a consensus.PeerHandler.
type Cluster struct {
	reg  *Registry
	link PeerLink
	// Departed is called on one surviving node for each available resource
	// of a node that went down, after its entries are dropped, so that the
	// caller can send the unavailable presence the resource owes (RFC 6121
	// 4.5.2). It runs on the peer channel's goroutine.
	Departed func(Resource)
	// Limits are the stream limits clients and servers are held to; what
	// peers forward is read back under StoredLimits(Limits).
	Limits xmlstream.Limits
	Log    *slog.Logger

	mu     sync.RWMutex
	remote map[string][]remoteEntry // bare JID -> resources on other nodes
}

type remoteEntry struct {
	node string
	res  Resource
}

// NewCluster attaches a remote table to reg, announcing reg's changes over
// link. Call it before reg is used; reg's Resources and Get then include
// the resources of other nodes (its Count and All stay node-local).
func NewCluster(reg *Registry, link PeerLink) *Cluster {
	c := &Cluster{reg: reg, link: link, remote: map[string][]remoteEntry{}}
	reg.cluster.Store(c)
	return c
}

func (c *Cluster) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// has reports whether full is bound on another node.
func (c *Cluster) has(full jid.JID) bool {
	_, ok := c.get(full)
	return ok
}

func (c *Cluster) get(full jid.JID) (Resource, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.remote[full.Bare().String()] {
		if e.res.JID == full {
			return e.res, true
		}
	}
	return Resource{}, false
}

func (c *Cluster) appendResources(dst []Resource, bare string) []Resource {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.remote[bare] {
		dst = append(dst, e.res)
	}
	return dst
}

// Remote returns the number of resources known on other nodes.
func (c *Cluster) Remote() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, l := range c.remote {
		n += len(l)
	}
	return n
}

// broadcast sends msg to every connected peer.
func (c *Cluster) broadcast(msg []byte) {
	for _, id := range c.link.Peers() {
		c.link.SendPeer(id, msg)
	}
}

// announce tells the peers about a local change; the shard lock is held.
func (c *Cluster) announce(res Resource, gone bool) {
	if gone {
		c.broadcast(appendString([]byte{wireVersion, kindDown}, res.JID.String()))
		return
	}
	msg := binary.AppendUvarint([]byte{wireVersion, kindUpsert}, 1)
	c.broadcast(appendEntry(msg, res))
}

func appendEntry(b []byte, res Resource) []byte {
	b = appendString(b, res.JID.String())
	var flags byte
	if res.Available {
		flags |= flagAvailable
	}
	if res.Interested {
		flags |= flagInterested
	}
	if res.Carbons {
		flags |= flagCarbons
	}
	b = append(b, flags, byte(res.Priority))
	var x []byte
	if res.Presence != nil {
		x = MarshalStanza(res.Presence)
	}
	return appendString(b, string(x))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// PeerUp sends this node's whole table to the peer id.
func (c *Cluster) PeerUp(id string) {
	if c.link.SendPeer(id, []byte{wireVersion, kindReset}) != nil {
		return
	}
	var buf []Resource
	for i := range c.reg.shards {
		sh := &c.reg.shards[i]
		// Under the shard lock, so that no announcement of these entries
		// can overtake the snapshot.
		sh.mu.RLock()
		buf = buf[:0]
		for _, l := range sh.users {
			buf = append(buf, l...)
		}
		var err error
		for len(buf) > 0 && err == nil {
			n := min(len(buf), syncBatch)
			msg := binary.AppendUvarint([]byte{wireVersion, kindUpsert}, uint64(n))
			for _, r := range buf[:n] {
				msg = appendEntry(msg, r)
			}
			buf = buf[n:]
			err = c.link.SendPeer(id, msg)
		}
		sh.mu.RUnlock()
		if err != nil {
			return // the link is gone; the next PeerUp resyncs
		}
	}
}

// PeerDown drops the resources of node id and, on the node responsible,
// reports the available ones to Departed.
func (c *Cluster) PeerDown(id string) {
	gone := c.drop(id)
	mine := c.responsible(id)
	c.logger().Info("delivery: node gone, its sessions dropped", "peer", id, "resources", len(gone), "unavailable_sent_here", mine)
	if !mine || c.Departed == nil {
		return
	}
	for _, r := range gone {
		if r.Available {
			c.Departed(r)
		}
	}
}

// responsible reports whether this node sends what the departed node's
// resources owe: it has the smallest ID among the nodes it still sees.
func (c *Cluster) responsible(departed string) bool {
	self := c.link.ID()
	for _, p := range c.link.Peers() {
		if p != departed && p < self {
			return false
		}
	}
	return true
}

// drop forgets every resource of node and returns them.
func (c *Cluster) drop(node string) []Resource {
	c.mu.Lock()
	defer c.mu.Unlock()
	var gone []Resource
	for bare, l := range c.remote {
		kept := l[:0]
		for _, e := range l {
			if e.node == node {
				gone = append(gone, e.res)
			} else {
				kept = append(kept, e)
			}
		}
		clear(l[len(kept):])
		if len(kept) == 0 {
			delete(c.remote, bare)
		} else {
			c.remote[bare] = kept
		}
	}
	return gone
}

var errWire = errors.New("delivery: bad cluster message")

// PeerMessage applies an announcement from node from, or delivers a
// stanza it forwarded.
func (c *Cluster) PeerMessage(from string, msg []byte) {
	if err := c.handle(from, msg); err != nil {
		c.logger().Warn("delivery: dropping a cluster message", "peer", from, "err", err)
	}
}

func (c *Cluster) handle(from string, msg []byte) error {
	if len(msg) < 2 || msg[0] != wireVersion {
		return fmt.Errorf("%w: version or length", errWire)
	}
	r := wireReader{b: msg[2:]}
	switch msg[1] {
	case kindReset:
		c.drop(from)
	case kindUpsert:
		n := r.uvarint()
		for i := uint64(0); i < n && r.err == nil; i++ {
			full, flags, prio, x := r.string(), r.byte(), r.byte(), r.string()
			if r.err != nil {
				break
			}
			j, err := jid.Parse(full)
			if err != nil || j.IsBare() {
				return fmt.Errorf("%w: JID %q", errWire, full)
			}
			res := Resource{JID: j, Sink: &remoteSink{c: c, node: from, full: j},
				Available: flags&flagAvailable != 0, Interested: flags&flagInterested != 0,
				Carbons: flags&flagCarbons != 0, Priority: int8(prio)}
			if x != "" {
				if res.Presence, err = c.parsePeer(x); err != nil {
					return fmt.Errorf("%w: presence of %s: %w", errWire, full, err)
				}
			}
			c.upsert(from, res)
		}
	case kindDown:
		full := r.string()
		if r.err != nil {
			break
		}
		j, err := jid.Parse(full)
		if err != nil {
			return fmt.Errorf("%w: JID %q", errWire, full)
		}
		c.remove(from, j)
	case kindDeliver:
		full, x := r.string(), r.string()
		if r.err != nil {
			break
		}
		j, err := jid.Parse(full)
		if err != nil {
			return fmt.Errorf("%w: JID %q", errWire, full)
		}
		res, ok := c.reg.getLocal(j)
		if !ok {
			return nil // the session ended while the stanza travelled
		}
		st, err := c.parsePeer(x)
		if err != nil {
			return fmt.Errorf("%w: stanza for %s: %w", errWire, full, err)
		}
		res.Sink.Deliver(st)
	default:
		return fmt.Errorf("%w: kind %#x", errWire, msg[1])
	}
	return r.err
}

func (c *Cluster) upsert(node string, res Resource) {
	bare := res.JID.Bare().String()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.remote[bare]
	for i := range l {
		if l[i].node == node && l[i].res.JID == res.JID {
			l[i].res = res
			return
		}
	}
	c.remote[bare] = append(l, remoteEntry{node: node, res: res})
}

func (c *Cluster) remove(node string, full jid.JID) {
	bare := full.Bare().String()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.remote[bare]
	for i := range l {
		if l[i].node == node && l[i].res.JID == full {
			l = append(l[:i:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(c.remote, bare)
	} else {
		c.remote[bare] = l
	}
}

// remoteSink forwards stanzas to a resource on another node.
type remoteSink struct {
	c    *Cluster
	node string
	full jid.JID
}

func (s *remoteSink) Deliver(st *stanza.Element) bool {
	msg := appendString([]byte{wireVersion, kindDeliver}, s.full.String())
	msg = appendString(msg, string(MarshalStanza(st)))
	return s.c.link.SendPeer(s.node, msg) == nil
}

type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: truncated", errWire)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.err = fmt.Errorf("%w: truncated", errWire)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *wireReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated", errWire)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// parsePeer reads a stanza a peer serialized (ReadStored): peers are
// authenticated and applied their own stream limits, and depth and
// attributes are bounded as for the server's own stored stanzas, so that
// a stanza one node accepted is never dropped by the node it is forwarded
// to.
func (c *Cluster) parsePeer(x string) (*stanza.Element, error) {
	return ReadStored([]byte(x), StoredLimits(c.Limits))
}
