package mux

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// The cluster port: one TCP listener carries Raft's traffic, the
// forwarding channel and the peer channel. Every connection, in either direction,
// opens with a handshake that picks the channel and proves on both sides
// that the peer knows the shared cluster secret:
//
//	dialer   -> listener  channel (1 byte: 'R' Raft, 'F' forwarding, 'P' peer)
//	                      | version (1 byte, handshakeVersion)
//	                      | nonceD (32 random bytes)
//	listener -> dialer    nonceL (32 random bytes)
//	                      | HMAC-SHA256(secret, "herald cluster listener" 0 channel version nonceD nonceL)
//	dialer   -> listener  HMAC-SHA256(secret, "herald cluster dialer" 0 channel version nonceD nonceL)
//
// The dialer checks the listener's MAC before it sends its own, and the
// listener hands the connection to Raft or to the forwarding server only
// after checking the dialer's: a peer without the secret is closed before a
// byte of it reaches either. Both nonces are fresh, so a recorded handshake
// cannot be replayed, and the labels differ, so one side's MAC is never valid
// as the other's. The channel and version are inside the MACs.
//
// The handshake authenticates connections; it does not encrypt or
// integrity-protect what follows. The cluster port belongs on a private
// network (or a VPN, or a WireGuard mesh); see DESIGN.md.
const (
	// ChanRaft, ChanForward and ChanPeer are the channels a connection can
	// ask for: Raft's transport, the forwarding of operations to the leader
	// (Serve, Client) and the peer channel (Peers).
	ChanRaft    byte = 'R'
	ChanForward byte = 'F'
	ChanPeer    byte = 'P'

	handshakeVersion = 1
	nonceLen         = 32

	// HandshakeTimeout bounds a handshake, in both directions.
	HandshakeTimeout = 5 * time.Second
	// maxHandshakes bounds the handshakes in progress on the listener; more
	// connections are closed at once (an unauthenticated flood costs a
	// goroutine and a socket each, not more).
	maxHandshakes = 64
)

// MinSecretLen is the minimum length of the cluster secret.
const MinSecretLen = 16

var (
	// ErrAuth is returned when a cluster peer does not prove knowledge of
	// the cluster secret (or this node does not, to it).
	ErrAuth = errors.New("mux: cluster authentication failed")

	// ErrClosed is returned once the cluster port is closed.
	ErrClosed = errors.New("mux: cluster port closed")
	// ErrIsolated is returned while the port is isolated (Isolate, tests).
	ErrIsolated = errors.New("mux: cluster port isolated (test)")
)

// handshakeMAC computes one side's MAC over the handshake.
func handshakeMAC(secret []byte, side string, ch byte, nonceD, nonceL []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("herald cluster " + side))
	m.Write([]byte{0, ch, handshakeVersion})
	m.Write(nonceD)
	m.Write(nonceL)
	return m.Sum(nil)
}

// dialHandshake runs the dialer's side of the handshake on c.
func dialHandshake(c io.ReadWriter, secret []byte, ch byte) error {
	var hello [2 + nonceLen]byte
	hello[0], hello[1] = ch, handshakeVersion
	rand.Read(hello[2:])
	if _, err := c.Write(hello[:]); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	var reply [nonceLen + sha256.Size]byte
	if _, err := io.ReadFull(c, reply[:]); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	nonceL := reply[:nonceLen]
	if !hmac.Equal(reply[nonceLen:], handshakeMAC(secret, "listener", ch, hello[2:], nonceL)) {
		return fmt.Errorf("%w: the peer does not know the cluster secret", ErrAuth)
	}
	if _, err := c.Write(handshakeMAC(secret, "dialer", ch, hello[2:], nonceL)); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	return nil
}

