package s2s

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Outbound links: one per (local domain, remote domain), created by the
// first stanza for the pair, living across connections. See DESIGN.md.

type linkState uint8

const (
	connecting linkState = iota // a setup goroutine runs; stanzas wait in pending
	ready                       // c carries stanzas
	backoff                     // the last setup failed temporarily; kept subscriptions wait for the retry timer
	closed                      // out of the server's map; refuses stanzas
)

func (s linkState) String() string {
	switch s {
	case connecting:
		return "connecting"
	case ready:
		return "ready"
	case backoff:
		return "backoff"
	}
	return "closing"
}

type link struct {
	srv           *Server
	local, remote string
	out           atomic.Uint64 // stanzas written
	lastUsed      atomic.Int64  // UnixNano of the last stanza queued
	dead          atomic.Bool   // state == closed, readable without mu

	mu       sync.Mutex
	state    linkState
	pending  []entry // stanzas waiting while not ready (and kept subscriptions in backoff)
	c        *outConn
	auth     AuthMethod
	failures int
	attempt  int   // setups failed in a row, for the backoff
	lastErr  error // the last setup failure, while in backoff
	since    time.Time
	retry    *time.Timer
	idle     *time.Timer
}

// Send queues st, from a local entity, for a remote one, on the link for
// (from's domain, to's domain), creating the link if there is none. It
// never blocks. A stanza that cannot be delivered comes back to the
// sender through the Router as an error (RFC 6120 10.4.3).
//
// st may be shared with other recipients: it is not modified (a copy
// carries 'from' and 'to' when the element lacks them, RFC 6120 8.1.1.1
// and 8.1.2.2 require both on a server-to-server stream).
func (s *Server) Send(st *stanza.Element, from, to jid.JID) {
	local, remote := from.Domain(), to.Domain()
	if !s.domains[local] || remote == "" || s.domains[remote] {
		// Not ours to send: the router gives us only stanzas from local
		// entities to remote domains.
		s.cfg.Log.Warn("s2s: Send for a pair that is not (local, remote)", "from", from.String(), "to", to.String())
		return
	}
	if st.Get("from") != from.String() || st.Get("to") != to.String() {
		st = st.ShallowCopy()
		st.Set("from", from.String())
		st.Set("to", to.String())
	}
	e := entry{st: st, from: from, to: to}
	for range 4 {
		l := s.link(local, remote)
		if l == nil {
			s.bounce(e, stanza.RemoteServerTimeout) // shutting down
			return
		}
		if l.enqueue(e) {
			return
		}
		// The link closed between lookup and enqueue: the next lookup
		// makes a new one.
	}
	s.bounce(e, stanza.RemoteServerTimeout)
}

// link returns the live link for (local, remote), creating it (and
// starting its setup) if needed; nil after Shutdown.
func (s *Server) link(local, remote string) *link {
	p := pair{local, remote}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.out[p]; l != nil && !l.dead.Load() {
		return l
	}
	l := &link{srv: s, local: local, remote: remote, state: connecting, since: s.now()}
	// Shutdown refuses new goroutines before it collects the links under
	// s.mu: a link made here is either refused now or shut down then.
	if !s.spawn(l.setup) {
		return nil
	}
	s.out[p] = l
	return l
}

func (s *Server) removeLink(l *link) {
	s.mu.Lock()
	if s.out[pair{l.local, l.remote}] == l {
		delete(s.out, pair{l.local, l.remote})
	}
	s.mu.Unlock()
}

// enqueue takes a stanza for the link. false: the link is closed.
func (l *link) enqueue(e entry) bool {
	s := l.srv
	max := s.cfg.MaxQueue
	l.mu.Lock()
	switch l.state {
	case closed:
		l.mu.Unlock()
		return false
	case ready:
		if l.c.q.Pending() >= max {
			l.mu.Unlock()
			// The peer reads more slowly than we are asked to send: the
			// sender learns at once (RFC 6120 8.3.3.18, type wait).
			s.bounce(e, stanza.ResourceConstraint)
			return true
		}
		if !l.c.push(e) {
			// The connection is going away; its reader hands the link
			// back to setup, with this.
			l.pending = append(l.pending, e)
		}
		l.lastUsed.Store(s.now().UnixNano())
	case connecting:
		if len(l.pending) >= max {
			l.mu.Unlock()
			s.bounce(e, stanza.ResourceConstraint)
			return true
		}
		l.pending = append(l.pending, e)
	case backoff:
		cond := conditionOf(l.lastErr)
		// The remote domain failed a moment ago and waits for its retry:
		// the sender learns at once rather than after it. A subscription
		// stanza is also kept for the retry (see setupDone).
		keep := isSubscription(e.st) && len(l.pending) < max
		if keep {
			e.kept = s.now()
			l.pending = append(l.pending, e)
		}
		l.mu.Unlock()
		s.bounce(e, cond)
		return true
	}
	l.mu.Unlock()
	return true
}

