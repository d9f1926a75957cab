package c2s

import (
	"strconv"
	"strings"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

const nsDelay = "urn:xmpp:delay"

// stanza handles a stanza from a connected resource.
func (s *session) stanza(el *stanza.Element) *xmlstream.StreamError {
	if !isStanza(el) {
		// RFC 6120 4.9.3.24: a first-level element we do not support.
		return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "")
	}
	// RFC 6120 8.1.2.1: the server stamps the sender's full JID, whatever
	// the client wrote, so a spoofed 'from' never leaves this stream.
	el.Set("from", s.jid.String())
	var to jid.JID
	if t := el.Get("to"); t != "" {
		var err error
		if to, err = jid.Parse(t); err != nil {
			// RFC 6120 8.3.3.8: the 'to' address is not a valid JID.
			s.replyMalformed(el)
			return nil
		}
	} else if el.Has("to") {
		s.replyMalformed(el)
		return nil
	}
	router := s.srv.cfg.Router
	switch el.Name.Local {
	case "iq":
		s.iq(el, to)
	case "presence":
		if to.IsZero() {
			s.presence(el)
			return nil
		}
		s.directedPresence(el, to)
	default:
		router.Route(el, s.jid, to)
	}
	return nil
}

func (s *session) replyMalformed(el *stanza.Element) {
	r := stanza.Bounce(el, stanza.NewError(stanza.JIDMalformed, "the 'to' address is not a valid JID"))
	if r != nil {
		r.Del("from")
		s.Deliver(r)
	}
}

// iq validates an IQ (RFC 6120 8.2.3) and handles the ones that belong to
// the stream itself before routing the rest.
func (s *session) iq(el *stanza.Element, to jid.JID) {
	typ := el.Get("type")
	switch {
	case !el.Has("id"):
		s.replyError(el, stanza.NewError(stanza.BadRequest, "an iq needs an id"))
		return
	case typ != "get" && typ != "set" && typ != "result" && typ != "error":
		s.replyError(el, stanza.NewError(stanza.BadRequest, "an iq needs a type of get, set, result or error"))
		return
	}
	if typ == "set" && (to.IsZero() || to == s.jid.Bare()) {
		switch p := el.FirstElement(); {
		case p == nil:
		case p.Name.Space == nsBind && p.Name.Local == "bind":
			// RFC 6120 7.6.2.2: one resource per stream.
			s.replyError(el, stanza.NewError(stanza.NotAllowed, "a resource is already bound"))
			return
		case p.Name.Space == nsSession && p.Name.Local == "session":
			// RFC 3921 3: session establishment is a no-op today.
			s.Deliver(delivery.Result(el, s.jid, jid.JID{}))
			return
		}
	}
	s.srv.cfg.Router.Route(el, s.jid, to)
}

// presence handles presence with no 'to': the resource's own broadcast
// presence (RFC 6121 4.2, 4.4, 4.5).
func (s *session) presence(el *stanza.Element) {
	reg := s.srv.cfg.Router.Registry
	switch el.Get("type") {
	case "":
		prio, ok := priority(el)
		if !ok {
			s.replyError(el, stanza.NewError(stanza.BadRequest, "priority must be an integer from -128 to 127"))
			return
		}
		before, _, found := reg.Update(s.jid, func(r *delivery.Resource) {
			r.Available = true
			r.Priority = prio
			r.Presence = el
		})
		if !found {
			return
		}
		// RFC 6121 4.2.2 and 4.4.2: every available resource of the user,
		// the sender included, gets the presence; then the contacts.
		s.toOwnResources(el)
		if p := s.srv.cfg.Presence; p != nil {
			p.Available(s.jid, el, !before.Available)
		}
		if !before.Available && prio >= 0 {
			s.deliverOffline()
		}
	case "unavailable":
		before, _, found := reg.Update(s.jid, func(r *delivery.Resource) { r.Available = false; r.Presence = nil })
		if !found || !before.Available {
			return
		}
		// RFC 6121 4.5.2: to the user's other resources and the sender,
		// then the contacts.
		s.toOwnResources(el)
		s.Deliver(el)
		if p := s.srv.cfg.Presence; p != nil {
			p.Unavailable(s.jid, el)
		}
	case "error":
	default:
		// subscribe/subscribed/unsubscribe/unsubscribed/probe need a 'to'.
		s.replyError(el, stanza.NewError(stanza.BadRequest, "this presence type needs a 'to' address"))
	}
}

// directedPresence handles presence with a 'to' (RFC 6121 3, 4.6).
func (s *session) directedPresence(el *stanza.Element, to jid.JID) {
	p := s.srv.cfg.Presence
	switch el.Get("type") {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		if p != nil {
			p.Outbound(s.jid, to, el)
		}
	case "probe":
		// RFC 6121 4.3: probes are the server's business, not a client's.
	case "", "unavailable":
		if p != nil {
			p.Directed(s.jid, to, el)
			return
		}
		s.srv.cfg.Router.Route(el, s.jid, to)
	default:
		s.srv.cfg.Router.Route(el, s.jid, to)
	}
}

// toOwnResources delivers el to every available resource of the user.
func (s *session) toOwnResources(el *stanza.Element) {
	var buf [8]delivery.Resource
	for _, r := range s.srv.cfg.Router.Registry.Resources(buf[:0], s.jid.Bare()) {
		if r.Available {
			r.Sink.Deliver(el)
		}
	}
}

// priority reads <priority/> (RFC 6121 4.7.2.3): an integer between -128
// and +127, 0 when absent.
func priority(el *stanza.Element) (int8, bool) {
	p := el.Child(stanza.NSClient, "priority")
	if p == nil {
		return 0, true
	}
	n, err := strconv.ParseInt(strings.TrimSpace(p.Text()), 10, 8)
	if err != nil {
		return 0, false
	}
	return int8(n), true
}

