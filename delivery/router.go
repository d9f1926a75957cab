package delivery

import (
	"errors"
	"log/slog"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Accounts answers whether a local account exists.
type Accounts interface {
	Exists(bare jid.JID) bool
}

// NSOffline is the disco feature of offline storage (XEP-0160 5); the
// server advertises it when the router has an Offline store.
const NSOffline = "msgoffline"

// Offline keeps messages for an account with no available resource
// (XEP-0160). Store returns a *stanza.Error to bounce to the sender when
// the message cannot be kept (storage full, no quorum), possibly wrapped
// with ErrTooLarge (the message could not be read back once kept): the
// bounce then leaves out the original payload.
type Offline interface {
	Store(to jid.JID, st *stanza.Element) error
}

// PresenceHandler is the roster layer as the router sees it: it takes
// subscription stanzas and probes addressed to local users (RFC 6121 3,
// 4.3), whoever sent them.
type PresenceHandler interface {
	Inbound(st *stanza.Element, from, to jid.JID)
	Probe(from, to jid.JID)
}

// Remote carries stanzas to other domains (the s2s layer). Send must not
// block; failures come back as error stanzas routed to the sender.
type Remote interface {
	Send(st *stanza.Element, from, to jid.JID)
}

// Router applies the delivery rules of RFC 6120 10 and RFC 6121 8 to
// stanzas whose 'from' has already been stamped and validated by the
// stream that received them. It never blocks on a recipient.
type Router struct {
	// Domains are the local domains served by this router.
	Domains map[string]bool
	// Registry holds this node's connected resources.
	Registry *Registry
	// Accounts, Offline and Presence are the collaborators named above.
	Accounts Accounts
	Offline  Offline
	Presence PresenceHandler
	// Services answers the IQs the server handles itself (those to a
	// local domain, or to a bare JID on behalf of the account, RFC 6121
	// 8.5.2.1.3) and holds the component domains (service.go).
	Services *Mux
	// Remote is nil when federation is off: stanzas for other domains are
	// then answered with remote-server-not-found.
	Remote Remote
	Log    *slog.Logger
}

// IsLocal reports whether domain is served here.
func (r *Router) IsLocal(domain string) bool { return r.Domains[domain] }

// Route delivers st, sent by from, to its 'to' address. to is the parsed
// 'to' attribute; the zero JID means the stanza had none and is meant for
// the sender's own account (RFC 6120 10.3). Errors the sender is owed are
// sent back to from through the registry.
func (r *Router) Route(st *stanza.Element, from, to jid.JID) {
	if to.IsZero() {
		to = from.Bare()
	}
	if r.sentByAccount(from) && !r.out(st, from, to) {
		return
	}
	if c := r.Services.component(to.Domain()); c != nil {
		c.HandleStanza(st, from, to)
		return
	}
	if !r.IsLocal(to.Domain()) {
		if !r.IsLocal(from.Domain()) && r.Services.component(from.Domain()) == nil {
			// A stanza from one remote domain to another: never relayed
			// (RFC 6120 13.13 / 10.4 apply to local senders only; a
			// component speaks for a domain of this server).
			r.logger().Debug("dropping a stanza between two remote domains", "from", from.String(), "to", to.String())
			return
		}
		if r.Remote == nil {
			// RFC 6120 10.4: without federation the sender learns at once.
			r.bounce(st, from, stanza.NewError(stanza.RemoteServerNotFound, "federation is not enabled on this server"))
			return
		}
		r.Remote.Send(st, from, to)
		return
	}
	switch {
	case to.Local() == "":
		r.toServer(st, from, to)
	default:
		r.toUser(st, from, to)
	}
}

// toServer handles stanzas for <domain> or <domain/resource>
// (RFC 6120 10.5.1, 10.5.2).
func (r *Router) toServer(st *stanza.Element, from, to jid.JID) {
	switch st.Name.Local {
	case "iq":
		r.serverIQ(st, from, to)
	case "message":
		// RFC 6120 10.5.1 lets the server return an error instead of
		// handling a message: nothing here consumes messages.
		r.bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
	default:
		// Presence to the server itself carries nothing the server acts on.
	}
}

func (r *Router) serverIQ(st *stanza.Element, from, to jid.JID) {
	typ := st.Get("type")
	if typ == "result" || typ == "error" {
		return // answers to nothing we asked: ignore (RFC 6120 8.2.3)
	}
	if typ != "get" && typ != "set" {
		r.bounce(st, from, stanza.NewError(stanza.BadRequest, "iq type must be get, set, result or error"))
		return
	}
	// RFC 6120 8.2.3: a get or set contains exactly one payload element.
	if n := countElements(st); n != 1 {
		r.bounce(st, from, stanza.NewError(stanza.BadRequest, "iq get/set needs exactly one child element"))
		return
	}
	if r.Services == nil {
		r.bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
		return
	}
	reply, serr := r.Services.HandleIQ(st, from, to)
	if serr != nil {
		r.bounce(st, from, serr)
		return
	}
	if reply != nil {
		r.deliverTo(from, reply)
	}
}

// toUser handles stanzas for a local account (RFC 6121 8.5).
func (r *Router) toUser(st *stanza.Element, from, to jid.JID) {
	bare := to.Bare()
	if !r.exists(bare) {
		// RFC 6121 8.5.1: no such user.
		switch st.Name.Local {
		case "iq":
			r.serverIQUnknownUser(st, from)
		case "message":
			r.bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
		// Presence of every type is silently ignored (8.5.1).
		return
	}
	if !r.in(st, from, to) {
		return
	}
	if !to.IsBare() {
		if res, ok := r.Registry.Get(to); ok {
			r.toFullMatch(st, from, res)
			return
		}
		r.toFullNoMatch(st, from, to)
		return
	}
	switch st.Name.Local {
	case "iq":
		// RFC 6121 8.5.2.1.3 / 8.5.2.2.3: the server answers on behalf of
		// the account and never delivers to a resource.
		r.serverIQ(st, from, to)
	case "message":
		r.messageToBare(st, from, bare)
	case "presence":
		r.presenceToBare(st, from, bare)
	}
}

func (r *Router) serverIQUnknownUser(st *stanza.Element, from jid.JID) {
	if t := st.Get("type"); t == "get" || t == "set" {
		r.bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
	}
}

// toFullMatch: RFC 6121 8.5.3.1, a resource matches the full JID.
func (r *Router) toFullMatch(st *stanza.Element, from jid.JID, res Resource) {
	switch st.Name.Local {
	case "presence":
		switch st.Get("type") {
		case "", "unavailable", "error":
			res.Sink.Deliver(st)
		default:
			// Subscription and probe handling belong to the roster layer.
			r.presenceToBare(st, from, res.JID.Bare())
		}
		return
	default:
		if !res.Sink.Deliver(st) {
			r.bounce(st, from, stanza.NewError(stanza.RecipientUnavailable, ""))
			return
		}
		if st.Name.Local == "message" {
			r.delivered(st, from, res.JID, []Resource{res})
		}
	}
}

// toFullNoMatch: RFC 6121 8.5.3.2, no resource matches the full JID.
func (r *Router) toFullNoMatch(st *stanza.Element, from, to jid.JID) {
	switch st.Name.Local {
	case "message":
		switch st.Get("type") {
		case "chat":
			// 8.5.3.2.1: chat is treated as if sent to the bare JID.
			r.messageToBare(st, from, to.Bare())
		case "error":
		default:
			r.bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
	case "presence":
		// 8.5.3.2.2: available/unavailable, subscribed, unsubscribe and
		// unsubscribed are ignored; subscribe and probe go to the roster
		// layer as if sent to the bare JID.
		if t := st.Get("type"); t == "subscribe" || t == "probe" {
			r.presenceToBare(st, from, to.Bare())
		}
	case "iq":
		if t := st.Get("type"); t == "get" || t == "set" {
			r.bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
	}
}

// messageToBare: RFC 6121 8.5.2.1.1 and 8.5.2.2.1.
func (r *Router) messageToBare(st *stanza.Element, from, bare jid.JID) {
	typ := st.Get("type")
	switch typ {
	case "error":
		return // MUST silently ignore
	case "groupchat":
		r.bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
		return
	}
	var buf [8]Resource
	list := r.Registry.Resources(buf[:0], bare)
	if typ == "headline" {
		// 8.5.2.1.1: headlines go to all non-negative resources, or are
		// ignored when there is none.
		got := list[:0]
		for _, res := range list {
			if res.Available && res.Priority >= 0 && res.Sink.Deliver(st) {
				got = append(got, res)
			}
		}
		if len(got) > 0 {
			r.delivered(st, from, bare, got)
		}
		return
	}
	// normal and chat: the "most available" resources, meaning those with
	// the highest non-negative priority; never a negative one (8.5.2.1.1).
	best := int8(-1)
	for _, res := range list {
		if res.Available && res.Priority > best {
			best = res.Priority
		}
	}
	// got reuses list's array: each kept entry is written at or before
	// the one being read.
	got := list[:0]
	if best >= 0 {
		for _, res := range list {
			if res.Available && res.Priority == best && res.Sink.Deliver(st) {
				got = append(got, res)
			}
		}
	}
	if len(got) > 0 || r.storeOffline(st, from, bare) {
		r.delivered(st, from, bare, got)
	}
}

// storeOffline keeps a message for later (RFC 6121 8.5.2.2.1 option a,
// XEP-0160). Only messages a person would miss are kept: chat states and
// receipts without a body are dropped. It reports whether st was kept.
func (r *Router) storeOffline(st *stanza.Element, from, bare jid.JID) bool {
	if r.Offline == nil || st.Child("", "body") == nil {
		return false
	}
	if err := r.Offline.Store(bare, st); err != nil {
		var serr *stanza.Error
		if !errors.As(err, &serr) {
			r.logger().Warn("offline store failed", "to", bare.String(), "err", err)
			serr = stanza.NewError(stanza.ServiceUnavailable, "the message could not be stored")
		}
		if errors.Is(err, ErrTooLarge) {
			// RFC 6120 8.3.1: the original data MUST NOT be included in
			// the error when it exceeds a size limit.
			st = &stanza.Element{Name: st.Name, Attr: st.Attr}
		}
		r.bounce(st, from, serr)
		return false
	}
	return true
}

// presenceToBare: RFC 6121 8.5.2.1.2 and 8.5.2.2.2.
func (r *Router) presenceToBare(st *stanza.Element, from, bare jid.JID) {
	switch st.Get("type") {
	case "", "unavailable":
		var buf [8]Resource
		for _, res := range r.Registry.Resources(buf[:0], bare) {
			if res.Available {
				res.Sink.Deliver(st)
			}
		}
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		// RFC 6121 3: the roster layer decides (Appendix A.3).
		if r.Presence != nil {
			r.Presence.Inbound(st, from, bare)
		}
	case "probe":
		// RFC 6121 4.3.2: the server answers probes itself.
		if r.Presence != nil {
			r.Presence.Probe(from, bare)
		}
	}
}

// deliverTo sends a stanza the server generated (a reply, an error) to
// to: every resource of a local bare JID, one local resource, or over s2s
// to a remote entity.
func (r *Router) deliverTo(to jid.JID, st *stanza.Element) {
	if c := r.Services.component(to.Domain()); c != nil {
		from, _ := jid.Parse(st.Get("from"))
		c.HandleStanza(st, from, to)
		return
	}
	if !r.IsLocal(to.Domain()) {
		if r.Remote != nil {
			from, _ := jid.Parse(st.Get("from"))
			if from.IsZero() {
				return
			}
			r.Remote.Send(st, from, to)
		}
		return
	}
	if to.IsBare() {
		var buf [8]Resource
		for _, res := range r.Registry.Resources(buf[:0], to) {
			res.Sink.Deliver(st)
		}
		return
	}
	if res, ok := r.Registry.Get(to); ok {
		res.Sink.Deliver(st)
	}
}

// bounce returns err to the sender of st (RFC 6120 8.3.1), unless st is
// itself an error.
func (r *Router) bounce(st *stanza.Element, from jid.JID, err *stanza.Error) {
	reply := stanza.Bounce(st, err)
	if reply == nil || from.IsZero() {
		return
	}
	if !reply.Has("from") {
		// An error about a stanza with no 'to' comes from the account.
		reply.Set("from", from.Bare().String())
	}
	r.deliverTo(from, reply)
}

// Bounce is bounce for other packages: a session answering a stanza it
// refused before routing.
func (r *Router) Bounce(st *stanza.Element, from jid.JID, err *stanza.Error) { r.bounce(st, from, err) }

// Deliver sends a stanza the server generates on an account's behalf (a
// service's push, or a presence the service owes) to to, as deliverTo:
// every resource of a local bare JID, one local resource, or a remote
// entity. Hooks do not see it.
func (r *Router) Deliver(to jid.JID, st *stanza.Element) { r.deliverTo(to, st) }

func (r *Router) exists(bare jid.JID) bool {
	return r.Accounts != nil && r.Accounts.Exists(bare)
}

func (r *Router) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func countElements(e *stanza.Element) int {
	n := 0
	for _, c := range e.Children {
		if _, ok := c.(*stanza.Element); ok {
			n++
		}
	}
	return n
}