// setup runs on its own goroutine: one attempt to connect.
func (l *link) setup() {
	s := l.srv
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.SetupTimeout)
	defer cancel()
	c, err := s.connect(ctx, l.local, l.remote, true)
	l.setupDone(c, err)
}

func (l *link) setupDone(c *outConn, err error) {
	s := l.srv
	l.mu.Lock()
	if l.state == closed {
		// Shut down meanwhile; shutdown took the pending stanzas.
		l.mu.Unlock()
		if c != nil {
			c.hangUp()
		}
		return
	}
	if err == nil {
		c.link = l
		c.qcfg = xmlstream.WriterConfig[entry]{
			Timeout: s.cfg.WriteTimeout,
			Linger:  s.closeWait,
			Written: func(sent []entry) { l.out.Add(uint64(len(sent))) },
			Unsent:  l.requeue,
		}
		c.q.Init(c.nc, c.raw, &c.qcfg)
		l.c = c
		l.state = ready
		l.auth = c.auth
		l.since = s.now()
		l.attempt, l.failures, l.lastErr = 0, 0, nil
		// Flushed in the order they were queued (XEP-0220 2.1.1: only now
		// may they be sent).
		for _, e := range l.pending {
			c.push(e)
		}
		l.pending = nil
		l.lastUsed.Store(s.now().UnixNano())
		l.idle = time.AfterFunc(s.cfg.IdleTimeout, l.checkIdle)
		l.mu.Unlock()
		s.cfg.Log.Info("s2s: link up", "local", l.local, "remote", l.remote, "auth", string(c.auth))
		// The setup goroutine's stack grew with TLS; the reader starts
		// fresh.
		if !s.spawn(c.run) {
			c.hangUp()
		}
		return
	}
	s.cfg.Log.Info("s2s: link setup failed", "local", l.local, "remote", l.remote, "err", err)
	cond := conditionOf(err)
	l.failures++
	now := s.now()
	var failed, kept []entry
	for _, e := range l.pending {
		// RFC 6121 3.1.2 (and 3.2.2, 3.3.2, 3.4.2 for the other
		// subscription stanzas): when a subscription stanza cannot be
		// remotely routed, because the remote server does not exist or
		// cannot be reached, or contacting it times out, the user's server
		// MUST return an error stanza to the user. Every stanza waiting
		// goes back now with the condition of RFC 6120 8.3.3.15/8.3.3.16
		// (conditionOf). After a temporary failure (remote-server-timeout)
		// a subscription stanza is also kept and retried in the background
		// for SubscriptionRetry, so that a request to a domain that is
		// briefly unreachable still arrives; the user was told first.
		if !e.kept.IsZero() {
			// Told already, at its first failure.
			if now.Sub(e.kept) < s.cfg.SubscriptionRetry && cond == stanza.RemoteServerTimeout {
				kept = append(kept, e)
			} else {
				s.cfg.Log.Info("s2s: gave up retrying a subscription stanza", "from", e.from.String(), "to", e.to.String(), "err", err)
			}
			continue
		}
		failed = append(failed, e)
		if isSubscription(e.st) && cond == stanza.RemoteServerTimeout {
			e.kept = now
			kept = append(kept, e)
		}
	}
	l.pending = kept
	if len(kept) > 0 {
		l.state = backoff
		l.lastErr = err
		l.since = now
		d := l.srv.retryMin << min(l.attempt, 20)
		d = min(d, l.srv.retryMax)
		l.attempt++
		l.retry = time.AfterFunc(d, l.retryNow)
	} else {
		l.state = closed
		l.dead.Store(true)
	}
	st := l.state
	l.mu.Unlock()
	if st == closed {
		s.removeLink(l)
	}
	for _, e := range failed {
		s.bounce(e, cond)
	}
}

// retryNow is the backoff timer: expired subscriptions go back to their
// senders, the rest get another setup.
func (l *link) retryNow() {
	s := l.srv
	l.mu.Lock()
	if l.state != backoff {
		l.mu.Unlock()
		return
	}
	now := s.now()
	var expired []entry
	kept := l.pending[:0]
	for _, e := range l.pending {
		if now.Sub(e.kept) >= s.cfg.SubscriptionRetry {
			expired = append(expired, e)
		} else {
			kept = append(kept, e)
		}
	}
	l.pending = kept
	start := len(kept) > 0
	if start {
		l.state = connecting
		l.since = now
	} else {
		l.state = closed
		l.dead.Store(true)
	}
	l.mu.Unlock()
	for _, e := range expired {
		// Its sender got the error when it was first kept.
		s.cfg.Log.Info("s2s: gave up retrying a subscription stanza", "from", e.from.String(), "to", e.to.String())
	}
	if !start {
		s.removeLink(l)
		return
	}
	if !s.spawn(l.setup) {
		l.shutdown()
	}
}

