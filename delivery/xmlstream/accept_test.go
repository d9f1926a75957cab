package xmlstream

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// emfileListener fails its first n accepts as a process out of file
// descriptors does, then hands out one end of a pipe.
type emfileListener struct {
	n      int
	closed chan struct{}
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.n > 0 {
		l.n--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	close(l.closed)
	c, _ := net.Pipe()
	return c, nil
}
func (l *emfileListener) Close() error   { return nil }
func (l *emfileListener) Addr() net.Addr { return &net.TCPAddr{} }

// Running out of file descriptors is temporary: the loop keeps accepting
// instead of returning, and serves the next connection.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	ln := &emfileListener{n: 5, closed: make(chan struct{})}
	got := make(chan net.Conn, 1)
	done := make(chan error, 1)
	go func() { done <- Accept(ln, func(c net.Conn) { got <- c }) }()
	select {
	case c := <-got:
		c.Close()
	case err := <-done:
		t.Fatalf("Accept gave up on EMFILE: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no connection accepted after EMFILE")
	}
	if err := <-done; err != net.ErrClosed {
		t.Fatalf("Accept returned %v, want net.ErrClosed", err)
	}
}
