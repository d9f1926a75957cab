package mux

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// The forwarding channel carries numbered requests and their answers, both
// opaque payloads to this package, over one connection per peer address
// shared by every caller:
//
//	request   frame: uvarint id | payload
//	answer    frame: uvarint id | payload
//
// Answers come in any order; the id pairs them with their request. Per
// connection there is one reader and one writer goroutine, and the writer
// drains a queue of Queue frames. A caller that finds the queue full waits
// for room, bounded by its context; a server running Queue requests from one
// connection stops reading it, so a flood is pushed back onto the peer's TCP
// window, not into memory. Nothing here needs more than a net.Conn: the
// tests run it over net.Pipe.

const (
	// Queue bounds, per connection, the frames queued for the writer and
	// the requests a server runs at once.
	Queue = 256
	// WriteTimeout bounds one flush to a peer that stopped reading.
	WriteTimeout = 10 * time.Second
)

// Handler answers one request payload. An error means the request could not
// be understood: the connection is closed (the peer is broken or speaks
// another version) and no answer is sent.
type Handler func(ctx context.Context, req []byte) ([]byte, error)

// Serve answers the requests of one forwarding connection until it closes:
// one reader (this goroutine), one writer, and one goroutine per request in
// flight, at most Queue of them. ctx ends every request when the connection
// does.
func Serve(c net.Conn, h Handler, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []byte, Queue)
	sem := make(chan struct{}, Queue)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := writeLoop(c, out, ctx.Done()); err != nil {
			cancel()
			c.Close()
		}
	})
	br := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
read:
	for {
		p, err := ReadFrame(br, buf)
		if err != nil {
			break
		}
		buf = p
		d := p
		id, n := binary.Uvarint(d)
		if n <= 0 {
			log.Warn("consensus: bad forwarded request", "remote", c.RemoteAddr().String(), "err", "no id")
			break
		}
		req := append([]byte(nil), d[n:]...)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break read
		}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, err := h(ctx, req)
			if err != nil {
				log.Warn("consensus: bad forwarded request", "remote", c.RemoteAddr().String(), "err", err)
				cancel()
				c.Close()
				return
			}
			select {
			case out <- Message(id, resp):
			case <-ctx.Done():
			}
		})
	}
	cancel()
	c.Close()
	wg.Wait()
}

// Message returns the frame of message id with payload p: a request or an
// answer on the forwarding channel.
func Message(id uint64, p []byte) []byte {
	b := FrameStart(make([]byte, 0, 4+binary.MaxVarintLen64+len(p)))
	b = binary.AppendUvarint(b, id)
	return FrameEnd(append(b, p...), 0)
}

// writeLoop writes the frames of out to c, flushing when out runs dry, until
// done or a write fails.
func writeLoop(c net.Conn, out <-chan []byte, done <-chan struct{}) error {
	bw := bufio.NewWriterSize(c, 64<<10)
	for {
		select {
		case f := <-out:
			bw.Write(f)
			for more := true; more; {
				select {
				case f := <-out:
					bw.Write(f)
				default:
					more = false
				}
			}
			c.SetWriteDeadline(time.Now().Add(WriteTimeout))
			if err := bw.Flush(); err != nil {
				return err
			}
		case <-done:
			return nil
		}
	}
}

// Client is the calling side of the forwarding channel: one connection per
// address, shared by all callers, requests multiplexed by id.
type Client struct {
	dial func(ctx context.Context, addr string) (net.Conn, error)

	mu      sync.Mutex
	conns   map[string]*clientConn
	dialing map[string]chan struct{}
	closed  bool
}

// NewClient returns a client that connects with dial (Net.Dial on
// ChanForward, or a pipe in tests).
func NewClient(dial func(ctx context.Context, addr string) (net.Conn, error)) *Client {
	return &Client{dial: dial, conns: map[string]*clientConn{}, dialing: map[string]chan struct{}{}}
}

// Pending is a request on its way.
type Pending struct {
	conn  *clientConn
	id    uint64
	reply chan []byte
}

// Reply yields the answer's payload.
func (p *Pending) Reply() <-chan []byte { return p.reply }

