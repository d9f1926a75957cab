package mux

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// The peer channel: the cluster port's third channel (ChanPeer), for messages
// between nodes that do not go through Raft (the session tables of the
// delivery layer: who is connected where, and stanzas for them). It carries
// opaque messages; the layer above gives them meaning.
//
// There is one connection per pair of members: the member with the smaller
// ID dials the other, at the address in the Raft configuration, and redials
// (every peerPing) while the connection is down. After the cluster
// handshake (net.go) each side sends a hello frame naming its node ID;
// the listener refuses a dialer that is not in its latest configuration,
// and the dialer one that is not the member it meant to reach. Frames are
// frames (frame.go): a uint32 length, then a kind
// byte (peerFramePing, peerFrameHello, peerFrameMsg) and the body.
//
// Liveness. Both sides write a ping every peerPing and read with a
// deadline of peerTimeout: a peer that says nothing for that long, or whose
// connection fails, is disconnected. PeerUp is called every time a
// connection to a peer is established (first contact and every reconnect:
// the layer above resends its whole state then, since messages sent while
// the connection was down were lost). PeerDown is called when the peer has
// been disconnected for peerGrace without coming back, or at once when it
// leaves the configuration; a blip shorter than peerGrace costs a resync,
// not a PeerDown. A SIGKILLed process is seen within peerGrace (its kernel
// resets the connection); a machine that vanishes within peerTimeout +
// peerGrace.
//
// Ordering: the handler's calls for one peer never run concurrently and
// arrive in order (PeerUp, messages, PeerDown); calls for different peers
// may. Messages sent to one peer arrive in the order SendPeer accepted them.
//
// Back-pressure: SendPeer never blocks. Each connection has a writer
// draining a queue of peerQueue frames; when the queue is full the
// connection is cut (the peer is too slow or stuck), which the layer above
// sees as a reconnect and a resync, or as PeerDown if it does not come back.
// A message is never silently dropped while the connection stays up.

// PeerHandler receives what the peer channel brings. Its methods must not
// block for long: they run on the connection's reader.
type PeerHandler interface {
	// PeerMessage is a message from the member from. msg is the handler's
	// to keep.
	PeerMessage(from string, msg []byte)
	// PeerUp reports a new connection to the member id.
	PeerUp(id string)
	// PeerDown reports that the member id is gone: disconnected for longer
	// than a short grace, or out of the configuration.
	PeerDown(id string)
}

const (
	peerFramePing  byte = 0
	peerFrameHello byte = 1
	peerFrameMsg   byte = 2

	PeerPing    = time.Second
	PeerTimeout = 3 * time.Second
	PeerGrace   = 2 * time.Second
	PeerQueue   = 8192
)

// ErrPeerDown is returned by Send when there is no connection to the
// peer (unknown, down, or no cluster port).
var ErrPeerDown = errors.New("mux: peer not connected")

// Peers runs the peer channel of one node: it dials the members it should
// dial, accepts the others (Accept, from Net.Start's peer handler), and
// calls its PeerHandler.
type Peers struct {
	net    *Net
	log    *slog.Logger
	h      PeerHandler
	self   string
	config func() (map[string]string, error) // member ID -> cluster address
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	peers   map[string]*peerState
	members map[string]string // ID -> cluster address, the latest configuration
	closed  bool
}

// StartPeers starts the peer channel of the member self over cn. config
// returns the current members (ID to cluster address); it is read every
// PeerPing.
func StartPeers(cn *Net, self string, config func() (map[string]string, error), h PeerHandler, log *slog.Logger) *Peers {
	pm := &Peers{net: cn, log: log, h: h, self: self, config: config, peers: map[string]*peerState{}, done: make(chan struct{})}
	pm.refresh()
	pm.wg.Go(pm.loop)
	return pm
}

