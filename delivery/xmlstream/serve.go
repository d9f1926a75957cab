package xmlstream

import (
	"context"
	"net"
	"sync"
)

// Conn is one accepted stream as Streams sees it.
type Conn interface {
	comparable
	// Kick ends the stream from outside its reader with a stream error.
	Kick(*StreamError)
	// Abort closes the TCP connection at once.
	Abort()
}

// Streams is what a client or server listener side keeps: its listeners,
// its accepted streams and the goroutines Shutdown waits for. The zero
// value is ready to use.
type Streams[C Conn] struct {
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[C]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// Serve accepts connections on ln (through Accept) until it is closed.
// open makes the stream of a connection, start runs it (on a goroutine
// of its own); the stream calls Done when it has ended.
func (t *Streams[C]) Serve(ln net.Listener, open func(net.Conn) C, start func(C)) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return net.ErrClosed
	}
	if t.listeners == nil {
		t.listeners = map[net.Listener]struct{}{}
	}
	t.listeners[ln] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.listeners, ln)
		t.mu.Unlock()
	}()
	return Accept(ln, func(nc net.Conn) {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			nc.Close()
			return
		}
		c := open(nc)
		if t.conns == nil {
			t.conns = map[C]struct{}{}
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go start(c)
	})
}

// Done forgets an ended stream.
func (t *Streams[C]) Done(c C) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.wg.Done()
}

// Go runs fn on a goroutine that Shutdown waits for, unless Shutdown has
// begun.
func (t *Streams[C]) Go(fn func()) bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// Closed reports whether Shutdown has begun.
func (t *Streams[C]) Closed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Len is the number of open streams.
func (t *Streams[C]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// List returns the open streams.
func (t *Streams[C]) List() []C {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := make([]C, 0, len(t.conns))
	for c := range t.conns {
		list = append(list, c)
	}
	return list
}

// Shutdown stops accepting, calls stop (the owner ends what else it runs),
// ends every stream with <system-shutdown/> (RFC 6120 4.9.3.19) and waits
// for the streams and goroutines to end or ctx to expire. Then it aborts
// the streams still open, calls abort, and returns ctx's error.
func (t *Streams[C]) Shutdown(ctx context.Context, stop, abort func()) error {
	t.mu.Lock()
	t.closed = true
	for ln := range t.listeners {
		ln.Close()
	}
	t.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, c := range t.List() {
		c.Kick(NewError(SystemShutdown, "the server is shutting down"))
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		if abort != nil {
			abort()
		}
		for _, c := range t.List() {
			c.Abort()
		}
		return ctx.Err()
	}
}