// Dead is closed when the connection the request went out on has failed;
// an answer that arrived before may still be in Reply.
func (p *Pending) Dead() <-chan struct{} { return p.conn.dead }

// Cause says why the connection failed, once Dead is closed.
func (p *Pending) Cause() error { return p.conn.cause() }

// Cancel forgets the request: its answer, if it comes, is dropped.
func (p *Pending) Cancel() { p.conn.forget(p.id) }

// ErrNotSent wraps the errors of Send: the request did not leave.
var ErrNotSent = errors.New("mux: request not sent")

// Send queues req for addr. Its errors mean the request was not sent: they
// are ErrNotSent, wrapping the cause (ErrAuth, the context's error, or the
// failure to connect).
func (f *Client) Send(ctx context.Context, addr string, req []byte) (*Pending, error) {
	c, err := f.conn(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s unreachable: %w", ErrNotSent, addr, err)
	}
	p := &Pending{conn: c, reply: make(chan []byte, 1)}
	c.mu.Lock()
	c.next++
	p.id = c.next
	c.pending[p.id] = p.reply
	c.mu.Unlock()
	select {
	case c.out <- Message(p.id, req):
		return p, nil
	case <-c.dead:
		p.Cancel()
		return nil, fmt.Errorf("%w: connection to %s lost before sending: %w", ErrNotSent, addr, c.cause())
	case <-ctx.Done():
		p.Cancel()
		return nil, fmt.Errorf("%w: %w", ErrNotSent, ctx.Err())
	}
}

// conn returns the live connection to addr, dialing it if needed; one dial
// per address at a time.
func (f *Client) conn(ctx context.Context, addr string) (*clientConn, error) {
	for {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return nil, ErrClosed
		}
		if c := f.conns[addr]; c != nil {
			f.mu.Unlock()
			return c, nil
		}
		if w, ok := f.dialing[addr]; ok {
			f.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		w := make(chan struct{})
		f.dialing[addr] = w
		f.mu.Unlock()

		dctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
		nc, err := f.dial(dctx, addr)
		cancel()
		f.mu.Lock()
		delete(f.dialing, addr)
		close(w)
		if err == nil && f.closed {
			nc.Close()
			err = ErrClosed
		}
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
		c := &clientConn{c: nc, out: make(chan []byte, Queue), dead: make(chan struct{}), pending: map[uint64]chan []byte{}}
		c.onDead = func() {
			f.mu.Lock()
			if f.conns[addr] == c {
				delete(f.conns, addr)
			}
			f.mu.Unlock()
		}
		f.conns[addr] = c
		f.mu.Unlock()
		go c.readLoop()
		go func() {
			if err := writeLoop(c.c, c.out, c.dead); err != nil {
				c.fail(err)
			}
		}()
		return c, nil
	}
}

// Close fails every connection; later sends fail.
func (f *Client) Close() {
	f.mu.Lock()
	f.closed = true
	var all []*clientConn
	for _, c := range f.conns {
		all = append(all, c)
	}
	f.mu.Unlock()
	for _, c := range all {
		c.fail(ErrClosed)
	}
}

// clientConn is one forwarding connection, client side: a writer draining
// out and a reader matching answers to pending requests by id.
type clientConn struct {
	c      net.Conn
	out    chan []byte
	dead   chan struct{}
	onDead func()
	once   sync.Once
	err    error // why it died; set before dead is closed

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan []byte
}

func (c *clientConn) fail(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.dead)
		c.c.Close()
		c.onDead()
	})
}

func (c *clientConn) cause() error {
	select {
	case <-c.dead:
		return c.err
	default:
		return nil
	}
}

func (c *clientConn) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *clientConn) readLoop() {
	br := bufio.NewReaderSize(c.c, 64<<10)
	for {
		p, err := ReadFrame(br, nil)
		if err != nil {
			c.fail(err)
			return
		}
		id, n := binary.Uvarint(p)
		if n <= 0 {
			c.fail(errors.New("mux: answer without an id"))
			return
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- p[n:]
		}
	}
}
