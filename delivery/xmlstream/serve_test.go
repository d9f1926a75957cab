package xmlstream

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// stuck is a stream that ignores Kick: only Abort ends it.
type stuck struct {
	t      *Streams[*stuck]
	nc     net.Conn
	kicked chan *StreamError
}

func (c *stuck) Kick(e *StreamError) { c.kicked <- e }
func (c *stuck) Abort()              { c.nc.Close() }

func (c *stuck) run() {
	defer c.t.Done(c)
	c.nc.Read(make([]byte, 1)) // until Abort closes it
}

// TestStreamsShutdown: Shutdown stops the listener, kicks every stream
// with <system-shutdown/>, refuses new goroutines, and once its context
// expires aborts the streams still open and reports the context's error.
func TestStreamsShutdown(t *testing.T) {
	var s Streams[*stuck]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kicked := make(chan *StreamError, 1)
	served := make(chan error, 1)
	go func() {
		served <- s.Serve(ln, func(nc net.Conn) *stuck {
			return &stuck{t: &s, nc: nc, kicked: kicked}
		}, (*stuck).run)
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	waitFor(t, "the stream to be accepted", func() bool { return s.Len() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	aborted := false
	if err := s.Shutdown(ctx, nil, func() { aborted = true }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown returned %v", err)
	}
	if e := <-kicked; e.Condition != SystemShutdown {
		t.Fatalf("kicked with %s", e.Condition)
	}
	if !aborted {
		t.Fatal("abort was not called")
	}
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	waitFor(t, "the aborted stream to end", func() bool { return s.Len() == 0 })
	if s.Go(func() {}) {
		t.Fatal("Go ran a goroutine after Shutdown")
	}
	if err := s.Serve(ln, nil, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve after Shutdown returned %v", err)
	}
}
