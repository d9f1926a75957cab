package service

import (
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// Outbound handles a subscription stanza (subscribe, subscribed,
// unsubscribe, unsubscribed) that the local user sends to contact
// (RFC 6121 3, Appendix A.2). st is the client's stanza; it is sent on
// stamped with the user's bare JID (3.1.2). A refusal is bounced to the
// user's resources.
func (s *Service) Outbound(user, contact jid.JID, st *stanza.Element) {
	if serr := s.outbound(user, contact, st); serr != nil {
		s.bounce(st, user.Bare(), serr)
	}
}

// Answer sends the user's answer to contact's subscription request:
// "subscribed" when approve is set (3.1.4, 3.1.5), "unsubscribed"
// otherwise (3.2.2), through the same path as the user's own stanza, so
// pushes, routing and presence follow. It is for acting on the user's
// behalf (an operator), and returns the refusal instead of bouncing it.
// Without a pending request the stanza still has its RFC meaning: a
// "subscribed" pre-approves the contact (3.4), so the caller checks first.
func (s *Service) Answer(user, contact jid.JID, approve bool) *stanza.Error {
	k := roster.Unsubscribed
	if approve {
		k = roster.Subscribed
	}
	return s.outbound(user, contact, stanza.NewElement(stanza.NSClient, "presence").Set("type", k.String()))
}

// outbound is Outbound returning its refusal.
func (s *Service) outbound(user, contact jid.JID, st *stanza.Element) *stanza.Error {
	user, contact = user.Bare(), contact.Bare()
	k, ok := roster.ParseKind(st.Get("type"))
	if !ok || contact == user || contact.IsZero() {
		return nil
	}
	if k == roster.Subscribe && !s.allowSubscribe(user.String()) {
		return stanza.NewError(stanza.ResourceConstraint, "too many subscription requests; wait a minute")
	}
	eff, serr := s.apply(roster.Op{Kind: roster.OpOut, User: user.String(), Contact: contact.String(), Sub: k}, nil, nil)
	if serr != nil {
		return serr
	}
	// RFC 6121 3.2.2: the unavailable presence goes out while the contact
	// is still subscribed, before the "unsubscribed"; 3.1.5: the current
	// presence follows the "subscribed".
	if eff.Out.Presence == roster.SendUnavailable {
		s.presenceAction(roster.SendUnavailable, user, contact)
	}
	if eff.Out.Route {
		out := st.ShallowCopy()
		out.Set("from", user.String()).Set("to", contact.String())
		s.route(out, user, contact)
	}
	if eff.Out.Presence == roster.SendAvailable {
		s.presenceAction(roster.SendAvailable, user, contact)
	}
	return nil
}

// bounce returns an error to every resource of the user (the stanza came
// from one of them, stamped with the bare JID).
func (s *Service) bounce(st *stanza.Element, user jid.JID, e *stanza.Error) {
	// RFC 6120 8.3.1: the error comes from the address the stanza was
	// sent to, so the client can tell which request failed.
	r := stanza.Bounce(st, e)
	if r == nil {
		return
	}
	for _, res := range s.Send.Resources(user) {
		s.Send.Deliver(res.JID, r)
	}
}

// route sends a stanza from a local user to a contact, local or remote.
func (s *Service) route(st *stanza.Element, from, to jid.JID) {
	if !s.Send.IsLocal(to.Domain()) {
		s.Send.Remote(st, from, to)
		return
	}
	switch st.Get("type") {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		s.Inbound(st, from, to)
	case "probe":
		s.Probe(from, to)
	default:
		s.deliverPresence(to, st)
	}
}

// Inbound handles a subscription stanza from contact for the local user
// (RFC 6121 3, Appendix A.3).
func (s *Service) Inbound(st *stanza.Element, contact, user jid.JID) {
	user, contact = user.Bare(), contact.Bare()
	k, ok := roster.ParseKind(st.Get("type"))
	if !ok || user == contact {
		return
	}
	if !s.Send.Exists(user) {
		return // 8.5.1: silently ignored for a user that does not exist
	}
	in := st.ShallowCopy()
	in.Set("from", contact.String()).Set("to", user.String())
	var req *Request
	if k == roster.Subscribe {
		req = &Request{From: contact.String(), Stanza: in, At: s.Now()}
	}
	// The stanza reaches the user before the roster push it causes (RFC
	// 6121 3.1.6, 3.2.3, 3.3.3).
	eff, serr := s.apply(roster.Op{Kind: roster.OpIn, User: user.String(), Contact: contact.String(), Sub: k}, req, func(e roster.Effect) {
		if e.In.Deliver {
			s.deliverNotification(user, in, k)
		}
	})
	if serr != nil {
		// The contact learns why (a local contact through its resources).
		if s.Send.IsLocal(contact.Domain()) {
			s.bounce(in, contact, serr)
		} else if r := stanza.Bounce(in, serr); r != nil {
			s.Send.Remote(r, user, contact)
		}
		return
	}
	// As on the outbound side: unavailable before an automatic
	// "unsubscribed", current presence after an automatic "subscribed".
	if eff.In.Presence == roster.SendUnavailable {
		s.presenceAction(roster.SendUnavailable, user, contact)
	}
	if eff.In.HasAutoReply {
		reply := stanza.NewElement(stanza.NSClient, "presence").
			Set("from", user.String()).Set("to", contact.String()).Set("type", eff.In.AutoReply.String())
		s.route(reply, user, contact)
	}
	if eff.In.Presence == roster.SendAvailable {
		s.presenceAction(roster.SendAvailable, user, contact)
	}
}

// deliverNotification gives a subscription stanza to the user's available
// resources. A subscribe request with nobody available waits as the
// stored request; any other notification is kept with the offline
// messages, so that a state change is never lost.
func (s *Service) deliverNotification(user jid.JID, st *stanza.Element, k roster.Kind) {
	delivered := false
	for _, r := range s.Send.Resources(user) {
		if r.Available && s.Send.Deliver(r.JID, st) {
			delivered = true
		}
	}
	if delivered || k == roster.Subscribe {
		return
	}
	if err := s.Send.Offline(user, st); err != nil {
		s.log().Warn("keeping a subscription notification failed", "user", user.String(), "err", err)
	}
}

// presenceAction carries out the presence an approval or cancellation
// owes the contact (3.1.5, 3.2.2).
func (s *Service) presenceAction(a roster.PresenceAction, user, contact jid.JID) {
	switch a {
	case roster.SendAvailable:
		for _, r := range s.Send.Resources(user) {
			if r.Available && r.Presence != nil {
				p := r.Presence.ShallowCopy()
				p.Set("from", r.JID.String()).Set("to", contact.String())
				s.route(p, r.JID, contact)
			}
		}
	case roster.SendUnavailable:
		for _, r := range s.Send.Resources(user) {
			if r.Available {
				p := stanza.NewElement(stanza.NSClient, "presence").Set("type", "unavailable").
					Set("from", r.JID.String()).Set("to", contact.String())
				s.route(p, r.JID, contact)
			}
		}
	}
}

// deliverPresence gives presence to every available resource of a local
// user (RFC 6121 8.5.2.1.2), or to one resource when to is a full JID.
func (s *Service) deliverPresence(to jid.JID, st *stanza.Element) {
	for _, r := range s.Send.Resources(to.Bare()) {
		if r.Available && (to.IsBare() || r.JID == to) {
			s.Send.Deliver(r.JID, st)
		}
	}
}

// Probe answers a presence probe from prober to the local user
// (RFC 6121 4.3.2).
func (s *Service) Probe(prober, user jid.JID) {
	user = user.Bare()
	if !s.Send.Exists(user) {
		return
	}
	it, found, err := s.Store.Get(user.String(), prober.Bare().String())
	if err != nil {
		return
	}
	var st roster.State
	if found {
		st = it.State
	}
	var avail []Resource
	for _, r := range s.Send.Resources(user) {
		if r.Available {
			avail = append(avail, r)
		}
	}
	switch roster.AnswerProbe(st, len(avail) > 0) {
	case roster.ProbePresence:
		for _, r := range avail {
			if r.Presence == nil {
				continue
			}
			p := r.Presence.ShallowCopy()
			p.Set("from", r.JID.String()).Set("to", prober.String())
			s.route(p, r.JID, prober)
		}
	case roster.ProbeUnavailable:
		p := stanza.NewElement(stanza.NSClient, "presence").Set("type", "unavailable").
			Set("from", user.String()).Set("to", prober.String())
		s.route(p, user, prober)
	case roster.ProbeUnsubscribed:
		p := stanza.NewElement(stanza.NSClient, "presence").Set("type", "unsubscribed").
			Set("from", user.String()).Set("to", prober.Bare().String())
		s.route(p, user, prober.Bare())
	}
}

// Available is called when a resource of the user sends available
// presence with no 'to' (RFC 6121 4.2, 4.4). The caller has recorded it
// and sent it to the user's own resources.
func (s *Service) Available(full jid.JID, st *stanza.Element, initial bool) {
	user := full.Bare()
	items, _, err := s.Store.List(user.String())
	if err != nil {
		s.log().Warn("roster read failed", "user", user.String(), "err", err)
		return
	}
	for _, it := range items {
		contact, err := jid.Parse(it.JID)
		if err != nil {
			continue
		}
		// 4.2.2 / 4.4.2: broadcast to contacts with From or Both.
		if roster.BroadcastTo(it.State) {
			p := st.ShallowCopy()
			p.Set("from", full.String()).Set("to", contact.String())
			s.route(p, full, contact)
		}
		// 4.2.2: on initial presence, probe contacts with To or Both.
		if initial && roster.ProbeOnInitial(it.State) {
			s.probe(full, contact)
		}
	}
	if initial {
		// 3.1.3: pending requests reach every resource that becomes
		// available, until the user answers them.
		reqs, err := s.Store.Requests(user.String())
		if err != nil {
			s.log().Warn("reading pending requests failed", "user", user.String(), "err", err)
		}
		for _, r := range reqs {
			s.Send.Deliver(full, r.Stanza)
		}
	}
}

// probe asks for a contact's presence on behalf of the user's new
// resource. A local contact's presence goes straight to that resource.
func (s *Service) probe(full, contact jid.JID) {
	if !s.Send.IsLocal(contact.Domain()) {
		p := stanza.NewElement(stanza.NSClient, "presence").Set("type", "probe").
			Set("from", full.Bare().String()).Set("to", contact.String())
		s.Send.Remote(p, full.Bare(), contact)
		return
	}
	s.Probe(full, contact)
}

// Unavailable is called when a resource ends its presence, by sending
// unavailable presence or by disconnecting (RFC 6121 4.5.2).
func (s *Service) Unavailable(full jid.JID, st *stanza.Element) {
	user := full.Bare()
	sent := map[jid.JID]bool{}
	if items, _, err := s.Store.List(user.String()); err == nil {
		for _, it := range items {
			contact, err := jid.Parse(it.JID)
			if err != nil || !roster.BroadcastTo(it.State) {
				continue
			}
			p := st.ShallowCopy()
			p.Set("from", full.String()).Set("to", contact.String())
			s.route(p, full, contact)
			sent[contact] = true
		}
	}
	// 4.6.3: entities that got directed presence get the unavailable too.
	s.directedUnavailable(full, st, sent)
}
