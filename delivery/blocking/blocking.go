package blocking

import (
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Namespaces of XEP-0191.
const (
	NS       = "urn:xmpp:blocking"
	NSErrors = "urn:xmpp:blocking:errors"
)

// DefaultMax is the cap on an account's blocked JIDs when Service.Max is
// zero.
const DefaultMax = 1000

// ErrFull is what a Store returns when a block would take the list past
// max: nothing of the block was kept.
var ErrFull = errors.New("blocking: blocklist full")

// Store is the replicated blocklist as the service needs it. JIDs are
// canonical strings (jid.JID.String).
type Store interface {
	// Blocklist returns the JIDs user blocks.
	Blocklist(user jid.JID) ([]string, error)
	// Blocked reports whether user blocks any of jids.
	Blocked(user jid.JID, jids ...string) (bool, error)
	// Change blocks jids for user, or unblocks them, or unblocks every JID
	// (unblock with none). A block that would leave more than max JIDs
	// fails with ErrFull.
	Change(user jid.JID, unblock bool, jids []string, max int) error
}

// Service is XEP-0191 for the accounts of a router.
type Service struct {
	Store  Store
	Router *delivery.Router
	// Max caps an account's list; zero means DefaultMax.
	Max int
	// PresenceAllowed reports whether contact may receive user's presence
	// (RFC 6121: a subscription of type from or both); nil means yes. It
	// decides who gets unavailable presence on a block.
	PresenceAllowed func(user, contact jid.JID) bool
	Log             *slog.Logger

	refusedIn, refusedOut, readFailures, pushes, full atomic.Uint64
	pushID                                            atomic.Uint64
}

// Stats are the service's counters since start.
type Stats struct {
	// RefusedIn and RefusedOut count stanzas stopped from and to blocked JIDs.
	RefusedIn, RefusedOut uint64
	// ReadFailures counts checks that could not read the list (the stanza
	// passed).
	ReadFailures uint64
	// Pushes counts blocklist pushes handed to resources.
	Pushes uint64
	// Full counts blocks refused because the list would pass Max.
	Full uint64
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{RefusedIn: s.refusedIn.Load(), RefusedOut: s.refusedOut.Load(),
		ReadFailures: s.readFailures.Load(), Pushes: s.pushes.Load(), Full: s.full.Load()}
}

// Limit is the cap in force on an account's list.
func (s *Service) Limit() int { return s.max() }

func (s *Service) max() int {
	if s.Max > 0 {
		return s.Max
	}
	return DefaultMax
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Register implements delivery.Service.
func (s *Service) Register(m *delivery.Mux) {
	// XEP-0191 3.1: the server advertises urn:xmpp:blocking.
	m.Feature(NS)
	m.HandleUser(stanza.Name{Space: NS, Local: "blocklist"}, s.blocklist)
	m.HandleUser(stanza.Name{Space: NS, Local: "block"}, s.change)
	m.HandleUser(stanza.Name{Space: NS, Local: "unblock"}, s.change)
	m.Hook(delivery.Hook{In: s.in, Out: s.out})
}

// own checks that an IQ comes from a resource of the account it is
// addressed to: nobody else reads or changes a blocklist.
func own(from, to jid.JID) *stanza.Error {
	if from.Bare() != to {
		// RFC 6121 8.5.2.1.3: as for any IQ the account does not answer.
		return stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return nil
}

func reply(iq *stanza.Element, from, to jid.JID) *stanza.Element {
	if !iq.Has("to") {
		to = jid.JID{} // the answer comes from the account (RFC 6120 8.1.2.1)
	}
	return delivery.Result(iq, from, to)
}

// blocklist answers a get (XEP-0191 3.2): every blocked JID, or an empty
// <blocklist/>.
func (s *Service) blocklist(iq, _ *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if e := own(from, to); e != nil {
		return nil, e
	}
	if iq.Get("type") != "get" {
		return nil, stanza.NewError(stanza.BadRequest, "the blocklist is read with an iq get")
	}
	list, err := s.Store.Blocklist(to)
	if err != nil {
		s.logger().Warn("blocking: reading a blocklist failed", "user", to.String(), "err", err)
		return nil, stanza.NewError(stanza.InternalServerError, "")
	}
	return reply(iq, from, to).Append(items(stanza.NewElement(NS, "blocklist"), list)), nil
}

func items(el *stanza.Element, jids []string) *stanza.Element {
	for _, j := range jids {
		el.Append(stanza.NewElement(NS, "item").Set("jid", j))
	}
	return el
}

// change answers <block/> and <unblock/> (XEP-0191 3.3-3.5).
func (s *Service) change(iq, payload *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if e := own(from, to); e != nil {
		return nil, e
	}
	if iq.Get("type") != "set" {
		return nil, stanza.NewError(stanza.BadRequest, "the blocklist is changed with an iq set")
	}
	unblock := payload.Name.Local == "unblock"
	var jids []string
	for _, it := range payload.Elements() {
		if it.Name.Space != NS || it.Name.Local != "item" {
			continue
		}
		if len(jids) == s.max() {
			// More items than any list may hold: refused before parsing
			// or proposing any more of them.
			return nil, s.tooMany()
		}
		j, err := jid.Parse(it.Get("jid"))
		if err != nil {
			return nil, stanza.NewError(stanza.JIDMalformed, "an item's jid is not a valid JID")
		}
		jids = append(jids, j.String())
	}
	// XEP-0191 3.3: a block without an item is bad-request. An unblock
	// without one unblocks every JID (3.5).
	if !unblock && len(jids) == 0 {
		return nil, stanza.NewError(stanza.BadRequest, "a block needs at least one item")
	}
	if err := s.Store.Change(to, unblock, jids, s.max()); err != nil {
		if errors.Is(err, ErrFull) {
			return nil, s.tooMany()
		}
		s.logger().Warn("blocking: changing a blocklist failed", "user", to.String(), "err", err)
		return nil, stanza.NewError(stanza.InternalServerError, "the blocklist could not be changed")
	}
	s.push(to, payload.Name.Local, jids)
	s.presence(to, unblock, jids)
	return reply(iq, from, to), nil
}

// tooMany is the answer to a block past the cap, counted.
func (s *Service) tooMany() *stanza.Error {
	s.full.Add(1)
	return stanza.NewError(stanza.PolicyViolation, "a blocklist holds at most "+strconv.Itoa(s.max())+" JIDs")
}

// push tells every resource of user what changed (XEP-0191 3.3-3.5): an
// IQ set carrying the items of the request, or an empty <unblock/>.
func (s *Service) push(user jid.JID, kind string, jids []string) {
	var buf [8]delivery.Resource
	for _, r := range s.Router.Registry.Resources(buf[:0], user) {
		iq := stanza.NewElement(stanza.NSClient, "iq").Set("type", "set").
			Set("id", "block-push-"+strconv.FormatUint(s.pushID.Add(1), 10)).
			Set("to", r.JID.String()).
			Append(items(stanza.NewElement(NS, kind), jids))
		if r.Sink.Deliver(iq) {
			s.pushes.Add(1)
		}
	}
}

// presence sends what a block or unblock owes the JIDs (XEP-0191 3.3,
// 3.4): unavailable presence from each available resource of the user on
// a block, the resource's current presence on an unblock, to each JID
// allowed to see the user's presence. An unblock of every JID sends
// nothing: the list it cleared is not known here.
func (s *Service) presence(user jid.JID, unblock bool, jids []string) {
	var buf [8]delivery.Resource
	var avail []delivery.Resource
	for _, r := range s.Router.Registry.Resources(buf[:0], user) {
		if r.Available {
			avail = append(avail, r)
		}
	}
	if len(avail) == 0 {
		return
	}
	for _, raw := range jids {
		contact, err := jid.Parse(raw)
		if err != nil || (s.PresenceAllowed != nil && !s.PresenceAllowed(user, contact)) {
			continue
		}
		for _, r := range avail {
			var p *stanza.Element
			switch {
			case !unblock:
				p = stanza.NewElement(stanza.NSClient, "presence").Set("type", "unavailable")
			case r.Presence != nil:
				p = r.Presence.ShallowCopy()
			default:
				continue
			}
			p.Set("from", r.JID.String()).Set("to", contact.String())
			s.Router.Deliver(contact, p)
		}
	}
}

// forms are the JIDs an item may name to match j (XEP-0191 6): the full
// JID, the bare JID, domain/resource and the domain.
func forms(j jid.JID) []string {
	out := make([]string, 0, 4)
	out = append(out, j.String())
	if !j.IsBare() {
		out = append(out, j.Bare().String())
		if j.Local() != "" {
			if dr, err := jid.Parse(j.Domain() + "/" + j.Resource()); err == nil {
				out = append(out, dr.String())
			}
		}
	}
	if j.Local() != "" {
		out = append(out, j.Domain())
	}
	return out
}

// blocks reports whether user blocks other; a read failure passes.
func (s *Service) blocks(user, other jid.JID) bool {
	// XEP-0191 5: one of a user's resources is never blocked from another.
	if other.Bare() == user {
		return false
	}
	ok, err := s.Store.Blocked(user, forms(other)...)
	if err != nil {
		s.readFailures.Add(1)
		s.logger().Warn("blocking: reading a blocklist failed; the stanza passes", "user", user.String(), "err", err)
		return false
	}
	return ok
}

// in stops a stanza from a JID the account blocks (XEP-0191 3.3).
func (s *Service) in(st *stanza.Element, from, to jid.JID) bool {
	if !s.blocks(to.Bare(), from) {
		return true
	}
	s.refusedIn.Add(1)
	switch st.Name.Local {
	case "message":
		// SHOULD return service-unavailable (the account looks offline).
		s.Router.Bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
	case "iq":
		// MUST return an error to a get or set, SHOULD be
		// service-unavailable; other IQs MUST be dropped.
		if t := st.Get("type"); t == "get" || t == "set" {
			s.Router.Bounce(st, from, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
	}
	// Presence: MUST NOT respond, MUST NOT return an error.
	return false
}

// out stops a stanza the account sends to a JID it blocks (XEP-0191 3.3):
// MUST NOT route it, MUST return not-acceptable with <blocked/>.
func (s *Service) out(st *stanza.Element, from, to jid.JID) bool {
	if !s.blocks(from.Bare(), to) {
		return true
	}
	s.refusedOut.Add(1)
	if st.Name.Local != "presence" {
		e := &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable,
			App: stanza.NewElement(NSErrors, "blocked")}
		s.Router.Bounce(st, from, e)
	}
	return false
}
