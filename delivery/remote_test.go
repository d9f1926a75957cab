package delivery

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// fakeNet is an in-memory peer channel between Clusters: SendPeer hands the
// message to the destination's PeerMessage at once, in order.
type fakeNet struct {
	mu    sync.Mutex
	nodes map[string]*Cluster
	up    map[[2]string]bool // directed links that are connected
}

type fakeLink struct {
	net *fakeNet
	id  string
}

func (l *fakeLink) ID() string { return l.id }

func (l *fakeLink) SendPeer(id string, msg []byte) error {
	l.net.mu.Lock()
	dst, ok := l.net.nodes[id], l.net.up[[2]string{l.id, id}]
	l.net.mu.Unlock()
	if !ok || dst == nil {
		return errors.New("fake: down")
	}
	dst.PeerMessage(l.id, slices.Clone(msg))
	return nil
}

func (l *fakeLink) Peers() []string {
	l.net.mu.Lock()
	defer l.net.mu.Unlock()
	var out []string
	for k, on := range l.net.up {
		if on && k[0] == l.id {
			out = append(out, k[1])
		}
	}
	slices.Sort(out)
	return out
}

// node is one cluster node of the fake: a router over its registry.
type node struct {
	id       string
	r        *Router
	c        *Cluster
	off      *offline
	departed []Resource
}

func newFakeNet() *fakeNet {
	return &fakeNet{nodes: map[string]*Cluster{}, up: map[[2]string]bool{}}
}

func (n *fakeNet) add(id string) *node {
	acc := accounts{"alice@example.org": true, "bob@example.org": true}
	reg := NewRegistry()
	nd := &node{id: id, off: &offline{}}
	nd.c = NewCluster(reg, &fakeLink{net: n, id: id})
	nd.c.Departed = func(r Resource) { nd.departed = append(nd.departed, r) }
	nd.r = &Router{Domains: map[string]bool{"example.org": true}, Registry: reg, Accounts: acc, Offline: nd.off}
	n.mu.Lock()
	n.nodes[id] = nd.c
	n.mu.Unlock()
	return nd
}

// connect links a and b both ways and runs PeerUp on both sides.
func (n *fakeNet) connect(a, b *node) {
	n.mu.Lock()
	n.up[[2]string{a.id, b.id}] = true
	n.up[[2]string{b.id, a.id}] = true
	n.mu.Unlock()
	a.c.PeerUp(b.id)
	b.c.PeerUp(a.id)
}

// cut disconnects a and b and reports each down to the other.
func (n *fakeNet) cut(a, b *node) {
	n.mu.Lock()
	delete(n.up, [2]string{a.id, b.id})
	delete(n.up, [2]string{b.id, a.id})
	n.mu.Unlock()
	a.c.PeerDown(b.id)
	b.c.PeerDown(a.id)
}

func bindAt(t *testing.T, nd *node, full string, prio *int8) *sink {
	t.Helper()
	s := &sink{}
	j := jid.MustParse(full)
	if _, _, ok := nd.r.Registry.Bind(j, s, ConflictRefuse, nil); !ok {
		t.Fatalf("bind %s on %s failed", full, nd.id)
	}
	if prio != nil {
		pres := stanza.NewElement(stanza.NSClient, "presence").Append(stanza.NewElement(stanza.NSClient, "status").AppendText("here"))
		nd.r.Registry.Update(j, func(r *Resource) { r.Available = true; r.Priority = *prio; r.Presence = pres })
	}
	return s
}