// Connected returns the IDs of the members connected now, sorted.
func (pm *Peers) Connected() []string {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	var out []string
	for id, ps := range pm.peers {
		if ps.conn != nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Drop cuts the connection to id, if any; it is redialed like any lost
// connection (a PeerUp and a resync follow, no PeerDown within PeerGrace).
func (pm *Peers) Drop(id string) {
	pm.mu.Lock()
	var pc *peerConn
	if ps := pm.peers[id]; ps != nil {
		pc = ps.conn
	}
	pm.mu.Unlock()
	if pc != nil {
		pc.fail()
	}
}

type peerState struct {
	id string
	cb sync.Mutex // held around every handler call for this peer

	// Guarded by Peers.mu.
	conn    *peerConn // nil while disconnected
	up      bool      // PeerUp was called and PeerDown not since (guarded by cb)
	timer   *time.Timer
	dialing bool
}

type peerConn struct {
	c    net.Conn
	out  chan []byte
	dead chan struct{}
	once sync.Once
}

func (pc *peerConn) fail() {
	pc.once.Do(func() {
		close(pc.dead)
		pc.c.Close()
	})
}

func peerFrame(kind byte, body []byte) []byte {
	f := FrameStart(make([]byte, 0, 5+len(body)))
	f = append(f, kind)
	f = append(f, body...)
	return FrameEnd(f, 0)
}

// loop follows the configuration and dials the members this node dials.
func (pm *Peers) loop() {
	t := time.NewTicker(PeerPing)
	defer t.Stop()
	for {
		pm.refresh()
		pm.mu.Lock()
		for id, addr := range pm.members {
			if id == pm.self || pm.self > id {
				continue // the other side dials
			}
			ps := pm.state(id)
			if ps.conn == nil && !ps.dialing {
				ps.dialing = true
				pm.wg.Go(func() { pm.dial(ps, addr) })
			}
		}
		var gone []*peerState
		for id, ps := range pm.peers {
			if _, ok := pm.members[id]; !ok {
				gone = append(gone, ps)
			}
		}
		pm.mu.Unlock()
		for _, ps := range gone {
			pm.removed(ps)
		}
		select {
		case <-t.C:
		case <-pm.done:
			return
		}
	}
}

// refresh reads the latest configuration.
func (pm *Peers) refresh() {
	m, err := pm.config()
	if err != nil {
		return
	}
	pm.mu.Lock()
	pm.members = m
	pm.mu.Unlock()
}

// state returns the entry for id, creating it; pm.mu is held.
func (pm *Peers) state(id string) *peerState {
	ps := pm.peers[id]
	if ps == nil {
		ps = &peerState{id: id}
		pm.peers[id] = ps
	}
	return ps
}

func (pm *Peers) dial(ps *peerState, addr string) {
	defer func() {
		pm.mu.Lock()
		ps.dialing = false
		pm.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
	defer cancel()
	c, err := pm.net.Dial(ctx, addr, ChanPeer)
	if err != nil {
		pm.log.Info("consensus: peer dial failed", "peer", ps.id, "err", err)
		return
	}
	c.SetDeadline(time.Now().Add(HandshakeTimeout))
	if _, err := c.Write(peerFrame(peerFrameHello, []byte(pm.self))); err != nil {
		c.Close()
		return
	}
	br := bufio.NewReaderSize(c, 64<<10)
	p, err := ReadFrame(br, nil)
	if err != nil || len(p) < 1 || p[0] != peerFrameHello || string(p[1:]) != ps.id {
		pm.log.Warn("consensus: peer hello refused or wrong", "peer", ps.id, "addr", addr, "err", err)
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	pm.wg.Go(func() { pm.run(ps, c, br) })
}

// Accept runs an inbound peer connection (Net.Start's peer handler).
func (pm *Peers) Accept(c net.Conn) {
	c.SetDeadline(time.Now().Add(HandshakeTimeout))
	br := bufio.NewReaderSize(c, 64<<10)
	p, err := ReadFrame(br, nil)
	if err != nil || len(p) < 1 || p[0] != peerFrameHello {
		c.Close()
		return
	}
	id := string(p[1:])
	pm.mu.Lock()
	_, member := pm.members[id]
	closed := pm.closed
	var ps *peerState
	if member && !closed && id != pm.self {
		ps = pm.state(id)
	}
	pm.mu.Unlock()
	if ps == nil {
		pm.log.Info("consensus: peer connection from a non-member refused", "peer", id)
		c.Close()
		return
	}
	if _, err := c.Write(peerFrame(peerFrameHello, []byte(pm.self))); err != nil {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	pm.run(ps, c, br)
}

// run makes c the connection to ps and serves it until it fails.
func (pm *Peers) run(ps *peerState, c net.Conn, br *bufio.Reader) {
	pc := &peerConn{c: c, out: make(chan []byte, PeerQueue), dead: make(chan struct{})}
	pm.mu.Lock()
	if pm.closed {
		pm.mu.Unlock()
		c.Close()
		return
	}
	old := ps.conn
	ps.conn = pc
	if ps.timer != nil {
		ps.timer.Stop()
		ps.timer = nil
	}
	pm.mu.Unlock()
	if old != nil {
		old.fail() // a redial replaces a connection the dialer gave up on
	}
	var wg sync.WaitGroup
	wg.Go(func() { pm.write(pc) })

	ps.cb.Lock()
	if pm.current(ps, pc) {
		ps.up = true
		pm.log.Info("consensus: peer up", "peer", ps.id, "remote", c.RemoteAddr().String())
		pm.h.PeerUp(ps.id)
	}
	ps.cb.Unlock()

	for {
		c.SetReadDeadline(time.Now().Add(PeerTimeout))
		p, err := ReadFrame(br, nil)
		if err != nil {
			break
		}
		if len(p) == 0 {
			break
		}
		if p[0] != peerFrameMsg {
			continue // ping
		}
		ps.cb.Lock()
		if pm.current(ps, pc) {
			pm.h.PeerMessage(ps.id, p[1:])
		}
		ps.cb.Unlock()
	}
	pc.fail()
	wg.Wait()
	pm.lost(ps, pc)
}

func (pm *Peers) current(ps *peerState, pc *peerConn) bool {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return ps.conn == pc && !pm.closed
}

func (pm *Peers) write(pc *peerConn) {
	bw := bufio.NewWriterSize(pc.c, 64<<10)
	t := time.NewTicker(PeerPing)
	defer t.Stop()
	ping := peerFrame(peerFramePing, nil)
	for {
		select {
		case f := <-pc.out:
			bw.Write(f)
			for more := true; more; {
				select {
				case f := <-pc.out:
					bw.Write(f)
				default:
					more = false
				}
			}
		case <-t.C:
			bw.Write(ping)
		case <-pc.dead:
			return
		}
		pc.c.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if err := bw.Flush(); err != nil {
			pc.fail()
			return
		}
	}
}

// lost starts the grace period after pc failed, unless another connection
// has replaced it.
func (pm *Peers) lost(ps *peerState, pc *peerConn) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if ps.conn != pc || pm.closed {
		return
	}
	ps.conn = nil
	ps.timer = time.AfterFunc(PeerGrace, func() { pm.expire(ps) })
}

// expire calls PeerDown if ps is still disconnected.
func (pm *Peers) expire(ps *peerState) {
	ps.cb.Lock()
	defer ps.cb.Unlock()
	pm.mu.Lock()
	down := ps.conn == nil && !pm.closed
	pm.mu.Unlock()
	if down && ps.up {
		ps.up = false
		pm.log.Info("consensus: peer down", "peer", ps.id)
		pm.h.PeerDown(ps.id)
	}
}

// removed cuts a peer that left the configuration and reports it down at
// once.
func (pm *Peers) removed(ps *peerState) {
	pm.mu.Lock()
	pc := ps.conn
	ps.conn = nil
	if ps.timer != nil {
		ps.timer.Stop()
		ps.timer = nil
	}
	if _, back := pm.members[ps.id]; !back && !ps.dialing {
		delete(pm.peers, ps.id)
	}
	pm.mu.Unlock()
	if pc != nil {
		pc.fail()
	}
	pm.expire(ps)
}

// Send queues msg for the member id. It never blocks; it fails with
// ErrPeerDown when id is not connected, and when the connection's queue is
// full (the connection is then cut).
func (pm *Peers) Send(id string, msg []byte) error {
	pm.mu.Lock()
	var pc *peerConn
	if ps := pm.peers[id]; ps != nil {
		pc = ps.conn
	}
	pm.mu.Unlock()
	if pc == nil {
		return fmt.Errorf("%w: %s", ErrPeerDown, id)
	}
	select {
	case pc.out <- peerFrame(peerFrameMsg, msg):
		return nil
	case <-pc.dead:
		return fmt.Errorf("%w: %s", ErrPeerDown, id)
	default:
		pm.log.Warn("consensus: peer queue full, cutting the connection", "peer", id)
		pc.fail()
		return fmt.Errorf("%w: %s: queue full", ErrPeerDown, id)
	}
}

// Close cuts every peer connection; no handler call follows.
func (pm *Peers) Close() {
	pm.mu.Lock()
	if pm.closed {
		pm.mu.Unlock()
		return
	}
	pm.closed = true
	close(pm.done)
	var all []*peerConn
	for _, ps := range pm.peers {
		if ps.conn != nil {
			all = append(all, ps.conn)
		}
		if ps.timer != nil {
			ps.timer.Stop()
		}
	}
	pm.mu.Unlock()
	for _, pc := range all {
		pc.fail()
	}
}

// Wait waits, after Close, for the peer channel's goroutines (dials and
// connections) to end; the Net's connections must be closing too.
func (pm *Peers) Wait() { pm.wg.Wait() }
