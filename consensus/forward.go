package consensus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/heraldxmpp/herald/consensus/mux"
)

// Leader forwarding. Every write (Propose) and every membership change (Join,
// Remove, Stepdown) goes through Node.lead, the one place that asks who the
// leader is: on the leader it runs the operation (Node.local); on a follower
// it sends the request over the cluster port's forwarding channel to the
// leader, which runs the same Node.local and answers with the Result or the
// error (wire.go). The follower then waits until it has applied the entry
// itself, so that a read after Propose sees the write wherever it ran.
// Callers never learn where their write ran.
//
// A request is retried, against whoever leads by then, only when it is known
// not to have been proposed: the dial to the leader failed, or the leader
// answered that it no longer leads before proposing. Anything else that goes
// wrong after the request left (the connection drops, the leader changes
// while it waits) is returned as an error with the outcome unknown, never
// retried, so that a command is never applied twice by one Propose.
//
// When no leader is reachable for leaderWait (twice the time Raft takes to
// notice a lost leader and elect a new one), lead fails with ErrNoQuorum.

// ErrNoQuorum is returned when no leader could be reached within a bounded
// wait, so the command was not proposed: the node is cut off from a majority
// of the cluster, or the cluster has lost its majority. It is also an
// ErrNotLeader (errors.Is).
var ErrNoQuorum error = noQuorum{}

type noQuorum struct{}

func (noQuorum) Error() string        { return "consensus: no quorum" }
func (noQuorum) Is(target error) bool { return target == ErrNotLeader || target == ErrNotApplied }

// errRetry marks an error after which nothing was proposed: the request may
// be sent again to the current leader.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// notProposed reports whether err says that the operation was never
// proposed, so that retrying it cannot apply it twice.
func notProposed(err error) bool {
	var r errRetry
	return errors.As(err, &r) || errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress)
}

const (
	// retryMin and retryMax bound the pause between attempts while no leader
	// is reachable (a leader change wakes the wait at once).
	retryMin = 10 * time.Millisecond
	retryMax = 200 * time.Millisecond
)

// lead runs req on the leader: here if this node leads, else forwarded.
func (n *Node) lead(ctx context.Context, req request) (Result, error) {
	if n.fwd == nil {
		// A single node, or a supplied transport without a cluster port:
		// nothing to forward over.
		return n.local(ctx, req)
	}
	deadline := time.Now().Add(n.leaderWait)
	var lastErr error
	var unsure error // an earlier attempt that may have been applied
	for pause := retryMin; ; pause = min(2*pause, retryMax) {
		watch := n.leaderWatch()
		if n.raft.State() == raft.Shutdown {
			// Close is under way, or this node was removed from the cluster.
			return Result{}, settle(unsure, notApplied(fmt.Errorf("%w: raft has shut down", ErrClosed)))
		}
		var (
			res   Result
			err   error
			tried bool
		)
		if n.raft.State() == raft.Leader {
			res, err = n.local(ctx, req)
			tried = true
		} else if addr, id := n.raft.LeaderWithID(); addr != "" && string(id) != n.cfg.NodeID {
			res, err = n.forward(ctx, string(addr), req)
			tried = true
			if req.op == opPropose && res.Index > 0 && !notProposed(err) {
				// Read your writes: the outcome is returned once this node
				// has applied the entry too, as on the leader.
				if werr := n.waitLocal(ctx, res.Index); werr != nil {
					return res, werr
				}
			}
		}
		if tried {
			switch {
			case notProposed(err):
				lastErr = err
			case n.mayResend(ctx, req, err):
				// Keyed: sending it again cannot apply it twice, and the
				// answer says what became of it.
				n.log.Info("consensus: resending a write whose outcome is unknown", "req", req.String(), "err", err)
				unsure, lastErr = err, err
				deadline = time.Now().Add(n.leaderWait)
			default:
				return res, settle(unsure, err)
			}
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			if lastErr != nil {
				return Result{}, settle(unsure, fmt.Errorf("%w: no leader reachable for %s (last: %v)", ErrNoQuorum, n.leaderWait, lastErr))
			}
			return Result{}, settle(unsure, fmt.Errorf("%w: no leader for %s", ErrNoQuorum, n.leaderWait))
		}
		select {
		case <-watch:
		case <-time.After(min(pause, wait)):
		case <-ctx.Done():
			return Result{}, settle(unsure, fmt.Errorf("%w: waiting for a leader: %w", ErrNoQuorum, ctx.Err()))
		case <-n.done:
			return Result{}, settle(unsure, notApplied(ErrClosed))
		}
	}
}

// settle is the error a Propose ends with: err, unless an earlier attempt
// may have been applied and err says only that the last one was not, in
// which case the earlier attempt's error (outcome unknown) is the answer.
func settle(unsure, err error) error {
	if unsure == nil || err == nil || !errors.Is(err, ErrNotApplied) {
		return err
	}
	return fmt.Errorf("%w; sent again, then: %v", unsure, err)
}