// acceptHandshake runs the listener's side of the handshake on c and returns
// the channel the dialer asked for.
func acceptHandshake(c io.ReadWriter, secret []byte) (byte, error) {
	var hello [2 + nonceLen]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		return 0, fmt.Errorf("handshake: %w", err)
	}
	ch := hello[0]
	if ch != ChanRaft && ch != ChanForward && ch != ChanPeer {
		return 0, fmt.Errorf("handshake: unknown channel %#x", ch)
	}
	if hello[1] != handshakeVersion {
		return 0, fmt.Errorf("handshake: version %d, want %d", hello[1], handshakeVersion)
	}
	var reply [nonceLen + sha256.Size]byte
	rand.Read(reply[:nonceLen])
	copy(reply[nonceLen:], handshakeMAC(secret, "listener", ch, hello[2:], reply[:nonceLen]))
	if _, err := c.Write(reply[:]); err != nil {
		return 0, fmt.Errorf("handshake: %w", err)
	}
	var mac [sha256.Size]byte
	if _, err := io.ReadFull(c, mac[:]); err != nil {
		return 0, fmt.Errorf("handshake: %w", err)
	}
	if !hmac.Equal(mac[:], handshakeMAC(secret, "dialer", ch, hello[2:], reply[:nonceLen])) {
		return 0, fmt.Errorf("%w: the peer does not know the cluster secret", ErrAuth)
	}
	return ch, nil
}

// Net is the cluster port: the listener, the dialer, and every
// authenticated connection in either direction (so that Close, and the
// tests' Isolate, can cut them all).
type Net struct {
	ln     net.Listener
	addr   string // advertised host:port, also this node's Raft address
	secret []byte
	log    *slog.Logger

	raftc      chan net.Conn // authenticated Raft connections for raftLayer.Accept
	raftClosed chan struct{}
	raftOnce   sync.Once
	serveFwd   func(net.Conn) // runs one forwarding connection
	servePeer  func(net.Conn) // runs one peer connection
	hs         chan struct{}  // handshake slots

	mu       sync.Mutex
	conns    map[*clusterConn]struct{}
	isolated bool
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup

	authFailures atomic.Int64 // handshakes refused for a wrong MAC
	raftAccepted atomic.Int64 // authenticated connections handed to Raft
}

// Listen binds the cluster port. advertise is the address the other
// nodes dial; empty means the bound address, which must then name a host.
// Nothing is accepted before Start.
func Listen(bind, advertise string, secret []byte, log *slog.Logger) (*Net, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("mux: cluster port: %w", err)
	}
	if advertise == "" {
		advertise = ln.Addr().String()
		if ap, err := netip.ParseAddrPort(advertise); err == nil && ap.Addr().IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("mux: cluster port %s binds every interface: set an advertised address", advertise)
		}
	}
	if _, _, err := net.SplitHostPort(advertise); err != nil {
		ln.Close()
		return nil, fmt.Errorf("mux: advertised address %q: %w", advertise, err)
	}
	return &Net{
		ln: ln, addr: advertise, secret: secret, log: log,
		raftc:      make(chan net.Conn),
		raftClosed: make(chan struct{}),
		hs:         make(chan struct{}, maxHandshakes),
		conns:      map[*clusterConn]struct{}{},
		done:       make(chan struct{}),
	}, nil
}

// Start accepts connections until Close: Raft's go to RaftLayer's Accept,
// serveFwd runs each forwarding connection and servePeer each peer
// connection, on the accepting goroutine of that connection.
func (cn *Net) Start(serveFwd, servePeer func(net.Conn)) {
	cn.serveFwd, cn.servePeer = serveFwd, servePeer
	cn.wg.Go(cn.acceptLoop)
}

func (cn *Net) acceptLoop() {
	var delay time.Duration
	for {
		c, err := cn.ln.Accept()
		if err != nil {
			select {
			case <-cn.done:
				return
			default:
			}
			// Out of file descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			cn.log.Warn("consensus: cluster port accept", "err", err)
			select {
			case <-time.After(delay):
			case <-cn.done:
				return
			}
			continue
		}
		delay = 0
		cn.mu.Lock()
		isolated := cn.isolated
		cn.mu.Unlock()
		if isolated {
			c.Close()
			continue
		}
		select {
		case cn.hs <- struct{}{}:
		default:
			c.Close() // too many handshakes in progress
			continue
		}
		cn.wg.Go(func() { cn.handle(c) })
	}
}