// requeue takes back stanzas a failed write did not reach, ahead of
// anything queued since.
func (l *link) requeue(list []entry) {
	if len(list) == 0 {
		return
	}
	l.mu.Lock()
	if l.state == closed {
		l.mu.Unlock()
		l.srv.resend(list)
		return
	}
	l.pending = append(list, l.pending...)
	l.mu.Unlock()
}

// connLost is called by the reader of c when the connection ends.
// Stanzas still waiting go to a new connection at once; without any, the
// link closes and the next stanza opens a new one.
func (l *link) connLost(c *outConn, unsent []entry) {
	s := l.srv
	l.mu.Lock()
	if l.c != c {
		l.mu.Unlock()
		l.requeue(unsent)
		return
	}
	l.c = nil
	if l.idle != nil {
		l.idle.Stop()
	}
	if l.state == closed {
		l.mu.Unlock()
		s.resend(unsent)
		return
	}
	l.pending = append(unsent, l.pending...)
	restart := len(l.pending) > 0
	if restart {
		l.state = connecting
		l.since = s.now()
	} else {
		l.state = closed
		l.dead.Store(true)
	}
	l.mu.Unlock()
	s.cfg.Log.Info("s2s: link down", "local", l.local, "remote", l.remote, "waiting", len(unsent))
	if !restart {
		s.removeLink(l)
		return
	}
	if !s.spawn(l.setup) {
		l.shutdown()
	}
}

// checkIdle is the idle timer: a link that carried nothing for
// IdleTimeout ends its stream cleanly (RFC 6120 4.4).
func (l *link) checkIdle() {
	s := l.srv
	l.mu.Lock()
	if l.state != ready {
		l.mu.Unlock()
		return
	}
	idleFor := s.now().Sub(time.Unix(0, l.lastUsed.Load()))
	if idleFor < s.cfg.IdleTimeout || l.c.q.Pending() > 0 {
		l.idle.Reset(max(s.cfg.IdleTimeout-idleFor, time.Millisecond))
		l.mu.Unlock()
		return
	}
	l.state = closed
	l.dead.Store(true)
	c := l.c
	l.mu.Unlock()
	s.removeLink(l)
	s.cfg.Log.Debug("s2s: idle link closed", "local", l.local, "remote", l.remote)
	c.q.End(appendCloseTag)
}

// shutdown closes the link for good: what waits is bounced, the stream
// (if any) ends with its closing tag.
func (l *link) shutdown() {
	s := l.srv
	l.mu.Lock()
	l.state = closed
	l.dead.Store(true)
	if l.retry != nil {
		l.retry.Stop()
	}
	if l.idle != nil {
		l.idle.Stop()
	}
	pending := l.pending
	l.pending = nil
	c := l.c
	l.mu.Unlock()
	if c != nil {
		pending = append(pending, c.q.End(appendCloseTag)...)
	}
	for _, e := range pending {
		if e.kept.IsZero() { // a kept subscription's sender was told already
			s.bounce(e, stanza.RemoteServerTimeout)
		}
	}
}

func (l *link) info() LinkInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := len(l.pending)
	if l.c != nil {
		q += l.c.q.Pending()
	}
	return LinkInfo{
		State: l.state.String(), Local: l.local, Remote: l.remote, Direction: Outbound,
		Auth: l.auth, Out: l.out.Load(), Queued: q, Failures: l.failures, Since: l.since,
	}
}

// resend sends stanzas again through Send, for a link that closed before
// they could leave.
func (s *Server) resend(list []entry) {
	for _, e := range list {
		s.Send(e.st, e.from, e.to)
	}
}

// isSubscription reports a presence subscription stanza (RFC 6121 3).
func isSubscription(st *stanza.Element) bool {
	if st.Name.Local != "presence" {
		return false
	}
	switch st.Get("type") {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		return true
	}
	return false
}

// bounce returns a stanza that cannot be delivered to its sender with
// cond (RFC 6120 10.4.3), through the router. Presence other than
// subscriptions is dropped silently: an error for broadcast presence helps
// no one (RFC 6121 4.4.2 lets the server ignore it); so are IQ results and
// errors (RFC 6120 8.2.3: never answered) and errors (8.3.1).
func (s *Server) bounce(e entry, cond stanza.Condition) {
	st := e.st
	switch st.Name.Local {
	case "presence":
		if !isSubscription(st) {
			return
		}
	case "iq":
		if t := st.Get("type"); t != "get" && t != "set" {
			return
		}
	}
	r := stanza.Bounce(st, stanza.NewError(cond, ""))
	if r == nil {
		return
	}
	s.cfg.Router.Route(r, e.to, e.from)
}
