package gate

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a settable clock for the rate and ban windows.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// served is a real TCP listener behind a gate, its accepted connections
// on a channel.
type served struct {
	ln       net.Listener
	accepted chan net.Conn
}

func serve(t *testing.T, g *Gate, class Class) *served {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{ln: g.Listener(raw, class), accepted: make(chan net.Conn, 100)}
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.accepted <- c
		}
	}()
	t.Cleanup(func() { s.ln.Close() })
	return s
}

// dial connects from local (a loopback address) and reports whether the
// gate let the connection in (the server side, or nil when it was
// closed at once).
func (s *served) dial(t *testing.T, local string) (client, server net.Conn) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	closed := make(chan struct{})
	go func() {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		var b [1]byte
		c.Read(b[:])
		close(closed)
	}()
	select {
	case sc := <-s.accepted:
		t.Cleanup(func() { sc.Close() })
		return c, sc
	case <-closed:
		return c, nil
	case <-time.After(30 * time.Second):
		t.Fatal("connection neither accepted nor refused")
	}
	return nil, nil
}

func TestUnauthenticatedPerAddress(t *testing.T) {
	g := New(Config{UnauthPerAddr: 3, RatePerAddr: 1000, RateBurst: 1000, Log: quiet()})
	s := serve(t, g, Client)
	var first net.Conn
	for i := range 3 {
		_, sc := s.dial(t, "127.0.0.1")
		if sc == nil {
			t.Fatalf("connection %d refused under the limit", i+1)
		}
		if i == 0 {
			first = sc
		}
	}
	if _, sc := s.dial(t, "127.0.0.1"); sc != nil {
		t.Fatal("a fourth unauthenticated connection from one address was let in")
	}
	if got := g.Stats().Refused[ReasonUnauth]; got != 1 {
		t.Fatalf("refusals counted %d, want 1", got)
	}
	// Another address has its own count.
	if _, sc := s.dial(t, "127.0.0.2"); sc == nil {
		t.Fatal("another address was refused")
	}
	// An authenticated connection frees its place; so does a closed one.
	Authenticated(first)
	if _, sc := s.dial(t, "127.0.0.1"); sc == nil {
		t.Fatal("refused after a connection authenticated")
	}
	if _, sc := s.dial(t, "127.0.0.1"); sc != nil {
		t.Fatal("limit not restored")
	}
	first.Close() // authenticated already: frees no unauthenticated place
	if _, sc := s.dial(t, "127.0.0.1"); sc != nil {
		t.Fatal("closing an authenticated connection freed an unauthenticated place")
	}
}

func TestExemptAddresses(t *testing.T) {
	g := New(Config{UnauthPerAddr: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Log: quiet()})
	s := serve(t, g, Client)
	for i := range 5 {
		if _, sc := s.dial(t, "127.0.0.1"); sc == nil {
			t.Fatalf("exempt connection %d refused", i+1)
		}
	}
}

func TestRatePerAddress(t *testing.T) {
	clk := newClock()
	g := New(Config{RatePerAddr: 1, RateBurst: 2, Log: quiet(), Now: clk.now})
	s := serve(t, g, Server)
	for range 2 {
		if _, sc := s.dial(t, "127.0.0.1"); sc == nil {
			t.Fatal("refused within the burst")
		}
	}
	if _, sc := s.dial(t, "127.0.0.1"); sc != nil {
		t.Fatal("a connection past the burst was let in")
	}
	if got := g.Stats().Refused[ReasonRate]; got != 1 {
		t.Fatalf("rate refusals %d, want 1", got)
	}
	clk.add(time.Second)
	if _, sc := s.dial(t, "127.0.0.1"); sc == nil {
		t.Fatal("refused after the bucket refilled")
	}
}

// The ceiling refuses clients first and keeps a reserve for servers.
func TestCeilingKeepsReserve(t *testing.T) {
	g := New(Config{MaxClients: 2, Reserve: 1, RatePerAddr: 1000, RateBurst: 1000, Log: quiet()})
	cs, ss := serve(t, g, Client), serve(t, g, Server)
	for range 2 {
		if _, sc := cs.dial(t, "127.0.0.1"); sc == nil {
			t.Fatal("client refused under the ceiling")
		}
	}
	if _, sc := cs.dial(t, "127.0.0.2"); sc != nil {
		t.Fatal("client let in past the ceiling")
	}
	_, srv := ss.dial(t, "127.0.0.3")
	if srv == nil {
		t.Fatal("server connection refused within the reserve")
	}
	if _, sc := ss.dial(t, "127.0.0.3"); sc != nil {
		t.Fatal("server connection let in past the reserve")
	}
	if got := g.Stats().Refused[ReasonCeiling]; got != 2 {
		t.Fatalf("ceiling refusals %d, want 2", got)
	}
	srv.Close()
	if st := g.Stats(); st.Open != 2 || st.Clients != 2 {
		t.Fatalf("open %d clients %d after a close, want 2 and 2", st.Open, st.Clients)
	}
}

// failing fails its first n accepts with EMFILE.
type failing struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (f *failing) Accept() (net.Conn, error) {
	f.mu.Lock()
	if f.n > 0 {
		f.n--
		f.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

func TestAcceptRetriesTemporaryFailures(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := New(Config{Log: quiet(), MaxAcceptDelay: 20 * time.Millisecond})
	ln := g.Listener(&failing{Listener: raw, n: 7}, Client)
	defer ln.Close()
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	sc.Close()
	if got := g.Stats().AcceptErrors; got != 7 {
		t.Fatalf("accept errors counted %d, want 7", got)
	}
	ln.Close()
	if _, err := ln.Accept(); err == nil {
		t.Fatal("Accept on a closed listener succeeded")
	}
}

// A gated TCP connection still half-closes: the peer reads EOF while
// the connection stays open for reading.
func TestCloseWrite(t *testing.T) {
	g := New(Config{Log: quiet()})
	s := serve(t, g, Client)
	c, sc := s.dial(t, "127.0.0.1")
	if sc == nil {
		t.Fatal("refused")
	}
	if err := sc.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read %d, %v after CloseWrite, want EOF", n, err)
	}
	c.Write([]byte("x"))
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _ := sc.Read(make([]byte, 1)); n != 1 {
		t.Fatal("the half-closed connection no longer reads")
	}
}