// handle authenticates one inbound connection and hands it to its channel.
func (cn *Net) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(HandshakeTimeout))
	ch, err := acceptHandshake(c, cn.secret)
	<-cn.hs
	if err != nil {
		if errors.Is(err, ErrAuth) {
			cn.authFailures.Add(1)
			cn.log.Warn("consensus: cluster connection refused", "remote", c.RemoteAddr().String(), "err", err)
		} else {
			cn.log.Debug("consensus: cluster handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		}
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	tc, err := cn.track(c)
	if err != nil {
		return
	}
	switch ch {
	case ChanRaft:
		select {
		case cn.raftc <- tc:
			cn.raftAccepted.Add(1)
		case <-cn.raftClosed:
			tc.Close()
		case <-cn.done:
			tc.Close()
		}
	case ChanForward:
		cn.serveFwd(tc)
	case ChanPeer:
		cn.servePeer(tc)
	}
}

// Dial connects to a cluster peer on channel ch and authenticates.
func (cn *Net) Dial(ctx context.Context, addr string, ch byte) (net.Conn, error) {
	cn.mu.Lock()
	closed, isolated := cn.closed, cn.isolated
	cn.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case isolated:
		return nil, ErrIsolated
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetDeadline(deadline)
	if err := dialHandshake(c, cn.secret, ch); err != nil {
		c.Close()
		return nil, fmt.Errorf("mux: cluster peer %s: %w", addr, err)
	}
	c.SetDeadline(time.Time{})
	tc, err := cn.track(c)
	if err != nil {
		return nil, err
	}
	return tc, nil
}

// track registers an authenticated connection, or closes it when the port is
// closed or isolated.
func (cn *Net) track(c net.Conn) (*clusterConn, error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed || cn.isolated {
		c.Close()
		if cn.closed {
			return nil, ErrClosed
		}
		return nil, ErrIsolated
	}
	tc := &clusterConn{Conn: c, cn: cn}
	cn.conns[tc] = struct{}{}
	return tc, nil
}

// Isolate cuts this node off the network (tests: a partition): it closes
// every cluster connection and refuses new ones, in and out, until called
// with false.
func (cn *Net) Isolate(on bool) {
	cn.mu.Lock()
	cn.isolated = on
	var cut []*clusterConn
	if on {
		for c := range cn.conns {
			cut = append(cut, c)
		}
	}
	cn.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// Close closes the listener and every connection, and waits for the
// handlers.
func (cn *Net) Close() error {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return nil
	}
	cn.closed = true
	close(cn.done)
	var all []*clusterConn
	for c := range cn.conns {
		all = append(all, c)
	}
	cn.mu.Unlock()
	err := cn.ln.Close()
	for _, c := range all {
		c.Close()
	}
	cn.wg.Wait()
	return err
}

// clusterConn is an authenticated connection; Close forgets it.
type clusterConn struct {
	net.Conn
	cn   *Net
	once sync.Once
}

func (c *clusterConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.cn.mu.Lock()
		delete(c.cn.conns, c)
		c.cn.mu.Unlock()
	})
	return err
}

// RaftLayer returns Raft's view of the port, for raft.NewNetworkTransport.
func (cn *Net) RaftLayer() raft.StreamLayer { return raftLayer{cn} }

// raftLayer is Raft's view of the cluster port: the authenticated
// connections that asked for the Raft channel, and a dialer for it.
type raftLayer struct{ cn *Net }

var _ raft.StreamLayer = raftLayer{}

func (l raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.cn.raftc:
		return c, nil
	case <-l.cn.raftClosed:
		return nil, ErrClosed
	}
}

// Close stops Accept; the listener itself belongs to the Net.
func (l raftLayer) Close() error {
	l.cn.raftOnce.Do(func() { close(l.cn.raftClosed) })
	return nil
}

// Addr is the advertised address: Raft puts it in the configuration.
func (l raftLayer) Addr() net.Addr { return advertAddr(l.cn.addr) }

func (l raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.cn.Dial(ctx, string(addr), ChanRaft)
}

type advertAddr string

func (a advertAddr) Network() string { return "tcp" }
func (a advertAddr) String() string  { return string(a) }

// WrapListener replaces the listener with wrap(listener) (a connection
// gate, metrics). Call it before Start.
func (cn *Net) WrapListener(wrap func(net.Listener) net.Listener) { cn.ln = wrap(cn.ln) }

// Addr is the advertised address (host:port), also the node's Raft address.
func (cn *Net) Addr() string { return cn.addr }

// BoundAddr is the address the listener is bound to.
func (cn *Net) BoundAddr() net.Addr { return cn.ln.Addr() }

// AuthFailures counts inbound handshakes refused for a wrong MAC.
func (cn *Net) AuthFailures() int64 { return cn.authFailures.Load() }

// RaftAccepted counts authenticated inbound connections handed to Raft.
func (cn *Net) RaftAccepted() int64 { return cn.raftAccepted.Load() }