// mayResend reports whether req, whose attempt ended with err, may be sent
// again: it is a keyed write (the leader wraps it in a Keyed, so a repeat
// is answered with the first outcome), its outcome is unknown, its deadline
// has not passed, and this node is not closing.
func (n *Node) mayResend(ctx context.Context, req request, err error) bool {
	return req.op == opPropose && req.origin != "" && errors.Is(err, ErrOutcomeUnknown) &&
		ctx.Err() == nil && !n.isClosed() && n.clusterAtLeast(ctx, TypeKeyed)
}

// waitLocal waits until this node has applied index, bounded by ctx or,
// without a deadline, by ApplyTimeout.
func (n *Node) waitLocal(ctx context.Context, index uint64) error {
	if n.fsm.appliedIndex() >= index {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	if err := n.WaitApplied(ctx, index); err != nil {
		return fmt.Errorf("%w: committed at index %d, not yet applied here: %w", ErrTimeout, index, err)
	}
	return nil
}

// local runs req on this node, which must lead; a follower answers with
// raft.ErrNotLeader (a retry). It is what a leader runs for a forwarded
// request too.
func (n *Node) local(ctx context.Context, req request) (Result, error) {
	switch req.op {
	case opPropose:
		if !req.deadline.IsZero() {
			if !time.Now().Before(req.deadline) {
				// RFC-grade honesty: the proposer has given up by now and
				// told its caller so; proposing it after would surprise it.
				return Result{}, notApplied(fmt.Errorf("%w: %s reached the leader after its deadline", ErrTimeout, req))
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, req.deadline)
			defer cancel()
		}
		if err := n.checkLevel(ctx, req.cmd); err != nil {
			return Result{}, err
		}
		cmd := req.cmd
		if req.origin != "" && n.clusterAtLeast(ctx, TypeKeyed) {
			cmd = encodeKeyed(req.origin, req.seq, req.cmd)
		}
		return n.apply(ctx, cmd, req.String())
	case opJoin:
		return Result{}, n.addVoter(ctx, req.id, req.addr, req.force)
	case opRemove:
		return Result{}, n.removeServer(ctx, req.id, req.force)
	case opStepdown:
		return Result{}, n.await(ctx, n.raft.LeadershipTransfer(), "stepdown")
	}
	return Result{}, fmt.Errorf("%w: operation %d", ErrInvalid, req.op)
}

// apply commits an encoded command through this node's Raft and returns the
// FSM's outcome.
func (n *Node) apply(ctx context.Context, cmd []byte, what string) (Result, error) {
	timeout := n.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	f := n.raft.Apply(cmd, timeout)
	if err := n.await(ctx, f, what); err != nil {
		return Result{}, err
	}
	resp, ok := f.Response().(response)
	if !ok {
		return Result{}, fmt.Errorf("consensus: no response from the state machine for index %d", f.Index())
	}
	return resp.res, resp.err
}

// await waits for a Raft future, ctx or Close.
//
// With BatchApplyCh, Raft may accept a future into its queue and then shut
// down without answering it; n.done frees such a waiter (its goroutine stays
// parked, at most MaxAppendEntries of them, at shutdown).
func (n *Node) await(ctx context.Context, f raft.Future, what string) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if err != nil {
			return raftError(err)
		}
		return nil
	case <-ctx.Done():
		return unknownOutcome(fmt.Errorf("%w: %s outcome unknown: %w", ErrTimeout, what, ctx.Err()))
	case <-n.done:
		return unknownOutcome(fmt.Errorf("%w: %s outcome unknown", ErrClosed, what))
	}
}

// forward sends req to the leader at addr and waits for its answer. It gives
// up, outcome unknown, when Raft names another leader, or names none for
// leaderWait, so a proposer does not wait on a leader that has gone silent.
func (n *Node) forward(ctx context.Context, addr string, req request) (Result, error) {
	if d, ok := ctx.Deadline(); ok {
		req.timeout = time.Until(d)
	}
	if req.origin != "" && !n.clusterAtLeast(ctx, TypeKeyed) {
		// Some member, maybe the leader, runs an older release: the plain
		// request every release knows, which the leader would not have
		// wrapped anyway (and which lead will not send twice).
		req.origin, req.seq, req.deadline = "", 0, time.Time{}
	}
	p, err := n.send(ctx, addr, req)
	if err != nil {
		return Result{}, err
	}
	var orphaned <-chan time.Time // runs while Raft knows no leader
	for {
		watch := n.leaderWatch()
		select {
		case b := <-p.Reply():
			return answer(b)
		case <-p.Dead():
			select {
			case b := <-p.Reply():
				return answer(b)
			default:
			}
			return Result{}, unknownOutcome(fmt.Errorf("%w: %s forwarded to %s: connection lost, outcome unknown: %v", ErrNotLeader, req, addr, p.Cause()))
		case <-ctx.Done():
			p.Cancel()
			return Result{}, unknownOutcome(fmt.Errorf("%w: %s forwarded to %s: outcome unknown: %w", ErrTimeout, req, addr, ctx.Err()))
		case <-n.done:
			p.Cancel()
			return Result{}, unknownOutcome(fmt.Errorf("%w: %s forwarded to %s: outcome unknown", ErrClosed, req, addr))
		case <-orphaned:
			p.Cancel()
			return Result{}, unknownOutcome(fmt.Errorf("%w: %s forwarded to %s: no leader for %s, outcome unknown", ErrNotLeader, req, addr, n.leaderWait))
		case <-watch:
			switch now, _ := n.raft.LeaderWithID(); {
			case string(now) == addr:
				orphaned = nil
			case now == "":
				if orphaned == nil {
					orphaned = time.After(n.leaderWait)
				}
			default:
				p.Cancel()
				return Result{}, unknownOutcome(fmt.Errorf("%w: %s forwarded to %s: leader changed to %s, outcome unknown", ErrNotLeader, req, addr, now))
			}
		}
	}
}

