package carbons

import (
	"sync/atomic"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Namespaces of XEP-0280 and of what it carries.
const (
	NS        = "urn:xmpp:carbons:2"
	NSForward = "urn:xmpp:forward:0" // XEP-0297
	nsHints   = "urn:xmpp:hints"     // XEP-0334
	nsMUCUser = "http://jabber.org/protocol/muc#user"
)

// imPayloads are the namespaces of payloads "typically used in IM" that
// make a message without a body eligible (XEP-0280 6.1): receipts
// (XEP-0184), chat states (XEP-0085), markers (XEP-0333), and direct MUC
// invitations (XEP-0249), which SHOULD be copied.
var imPayloads = map[string]bool{
	"jabber:x:conference":                   true,
	"urn:xmpp:receipts":                     true,
	"http://jabber.org/protocol/chatstates": true,
	"urn:xmpp:chat-markers:0":               true,
}

// Service is XEP-0280 for the accounts of a registry.
type Service struct {
	Registry *delivery.Registry

	sent, received atomic.Uint64
}

// Stats are the service's counters since start.
type Stats struct {
	Sent, Received uint64 // copies handed to resources
}

// Stats returns the counters.
func (s *Service) Stats() Stats { return Stats{Sent: s.sent.Load(), Received: s.received.Load()} }

// Register implements delivery.Service.
func (s *Service) Register(m *delivery.Mux) {
	// XEP-0280 3: the server advertises urn:xmpp:carbons:2. Not
	// urn:xmpp:carbons:rules:0 (6.2): errors are not copied, since the
	// server does not track which message an error answers.
	m.Feature(NS)
	m.HandleUser(stanza.Name{Space: NS, Local: "enable"}, s.toggle)
	m.HandleUser(stanza.Name{Space: NS, Local: "disable"}, s.toggle)
	m.Hook(delivery.Hook{Out: s.out, Delivered: s.delivered})
}

// toggle answers <enable/> and <disable/> (XEP-0280 4, 5).
func (s *Service) toggle(iq, payload *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if iq.Get("type") != "set" {
		return nil, stanza.NewError(stanza.BadRequest, "carbons are enabled and disabled with an iq set")
	}
	// XEP-0280 4.1, 5.1: a resource switches its own carbons only; the
	// IQ goes to (or defaults to) its own bare JID.
	if from.IsBare() || from.Bare() != to {
		return nil, stanza.NewError(stanza.NotAllowed, "carbons are enabled by the resource itself")
	}
	on := payload.Name.Local == "enable"
	// XEP-0280 10.1: enabling twice, or disabling twice, is not an error.
	if _, _, ok := s.Registry.Update(from, func(r *delivery.Resource) { r.Carbons = on }); !ok {
		return nil, stanza.NewError(stanza.NotAllowed, "the resource is not bound here")
	}
	if !iq.Has("to") {
		to = jid.JID{} // the answer comes from the account (RFC 6120 8.1.2.1)
	}
	return delivery.Result(iq, from, to), nil
}

// Eligible reports whether a message is copied (XEP-0280 6.1). inbound
// is true for a message received by the account.
func Eligible(st *stanza.Element, inbound bool) bool {
	if st.Name.Local != "message" {
		return false
	}
	body := false
	im := false
	for _, c := range st.Elements() {
		switch {
		// XEP-0280 9: the sending and the receiving server MUST NOT copy a
		// message marked private; XEP-0334 4.3: nor one with no-copy.
		case c.Name.Space == NS && c.Name.Local == "private",
			c.Name.Space == nsHints && c.Name.Local == "no-copy":
			return false
		// XEP-0280 6.1: a mediated invitation (XEP-0045 7.8.2) SHOULD be
		// copied; a private message from a MUC occupant SHOULD NOT (the
		// room copies it to every joined client).
		case c.Name.Space == nsMUCUser && c.Name.Local == "x":
			if c.Child(nsMUCUser, "invite") != nil {
				im = true
			} else if inbound {
				return false
			}
		case c.Name.Local == "body" && (c.Name.Space == st.Name.Space || c.Name.Space == ""):
			body = true
		case imPayloads[c.Name.Space]:
			im = true
		}
	}
	switch st.Get("type") {
	case "chat":
		return true
	case "", "normal":
		return body || im
	default:
		// groupchat SHOULD NOT be copied; errors cannot be tied to the
		// eligible message they answer; headlines are not IM.
		return false
	}
}

// out makes the <sent/> copies of a message a local resource sends
// (XEP-0280 8): to every carbons-enabled resource of the sender but the
// sender itself. A message to the account's own JIDs gets received copies
// instead, once delivered.
func (s *Service) out(st *stanza.Element, from, to jid.JID) bool {
	if to.Bare() == from.Bare() || !Eligible(st, false) {
		return true
	}
	s.sent.Add(s.copyTo(st, "sent", from.Bare(), func(r delivery.Resource) bool { return r.JID != from }))
	return true
}

// delivered makes the <received/> copies of a message delivered to a
// local account (XEP-0280 7): to every carbons-enabled resource that did
// not get the original and was not the one it was addressed to (which
// MUST NOT get a copy), nor the one that sent it.
func (s *Service) delivered(st *stanza.Element, from, to jid.JID, got []delivery.Resource) {
	if !Eligible(st, true) {
		return
	}
	s.received.Add(s.copyTo(st, "received", to.Bare(), func(r delivery.Resource) bool {
		if r.JID == to || r.JID == from {
			return false
		}
		for _, g := range got {
			if g.JID == r.JID {
				return false
			}
		}
		return true
	}))
}

// copyTo wraps st in a kind (sent or received) copy and hands it to each
// carbons-enabled resource of bare that want accepts; it returns how many
// took it.
func (s *Service) copyTo(st *stanza.Element, kind string, bare jid.JID, want func(delivery.Resource) bool) uint64 {
	var buf [8]delivery.Resource
	var n uint64
	for _, r := range s.Registry.Resources(buf[:0], bare) {
		if !r.Carbons || !want(r) {
			continue
		}
		// XEP-0280 10.3: a copy that cannot be delivered is dropped, never
		// bounced to the original sender.
		if r.Sink.Deliver(Wrap(st, kind, bare, r.JID)) {
			n++
		}
	}
	return n
}

// Wrap builds the copy of st for the resource to: a message from the
// account's bare JID with the original's type, holding <kind/>
// (sent or received) and the XEP-0297 <forwarded/> original
// (XEP-0280 7, 8).
func Wrap(st *stanza.Element, kind string, bare, to jid.JID) *stanza.Element {
	w := stanza.NewElement(stanza.NSClient, "message").Set("from", bare.String()).Set("to", to.String())
	if t := st.Get("type"); t != "" {
		w.Set("type", t)
	}
	return w.Append(stanza.NewElement(NS, kind).Append(
		stanza.NewElement(NSForward, "forwarded").Append(st)))
}
