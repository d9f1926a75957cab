package consensus

import (
	"fmt"
	"github.com/heraldxmpp/herald/consensus/mux"
	"slices"
	"sync"
	"testing"
	"time"
)

// recHandler records what the peer channel reports.
type recHandler struct {
	mu     sync.Mutex
	msgs   []string
	ups    []string
	downs  []string
	onUp   func(id string)
	events []string
}

func (h *recHandler) PeerMessage(from string, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, from+":"+string(msg))
	h.events = append(h.events, "msg "+from)
}

func (h *recHandler) PeerUp(id string) {
	h.mu.Lock()
	h.ups = append(h.ups, id)
	h.events = append(h.events, "up "+id)
	f := h.onUp
	h.mu.Unlock()
	if f != nil {
		f(id)
	}
}

func (h *recHandler) PeerDown(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.downs = append(h.downs, id)
	h.events = append(h.events, "down "+id)
}

func (h *recHandler) snapshot() (msgs, ups, downs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs), slices.Clone(h.ups), slices.Clone(h.downs)
}

func TestPeerChannel(t *testing.T) {
	c := newCluster(t, 3)
	hs := make([]*recHandler, 3)
	for i, n := range c.nodes {
		hs[i] = &recHandler{}
		n.SetPeerHandler(hs[i])
	}
	for i, n := range c.nodes {
		waitFor(t, fmt.Sprintf("n%d sees both peers", i+1), func() bool { return len(n.Peers()) == 2 })
	}
	// Messages arrive, in order.
	for k := range 100 {
		if err := c.nodes[0].SendPeer("n2", fmt.Appendf(nil, "m%d", k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.nodes[2].SendPeer("n1", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 gets 100 messages", func() bool { m, _, _ := hs[1].snapshot(); return len(m) == 100 })
	m, _, _ := hs[1].snapshot()
	for k, s := range m {
		if want := fmt.Sprintf("n1:m%d", k); s != want {
			t.Fatalf("message %d = %q, want %q", k, s, want)
		}
	}
	waitFor(t, "n1 gets hello", func() bool { m, _, _ := hs[0].snapshot(); return slices.Contains(m, "n3:hello") })
	if err := c.nodes[0].SendPeer("nobody", nil); err == nil {
		t.Error("SendPeer to a non-member succeeded")
	}

	// A node that stops is reported down by the others after the grace.
	stopped := time.Now()
	c.stop(2)
	for i := range 2 {
		waitFor(t, fmt.Sprintf("n%d reports n3 down", i+1), func() bool {
			_, _, d := hs[i].snapshot()
			return slices.Contains(d, "n3")
		})
	}
	if took := time.Since(stopped); took < mux.PeerGrace/2 {
		t.Errorf("PeerDown after %s, before the grace", took)
	}
	if p := c.nodes[0].Peers(); !slices.Equal(p, []string{"n2"}) {
		t.Errorf("n1 peers = %v", p)
	}
	// It comes back: PeerUp again.
	c.start(2)
	h3 := &recHandler{}
	c.nodes[2].SetPeerHandler(h3)
	waitFor(t, "n1 sees n3 again", func() bool { return len(c.nodes[0].Peers()) == 2 })
	_, ups, _ := hs[0].snapshot()
	if n := countOf(ups, "n3"); n < 2 {
		t.Errorf("n1 PeerUp(n3) %d times, want 2 or more", n)
	}
}

// TestPeerBlip: a connection cut shorter than the grace costs a PeerUp
// (resync), not a PeerDown.
func TestPeerBlip(t *testing.T) {
	c := newCluster(t, 2)
	h1, h2 := &recHandler{}, &recHandler{}
	c.nodes[0].SetPeerHandler(h1)
	c.nodes[1].SetPeerHandler(h2)
	waitFor(t, "connected", func() bool { return len(c.nodes[0].Peers()) == 1 && len(c.nodes[1].Peers()) == 1 })
	c.nodes[0].peerMgr().Drop("n2")
	waitFor(t, "reconnected", func() bool {
		_, ups, _ := h1.snapshot()
		return countOf(ups, "n2") >= 2
	})
	time.Sleep(mux.PeerGrace + 500*time.Millisecond)
	if _, _, d := h1.snapshot(); len(d) != 0 {
		t.Errorf("n1 PeerDown %v after a blip", d)
	}
	if _, _, d := h2.snapshot(); len(d) != 0 {
		t.Errorf("n2 PeerDown %v after a blip", d)
	}
}

// TestPeerAuth: a peer connection without the secret is refused before the
// handler hears of it.
func TestPeerAuth(t *testing.T) {
	c := newCluster(t, 1)
	h := &recHandler{}
	c.nodes[0].SetPeerHandler(h)
	other, err := mux.Listen("127.0.0.1:0", "", []byte("another-secret-0123456789abcdef"), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Dial(ctxPatience(t), c.nodes[0].net.Addr(), mux.ChanPeer); err == nil {
		t.Fatal("dial with the wrong secret succeeded")
	}
	// Right secret, but not a member: the hello is refused.
	good, err := mux.Listen("127.0.0.1:0", "", testSecret, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	conn, err := good.Dial(ctxPatience(t), c.nodes[0].net.Addr(), mux.ChanPeer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(mux.FrameEnd(append(mux.FrameStart(nil), append([]byte{1}, "intruder"...)...), 0)) // a hello
	conn.SetReadDeadline(time.Now().Add(patience))
	if _, err := mux.ReadFrame(conn, nil); err == nil {
		t.Error("a non-member got a hello back")
	}
	if _, ups, _ := h.snapshot(); len(ups) != 0 {
		t.Errorf("PeerUp %v", ups)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestPeerRemoved: a member taken out of the configuration is reported
// down by the others without waiting for its link to fail.
func TestPeerRemoved(t *testing.T) {
	c := newCluster(t, 3)
	hs := make([]*recHandler, 3)
	for i, n := range c.nodes {
		hs[i] = &recHandler{}
		n.SetPeerHandler(hs[i])
	}
	for i, n := range c.nodes {
		waitFor(t, fmt.Sprintf("n%d sees both peers", i+1), func() bool { return len(n.Peers()) == 2 })
	}
	if err := c.nodes[0].Remove(ctxPatience(t), "n3"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		waitFor(t, fmt.Sprintf("n%d reports n3 down", i+1), func() bool {
			_, _, d := hs[i].snapshot()
			return slices.Contains(d, "n3")
		})
		if p := c.nodes[i].Peers(); slices.Contains(p, "n3") {
			t.Errorf("n%d still connected to n3: %v", i+1, p)
		}
	}
}
