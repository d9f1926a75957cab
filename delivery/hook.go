package delivery

import (
	"slices"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Hook is a service's view of the stanzas local accounts send and
// receive: the seam for account services that act on messages and
// presence rather than answer IQs (carbons, a blocking list, an archive,
// client state indication, push). Every field is optional. Hooks run on
// the routing path, on the router's goroutine of the moment, in the order
// the services registered them (cmd/heraldd's Add order); like Sink.Deliver
// they must not block. A router whose mux holds no hook pays one length
// check per stanza and allocates nothing for them.
type Hook struct {
	// Out sees a message, presence or IQ that a resource of a local
	// account sends (from is its full JID; to is the parsed 'to', the
	// account's bare JID when it had none), before the router routes it.
	// It returns false when it has disposed of the stanza (refused it with
	// an error to the sender, or dropped it): routing stops there, and
	// later hooks do not see it.
	Out func(st *stanza.Element, from, to jid.JID) bool
	// In sees a stanza addressed to an existing local account (to is the
	// address it was sent to, bare or full), from a local or remote
	// sender, before the delivery rules of RFC 6121 8.5 run. It returns
	// false when it has disposed of the stanza, as Out.
	In func(st *stanza.Element, from, to jid.JID) bool
	// Delivered sees a message for a local account after the delivery
	// rules ran: got lists the resources that took it (none when it was
	// kept offline). It is not called for a message that was bounced or
	// dropped. got is the hook's own copy.
	Delivered func(st *stanza.Element, from, to jid.JID, got []Resource)
}

// Hook adds h to the hooks the router runs, after those already added.
func (m *Mux) Hook(h Hook) { m.hooks = append(m.hooks, h) }

func (m *Mux) hookList() []Hook {
	if m == nil {
		return nil
	}
	return m.hooks
}

// out runs the Out hooks for a stanza a local resource sends; false means
// one of them disposed of it.
func (r *Router) out(st *stanza.Element, from, to jid.JID) bool {
	for _, h := range r.Services.hookList() {
		if h.Out != nil && !h.Out(st, from, to) {
			return false
		}
	}
	return true
}

// in runs the In hooks for a stanza to a local account.
func (r *Router) in(st *stanza.Element, from, to jid.JID) bool {
	for _, h := range r.Services.hookList() {
		if h.In != nil && !h.In(st, from, to) {
			return false
		}
	}
	return true
}

// delivered runs the Delivered hooks. got is copied only when a hook
// wants it, so that a caller's stack buffer stays on the stack.
func (r *Router) delivered(st *stanza.Element, from, to jid.JID, got []Resource) {
	hooks := r.Services.hookList()
	if len(hooks) == 0 {
		return
	}
	for _, h := range hooks {
		if h.Delivered != nil {
			h.Delivered(st, from, to, slices.Clone(got))
		}
	}
}

// Admit runs the hooks for a stanza that reaches a local resource without
// Route (the roster layer's presence between local accounts): Out when
// from is a resource of a local account, In when to is an existing local
// account. It reports false when a hook disposed of the stanza.
func (r *Router) Admit(st *stanza.Element, from, to jid.JID) bool {
	if len(r.Services.hookList()) == 0 {
		return true
	}
	if r.sentByAccount(from) && !r.out(st, from, to) {
		return false
	}
	if to.Local() != "" && r.IsLocal(to.Domain()) && r.exists(to.Bare()) {
		return r.in(st, from, to)
	}
	return true
}

// sentByAccount reports whether from is a resource of a local account:
// the stanzas Out hooks see.
func (r *Router) sentByAccount(from jid.JID) bool {
	return from.Local() != "" && !from.IsBare() && r.IsLocal(from.Domain())
}
