package consensus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/heraldxmpp/herald/consensus/mux"
	"net"
	"slices"
	"sync"
	"testing"
)

// pipeDialer dials by handing the far end of a net.Pipe to serve.
func pipeDialer(serve func(net.Conn)) func(context.Context, string) (net.Conn, error) {
	return func(context.Context, string) (net.Conn, error) {
		a, b := net.Pipe()
		go serve(b)
		return a, nil
	}
}

// The forwarding channel needs no network: a node's forwarding server on
// the far end of a pipe runs what the client sends, errors included.
func TestForwardOverPipe(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	f := &Node{fwd: mux.NewClient(pipeDialer(n.serveForward))}
	defer f.fwd.Close()
	ctx := ctxPatience(t)

	propose := func(c Command) (Result, error) {
		return f.roundTrip(ctx, "pipe", request{op: opPropose, cmd: Encode(c)})
	}
	res, err := propose(CreateAccount{Name: "a@b", Created: ts})
	if err != nil || res.Index == 0 {
		t.Fatalf("forwarded CreateAccount: %+v, %v", res, err)
	}
	if _, err := n.Account("a@b"); err != nil {
		t.Error(err)
	}
	if _, err := propose(CreateAccount{Name: "a@b", Created: ts}); !errors.Is(err, ErrExists) {
		t.Errorf("second CreateAccount: %v, want ErrExists", err)
	}
	// The leader does not trust the proposer's validation.
	if _, err := f.roundTrip(ctx, "pipe", request{op: opPropose, cmd: Encode(CreateAccount{Name: "bad"})}); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid command: %v, want ErrInvalid", err)
	}
	if _, err := f.roundTrip(ctx, "pipe", request{op: opPropose, cmd: []byte{1, 0xff, 0xff}}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt command: %v, want ErrCorrupt", err)
	}

	// Many proposers share the connection.
	var wg sync.WaitGroup
	seqs := make([]uint64, 64)
	for i := range seqs {
		wg.Go(func() {
			res, err := propose(StoreOffline{User: "a@b", From: "x@y", Stanza: []byte("<m/>"), At: ts, Limit: 1000})
			if err != nil {
				t.Error(err)
			}
			seqs[i] = res.Seq
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs %v", seqs)
		}
	}
}

// Answers may come in any order; each goes to its caller. A connection that
// dies with requests in flight fails them (outcome unknown, no retry), and
// the next request dials again.
func TestForwarderMultiplexing(t *testing.T) {
	const callers = 8
	var mu sync.Mutex
	var servers []net.Conn
	inflight := make(chan struct{}, 1)
	// The fake leader reads every request, then answers them in reverse,
	// each with the index named in its command.
	serve := func(c net.Conn) {
		mu.Lock()
		servers = append(servers, c)
		mu.Unlock()
		br := bufio.NewReader(c)
		type got struct {
			id  uint64
			req request
		}
		var reqs []got
		for len(reqs) < callers {
			p, err := mux.ReadFrame(br, nil)
			if err != nil {
				return
			}
			id, req, err := splitReq(p)
			if err != nil {
				t.Error(err)
				return
			}
			reqs = append(reqs, got{id, req})
		}
		for _, r := range slices.Backward(reqs) {
			cmd, _ := Decode(r.req.cmd)
			var idx uint64
			fmt.Sscanf(cmd.(DeleteAccount).Name, "u%d@x", &idx)
			var err error
			if idx == 3 {
				err = fmt.Errorf("%w: three", ErrNotFound)
			}
			c.Write(respFrame(r.id, Result{Index: idx}, err))
		}
		if _, err := mux.ReadFrame(br, nil); err == nil {
			inflight <- struct{}{} // a request it will never answer
		}
	}
	f := &Node{fwd: mux.NewClient(pipeDialer(serve))}
	defer f.fwd.Close()
	ctx := ctxPatience(t)

	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			res, err := f.roundTrip(ctx, "leader", request{op: opPropose, cmd: Encode(DeleteAccount{Name: fmt.Sprintf("u%d@x", i)})})
			if i == 3 {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("caller 3: %v", err)
				}
				return
			}
			if err != nil || res.Index != uint64(i) {
				t.Errorf("caller %d got %+v, %v", i, res, err)
			}
		})
	}
	wg.Wait()

	// The connection dies with a request in flight: its caller learns that
	// the outcome is unknown, which is not a retry.
	errc := make(chan error, 1)
	go func() {
		_, err := f.roundTrip(ctx, "leader", request{op: opStepdown})
		errc <- err
	}()
	<-inflight
	mu.Lock()
	servers[0].Close()
	mu.Unlock()
	if err := <-errc; err == nil || notProposed(err) {
		t.Errorf("request on a dead connection: %v, want an unknown outcome", err)
	}

	// A dial that fails is a retry: nothing was sent.
	bad := &Node{fwd: mux.NewClient(func(context.Context, string) (net.Conn, error) { return nil, errors.New("refused") })}
	if _, err := bad.send(ctx, "leader", request{op: opStepdown}); !notProposed(err) {
		t.Errorf("failed dial: %v, want a retry", err)
	}
}