// leaderWatch returns a channel closed at the next change of leader.
func (n *Node) leaderWatch() <-chan struct{} {
	n.lmu.Lock()
	defer n.lmu.Unlock()
	if n.lch == nil {
		n.lch = make(chan struct{})
	}
	return n.lch
}

func (n *Node) leaderChanged() {
	n.lmu.Lock()
	defer n.lmu.Unlock()
	if n.lch != nil {
		close(n.lch)
		n.lch = nil
	}
}

// watchLeader follows Raft's leader observations until Close.
func (n *Node) watchLeader() {
	obs := make(chan raft.Observation, 16)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(o)
	go func() {
		defer n.raft.DeregisterObserver(o)
		for {
			select {
			case <-obs:
				n.leaderChanged()
			case <-n.done:
				return
			}
		}
	}()
}

// serve runs a request that arrived over the forwarding channel.
func (n *Node) serve(ctx context.Context, req request) (Result, error) {
	timeout := n.cfg.ApplyTimeout
	if req.timeout > 0 {
		timeout = min(timeout, req.timeout)
	}
	// A keyed request's deadline is absolute (local checks it before
	// proposing); the timeout only bounds an older proposer's request.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if req.op == opLevel {
		// Any member answers, leader or not (feature.go).
		return Result{Seq: uint64(n.level())}, nil
	}
	if req.op == opPropose {
		// The proposer validated it; the log is not trusted blindly, and
		// neither is a peer.
		c, err := Decode(req.cmd)
		if err == nil {
			err = c.validate()
		}
		if err != nil {
			return Result{}, err
		}
	}
	if req.relay {
		req.relay = false // one hop at most
		return n.lead(ctx, req)
	}
	return n.local(ctx, req)
}

// serveForward answers the requests of one forwarding connection until it
// closes (mux.Serve: one reader, one writer, at most mux.Queue requests in
// flight). A request that cannot be decoded closes the connection.
func (n *Node) serveForward(c net.Conn) {
	mux.Serve(c, func(ctx context.Context, p []byte) ([]byte, error) {
		req, err := decodeFwdRequest(p)
		if err != nil {
			return nil, err
		}
		if n.cfg.hold != nil {
			n.cfg.hold(req.op)
		}
		res, err := n.serve(ctx, req)
		if n.cfg.dropAnswer != nil && n.cfg.dropAnswer(req.op) {
			return nil, errors.New("consensus: answer dropped (test)")
		}
		return encodeFwdResponse(res, err), nil
	}, n.log)
}

// send queues req for the leader at addr. Its errors mean the request was
// not sent; a failure to reach addr is an errRetry.
func (n *Node) send(ctx context.Context, addr string, req request) (*mux.Pending, error) {
	p, err := n.fwd.Send(ctx, addr, encodeFwdRequest(req))
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, ErrAuth):
		return nil, err
	case ctx.Err() != nil:
		return nil, notApplied(fmt.Errorf("%w: %s to %s not sent: %w", ErrTimeout, req, addr, ctx.Err()))
	}
	return nil, errRetry{fmt.Errorf("consensus: leader %s unreachable: %w", addr, err)}
}

// answer decodes the leader's answer to a forwarded request.
func answer(b []byte) (Result, error) {
	res, rerr, err := decodeFwdResponse(b)
	if err != nil {
		return Result{}, unknownOutcome(fmt.Errorf("%w: outcome unknown: %w", ErrNotLeader, err))
	}
	return res, rerr
}

// roundTrip sends req to addr and waits for the answer, ctx, or the
// connection's end.
func (n *Node) roundTrip(ctx context.Context, addr string, req request) (Result, error) {
	if d, ok := ctx.Deadline(); ok {
		req.timeout = time.Until(d)
	}
	p, err := n.send(ctx, addr, req)
	if err != nil {
		return Result{}, err
	}
	select {
	case b := <-p.Reply():
		return answer(b)
	case <-p.Dead():
		select {
		case b := <-p.Reply():
			return answer(b)
		default:
		}
		return Result{}, fmt.Errorf("consensus: %s via %s: connection lost: %v", req, addr, p.Cause())
	case <-ctx.Done():
		p.Cancel()
		return Result{}, fmt.Errorf("%w: %s via %s: %w", ErrTimeout, req, addr, ctx.Err())
	}
}