func TestClusterRouteAcrossNodes(t *testing.T) {
	net := newFakeNet()
	a, b := net.add("a"), net.add("b")
	net.connect(a, b)
	alice := bindAt(t, a, "alice@example.org/home", p(0))
	bob := bindAt(t, b, "bob@example.org/work", p(5))

	// A sees bob's resource, with its state and presence.
	list := a.r.Registry.Resources(nil, jid.MustParse("bob@example.org"))
	if len(list) != 1 || !list[0].Available || list[0].Priority != 5 || list[0].Presence == nil ||
		list[0].Presence.Child("", "status").Text() != "here" {
		t.Fatalf("A's view of bob: %+v", list)
	}

	// A message to the bare JID and one to the full JID reach B's session.
	a.r.Route(msg("alice@example.org/home", "bob@example.org", "chat", "hi"), jid.MustParse("alice@example.org/home"), jid.MustParse("bob@example.org"))
	a.r.Route(msg("alice@example.org/home", "bob@example.org/work", "chat", "again"), jid.MustParse("alice@example.org/home"), jid.MustParse("bob@example.org/work"))
	got := bob.Take()
	if len(got) != 2 || !strings.Contains(got[0], "<body>hi</body>") || !strings.Contains(got[1], "<body>again</body>") {
		t.Fatalf("bob got %q", got)
	}
	if len(a.off.stored) != 0 {
		t.Errorf("stored offline: %v", a.off.stored)
	}
	// And back.
	b.r.Route(msg("bob@example.org/work", "alice@example.org", "chat", "yo"), jid.MustParse("bob@example.org/work"), jid.MustParse("alice@example.org"))
	if got := alice.Take(); len(got) != 1 || !strings.Contains(got[0], "yo") {
		t.Fatalf("alice got %q", got)
	}

	// Unavailable on B: A no longer sends bob messages; they go offline.
	b.r.Registry.Update(jid.MustParse("bob@example.org/work"), func(r *Resource) { r.Available = false; r.Presence = nil })
	a.r.Route(msg("alice@example.org/home", "bob@example.org", "chat", "later"), jid.MustParse("alice@example.org/home"), jid.MustParse("bob@example.org"))
	if got := bob.Take(); len(got) != 0 {
		t.Errorf("unavailable bob got %q", got)
	}
	if len(a.off.stored) != 1 {
		t.Errorf("stored offline: %v", a.off.stored)
	}
	// Unbind on B: gone from A.
	b.r.Registry.Unbind(jid.MustParse("bob@example.org/work"), bob)
	if l := a.r.Registry.Resources(nil, jid.MustParse("bob@example.org")); len(l) != 0 {
		t.Errorf("A still sees %+v", l)
	}
}

func TestClusterPresenceBothNodes(t *testing.T) {
	net := newFakeNet()
	a, b := net.add("a"), net.add("b")
	net.connect(a, b)
	bindAt(t, a, "alice@example.org/home", p(0))
	bobA := bindAt(t, a, "bob@example.org/phone", p(0))
	bobB := bindAt(t, b, "bob@example.org/desk", p(1))
	idle := bindAt(t, b, "bob@example.org/idle", nil) // not available: no broadcast
	pres := stanza.NewElement(stanza.NSClient, "presence").Set("from", "alice@example.org/home").Set("to", "bob@example.org")
	a.r.Route(pres, jid.MustParse("alice@example.org/home"), jid.MustParse("bob@example.org"))
	if len(bobA.Take()) != 1 || len(bobB.Take()) != 1 {
		t.Error("presence did not reach both of bob's available resources")
	}
	if len(idle.Take()) != 0 {
		t.Error("an unavailable resource got presence")
	}
}