// deliverOffline hands stored messages to this resource, which has just
// become available with a non-negative priority (XEP-0160 4), each
// stamped with its original time (XEP-0203). One resource of an account
// replays at a time: a second one becoming available meanwhile gets
// nothing (the first has them). The replay runs on its own goroutine.
func (s *session) deliverOffline() {
	q := s.srv.cfg.Offline
	if q == nil {
		return
	}
	bare := s.jid.Bare()
	if !s.srv.claimReplay(bare) {
		return
	}
	msgs, err := q.Pending(bare)
	if err != nil {
		s.srv.cfg.Log.Warn("c2s: reading offline messages failed", "jid", bare.String(), "err", err)
	}
	if len(msgs) == 0 || !s.srv.streams.Go(func() {
		cut := !s.replayOffline(q, bare, msgs)
		s.srv.releaseReplay(bare)
		if cut {
			s.srv.handOver(bare, s)
		}
	}) {
		s.srv.releaseReplay(bare)
	}
}

// handOver gives a replay that ended with its session to another
// available resource of the account with a non-negative priority, if
// there is one; otherwise the rest waits for the next initial presence.
func (s *Server) handOver(bare jid.JID, from *session) {
	var buf [8]delivery.Resource
	for _, r := range s.cfg.Router.Registry.Resources(buf[:0], bare) {
		if next, ok := r.Sink.(*session); ok && next != from && r.Available && r.Priority >= 0 {
			next.deliverOffline()
			return
		}
	}
}

// replay is one batch of stored messages on its way to the client. The
// session's writer reports it exactly once: written (true), or not
// (false: the connection failed or was cut off first).
type replay struct{ done chan bool }

func (r *replay) signal(ok bool) {
	select {
	case r.done <- ok:
	default:
	}
}

// written is the session writer's report that batches were written.
func written(rs []*replay) {
	for _, r := range rs {
		r.signal(true)
	}
}

// unwritten is the session writer's report that batches were not, or may
// not have been, written.
func unwritten(rs []*replay) {
	for _, r := range rs {
		r.signal(false)
	}
}

// replayOffline sends msgs in batches of at most a quarter of MaxQueue
// bytes (a batch holds at least one message), each after the previous
// one was written, so that the replay never fills the queue by itself and
// a slow client is not cut off for it. A batch leaves storage (Ack) only
// once its bytes were written to the connection and the connection was
// not cut meanwhile (a write that timed out or failed, the queue past
// MaxQueue); without stream management (XEP-0198) that is all the server
// can know; a client that closes its stream after reading was not cut.
// When the session ends first, the rest stays stored for another
// resource (handOver) or the next login: a message of the batch being
// written may then arrive twice, never not at all.
//
// It reports false when the session ended before every message was
// acknowledged.
func (s *session) replayOffline(q OfflineQueue, bare jid.JID, msgs []Stored) bool {
	budget := max(s.srv.cfg.MaxQueue/4, 1)
	for len(msgs) > 0 {
		s.closeMu.Lock()
		ended := s.ended
		s.closeMu.Unlock()
		if ended {
			return false
		}
		n, size := 0, 0
		for n < len(msgs) && size < budget {
			m := msgs[n].Stanza
			m.Append(stanza.NewElement(nsDelay, "delay").
				Set("from", s.domain).
				Set("stamp", msgs[n].At.UTC().Format("2006-01-02T15:04:05.000Z")).
				AppendText("Offline storage"))
			if !s.countOut(func() bool {
				return s.q.Push(func(b []byte) []byte {
					l := len(b)
					b = m.AppendXML(b, stanza.NSClient)
					size += len(b) - l
					return b
				}, false)
			}) {
				return false
			}
			n++
		}
		r := &replay{done: make(chan bool, 1)}
		if !s.q.PushItem(func(b []byte) []byte { return b }, r) || !<-r.done || s.q.Cut() {
			return false
		}
		if err := q.Ack(bare, msgs[n-1].Seq); err != nil {
			// The store failed, not the session: the messages stay and
			// come again at the next login.
			s.srv.cfg.Log.Warn("c2s: removing delivered offline messages failed", "jid", bare.String(), "err", err)
			return true
		}
		msgs = msgs[n:]
	}
	return true
}

// endReplay stops a replay of stored messages when the session ends:
// no batch follows the one being written.
func (s *session) endReplay() {
	s.closeMu.Lock()
	s.ended = true
	s.closeMu.Unlock()
}

// claimReplay reserves the replay of bare's stored messages; false when
// another resource of the account is replaying them.
func (s *Server) claimReplay(bare jid.JID) bool {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	if s.replaying[bare.String()] {
		return false
	}
	s.replaying[bare.String()] = true
	return true
}

func (s *Server) releaseReplay(bare jid.JID) {
	s.replayMu.Lock()
	delete(s.replaying, bare.String())
	s.replayMu.Unlock()
}

// unbound runs when a bound session ends: the resource leaves the
// registry and, if it was available, the user's other resources and its
// contacts get the unavailable presence it owed them (RFC 6121 4.5.2);
// if not, only the entities it sent directed presence to (4.6.2 item 3).
func (s *session) unbound() {
	res, ok := s.srv.cfg.Router.Registry.Unbind(s.jid, s)
	if !ok {
		return
	}
	un := stanza.NewElement(stanza.NSClient, "presence").Set("from", s.jid.String()).Set("type", "unavailable")
	p := s.srv.cfg.Presence
	if !res.Available {
		if p != nil {
			p.Ended(s.jid, un)
		}
		return
	}
	s.toOwnResources(un)
	if p != nil {
		p.Unavailable(s.jid, un)
	}
}