func TestClusterPeerDown(t *testing.T) {
	net := newFakeNet()
	a, b, c := net.add("a"), net.add("b"), net.add("c")
	net.connect(a, b)
	net.connect(a, c)
	net.connect(b, c)
	bindAt(t, c, "bob@example.org/desk", p(0))
	bindAt(t, c, "bob@example.org/idle", nil)
	for _, nd := range []*node{a, b} {
		if l := nd.r.Registry.Resources(nil, jid.MustParse("bob@example.org")); len(l) != 2 {
			t.Fatalf("%s sees %d of bob's resources", nd.id, len(l))
		}
	}
	// c dies: a and b drop its entries; a alone, the smallest ID left,
	// reports the available resource.
	net.cut(a, c)
	net.cut(b, c)
	for _, nd := range []*node{a, b} {
		if l := nd.r.Registry.Resources(nil, jid.MustParse("bob@example.org")); len(l) != 0 {
			t.Errorf("%s still sees %+v", nd.id, l)
		}
	}
	if len(a.departed) != 1 || a.departed[0].JID.String() != "bob@example.org/desk" {
		t.Errorf("a departed = %+v", a.departed)
	}
	if len(b.departed) != 0 {
		t.Errorf("b departed = %+v", b.departed)
	}
}

func TestClusterResyncAndConflict(t *testing.T) {
	net := newFakeNet()
	a, b := net.add("a"), net.add("b")
	bindAt(t, b, "bob@example.org/desk", p(0)) // before the link is up
	net.connect(a, b)
	if _, ok := a.r.Registry.Get(jid.MustParse("bob@example.org/desk")); !ok {
		t.Fatal("the resync on PeerUp did not carry bob/desk")
	}
	full := jid.MustParse("bob@example.org/desk")
	if _, _, ok := a.r.Registry.Bind(full, &sink{}, ConflictRefuse, nil); ok {
		t.Error("refuse bound a full JID bound on another node")
	}
	bound, old, ok := a.r.Registry.Bind(full, &sink{}, ConflictReplace, func() string { return "x1" })
	if !ok || old != nil || bound.String() != "bob@example.org/x1" {
		t.Errorf("replace across nodes = %v %v %v, want a rename", bound, old, ok)
	}
	// A reset from b forgets what b announced before it.
	b.c.link.SendPeer("a", []byte{wireVersion, kindReset})
	if _, ok := a.r.Registry.Get(full); ok {
		t.Error("reset kept b's entries")
	}
}

func FuzzClusterMessage(f *testing.F) {
	res := Resource{JID: jid.MustParse("bob@example.org/desk"), Available: true, Priority: -3,
		Presence: stanza.NewElement(stanza.NSClient, "presence").Append(stanza.NewElement(stanza.NSClient, "show").AppendText("away"))}
	f.Add(appendEntry([]byte{wireVersion, kindUpsert, 1}, res))
	f.Add(appendString([]byte{wireVersion, kindDown}, "bob@example.org/desk"))
	f.Add(appendString(appendString([]byte{wireVersion, kindDeliver}, "bob@example.org/desk"), "<message><body>x</body></message>"))
	f.Add([]byte{wireVersion, kindReset})
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := NewCluster(NewRegistry(), &fakeLink{net: newFakeNet(), id: "a"})
		c.handle("b", msg)
		c.PeerDown("b")
	})
}

// The carbons flag of a resource is known on the other nodes.
func TestClusterCarbonsFlag(t *testing.T) {
	net := newFakeNet()
	a, b := net.add("a"), net.add("b")
	net.connect(a, b)
	bindAt(t, a, "alice@example.org/home", p(0))
	full := jid.MustParse("alice@example.org/home")
	a.r.Registry.Update(full, func(r *Resource) { r.Carbons = true })
	if r, ok := b.r.Registry.Get(full); !ok || !r.Carbons || !r.Available {
		t.Fatalf("B's view after enabling: %+v %v", r, ok)
	}
	a.r.Registry.Update(full, func(r *Resource) { r.Carbons = false })
	if r, _ := b.r.Registry.Get(full); r.Carbons {
		t.Fatalf("B still sees carbons enabled")
	}
	// A node that joins later learns it from the full resync.
	a.r.Registry.Update(full, func(r *Resource) { r.Carbons = true })
	c := net.add("c")
	net.connect(a, c)
	if r, ok := c.r.Registry.Get(full); !ok || !r.Carbons {
		t.Fatalf("C's view after resync: %+v %v", r, ok)
	}
}
