package service

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// Request is a stored inbound subscription request: the complete
// presence stanza as the contact sent it (RFC 6121 3.1.3).
type Request struct {
	From   string
	Stanza *stanza.Element
	At     int64
}

// Store is the replicated roster state. Apply is one Raft command whose
// Apply runs roster.Step; req is the stanza to keep when the effect says
// so.
type Store interface {
	List(user string) (items []roster.Item, ver uint64, err error)
	Get(user, contact string) (roster.Item, bool, error)
	Requests(user string) ([]Request, error)
	Apply(ctx context.Context, op roster.Op, req *Request) (roster.Effect, error)
}

// Resource is a connected resource as the roster layer sees it.
type Resource struct {
	JID        jid.JID
	Available  bool
	Interested bool
	Priority   int8
	// Presence is the resource's last available presence.
	Presence *stanza.Element
}

// Sender is how the roster layer reaches people: the stanza plane
// implements it.
type Sender interface {
	IsLocal(domain string) bool
	Exists(bare jid.JID) bool
	Resources(user jid.JID) []Resource
	Deliver(full jid.JID, st *stanza.Element) bool
	SetInterested(full jid.JID)
	// Remote sends st to another domain.
	Remote(st *stanza.Element, from, to jid.JID)
	// Offline keeps st for the user's next login.
	Offline(to jid.JID, st *stanza.Element) error
}

// ErrPendingFull is returned by a Store when a user holds the maximum
// number of pending inbound requests.
var ErrPendingFull = errors.New("roster: too many pending subscription requests")

// ErrUnavailable is returned by a Store that cannot write now (no quorum).
var ErrUnavailable = errors.New("roster: the roster store cannot accept writes")

// Service applies RFC 6121 2-4 between users: roster IQs, subscription
// stanzas in both directions, and presence broadcast. Every decision comes
// from the table through Store.Apply; Service only carries out the
// effects after the commit.
type Service struct {
	Store  Store
	Send   Sender
	Limits roster.Limits
	// Now returns the time in unix nanoseconds: when a request was
	// received, for the subscribe rate. The service reads the clock only
	// through it (tests drive it), and hands times to the pure table.
	Now func() int64
	// SubscribeRate is the number of outbound subscribe requests a user
	// may send per minute; burst is the same number.
	SubscribeRate int
	// MaxBuckets bounds the subscribe token buckets kept (one per account
	// that sent a subscribe in the last minute); 0 is DefaultMaxBuckets.
	MaxBuckets int
	// MaxDirected bounds the entities one resource's directed presence is
	// remembered for; 0 is DefaultMaxDirected.
	MaxDirected int
	Log         *slog.Logger

	pushID atomic.Uint64

	// stripes serialize apply-and-push per user (see apply).
	stripes [64]sync.Mutex

	buckets  buckets
	directed directedSets
}

const writeTimeout = 5 * time.Second

var stripeSeed = maphash.MakeSeed()

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// apply runs one command, then the effect's roster push, and translates
// store failures for the sender. Commands on one user's roster are applied
// and pushed one at a time on this node, so the user's resources see the
// pushes in version order (RFC 6121 2.6.3). before, when set, runs between
// the commit and the push: an inbound stanza is delivered before the push
// it causes (RFC 6121 3.1.6, 3.2.3, 3.3.3).
func (s *Service) apply(op roster.Op, req *Request, before func(roster.Effect)) (roster.Effect, *stanza.Error) {
	mu := &s.stripes[maphash.String(stripeSeed, op.User)%uint64(len(s.stripes))]
	mu.Lock()
	defer mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	e, err := s.Store.Apply(ctx, op, req)
	if err == nil {
		if before != nil {
			before(e)
		}
		if e.Push {
			if user, perr := jid.Parse(op.User); perr == nil {
				s.push(user, e.After, e.Ver)
			}
		}
		return e, nil
	}
	var se *roster.SetError
	switch {
	case errors.As(err, &se):
		return e, se.Stanza()
	case errors.Is(err, ErrPendingFull):
		// Anti-abuse (RFC 6121 3.1.3, second security warning).
		return e, stanza.NewError(stanza.PolicyViolation, "too many pending subscription requests")
	case errors.Is(err, ErrUnavailable):
		return e, stanza.NewError(stanza.ServiceUnavailable, "the server cannot store this change right now; try again")
	default:
		s.log().Warn("roster write failed", "user", op.User, "contact", op.Contact, "err", err)
		return e, stanza.NewError(stanza.InternalServerError, "")
	}
}

// Register implements delivery.Service: the server answers roster gets
// and sets to the account's bare JID (RFC 6121 2.1.3, 8.5.2.1.3).
func (s *Service) Register(m *delivery.Mux) {
	m.HandleUser(stanza.Name{Space: roster.NSRoster, Local: "query"}, s.HandleIQ)
}

// HandleIQ answers jabber:iq:roster get and set (RFC 6121 2.1-2.5). It
// has the shape of delivery.IQFunc.
func (s *Service) HandleIQ(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	user := from.Bare()
	if to.Bare() != user {
		// 2.1.5: only the user's own roster is reachable.
		return nil, stanza.NewError(stanza.Forbidden, "")
	}
	switch iq.Get("type") {
	case "get":
		return s.rosterGet(iq, q, from)
	case "set":
		return s.rosterSet(iq, q, from)
	}
	return nil, stanza.NewError(stanza.BadRequest, "")
}

func (s *Service) rosterGet(iq, q *stanza.Element, from jid.JID) (*stanza.Element, *stanza.Error) {
	items, ver, err := s.Store.List(from.Bare().String())
	if err != nil {
		s.log().Warn("roster read failed", "user", from.Bare().String(), "err", err)
		return nil, stanza.NewError(stanza.InternalServerError, "")
	}
	// 2.1.6: requesting the roster makes the resource interested.
	s.Send.SetInterested(from)
	res := result(iq, from)
	cur := strconv.FormatUint(ver, 10)
	// 2.6.3: a client presenting the current version gets an empty
	// result; any other version gets the whole roster, which is always a
	// correct answer.
	if q.Has("ver") && q.Get("ver") == cur {
		return res, nil
	}
	out := stanza.NewElement(roster.NSRoster, "query").Set("ver", cur)
	for _, it := range items {
		if it.Visible() {
			out.Append(itemElement(it))
		}
	}
	return res.Append(out), nil
}

func (s *Service) rosterSet(iq, q *stanza.Element, from jid.JID) (*stanza.Element, *stanza.Error) {
	user := from.Bare()
	items := q.Elements()
	var it *stanza.Element
	if len(items) == 1 {
		it = items[0]
	}
	var groups []string
	name := ""
	if it != nil {
		name = it.Get("name")
		for _, g := range it.Elements() {
			if g.Name.Local == "group" {
				groups = append(groups, g.Text())
			}
		}
	}
	sub := ""
	if it != nil {
		sub = it.Get("subscription")
	}
	if err := roster.ValidateSet(len(items), sub, name, groups, s.Limits); err != nil {
		return nil, err.Stanza()
	}
	contact, perr := roster.ParseItemJID(user, it.Get("jid"))
	if perr != nil {
		return nil, perr.Stanza()
	}
	var serr *stanza.Error
	if sub == "remove" {
		serr = s.removeItem(user, contact)
	} else {
		serr = s.setItem(user, contact, name, groups)
	}
	if serr != nil {
		return nil, serr
	}
	return result(iq, from), nil
}

// SetItem adds contact to the user's roster or updates its name and
// groups, as a roster set from one of the user's resources would (RFC 6121
// 2.3, 2.4): the same checks (2.3.3), the same command, and the same push
// to every interested resource (2.3.2). It is for acting on the user's
// behalf (an operator); the error is the one a client would get.
func (s *Service) SetItem(user, contact jid.JID, name string, groups []string) *stanza.Error {
	if err := roster.ValidateSet(1, "", name, groups, s.Limits); err != nil {
		return err.Stanza()
	}
	c, err := checkItem(user, contact)
	if err != nil {
		return err
	}
	return s.setItem(user.Bare(), c, name, groups)
}

// RemoveItem deletes contact from the user's roster as a roster set with
// subscription="remove" would (2.5): the removal is pushed and the
// subscriptions both ways are cancelled (2.5.2). An item that is not in
// the roster is item-not-found (2.5.3).
func (s *Service) RemoveItem(user, contact jid.JID) *stanza.Error {
	c, err := checkItem(user, contact)
	if err != nil {
		return err
	}
	return s.removeItem(user.Bare(), c)
}

// checkItem applies ParseItemJID, the rule for a roster set's 'jid', to a
// contact given as a JID (the zero JID is an item with no jid).
func checkItem(user, contact jid.JID) (jid.JID, *stanza.Error) {
	c, err := roster.ParseItemJID(user.Bare(), contact.String())
	if err != nil {
		return c, err.Stanza()
	}
	return c, nil
}

// setItem is a checked roster set (2.3.2): every success is pushed.
func (s *Service) setItem(user, contact jid.JID, name string, groups []string) *stanza.Error {
	_, serr := s.apply(roster.Op{Kind: roster.OpSet, User: user.String(), Contact: contact.String(), Name: name, Groups: groups}, nil, nil)
	return serr
}

// removeItem is a checked roster removal (2.5.2).
func (s *Service) removeItem(user, contact jid.JID) *stanza.Error {
	eff, serr := s.apply(roster.Op{Kind: roster.OpRemove, User: user.String(), Contact: contact.String()}, nil, nil)
	if serr != nil {
		return serr
	}
	// 2.5.2: removing an item cancels the subscriptions both ways. The
	// record is already gone, so the stanzas are not sent through
	// Outbound, which would see "None" and not route an "unsubscribed"
	// (A.2.4): as RemovalStanzas says, the table is folded over the state
	// the item had, acting on Presence and Route (in OutDecision's order)
	// but not on Push, since the removal itself was pushed.
	cur := eff.Before.State
	for _, k := range eff.Removal {
		d := roster.Outbound(cur, true, k)
		if d.Presence == roster.SendUnavailable {
			s.presenceAction(roster.SendUnavailable, user, contact) // 3.2.2: before the "unsubscribed"
		}
		if d.Route {
			st := stanza.NewElement(stanza.NSClient, "presence").Set("type", k.String()).
				Set("from", user.String()).Set("to", contact.String())
			s.route(st, user, contact)
		}
		cur = d.Next
	}
	return nil
}

func result(iq *stanza.Element, to jid.JID) *stanza.Element {
	r := stanza.NewElement(iq.Name.Space, "iq").Set("type", "result").Set("id", iq.Get("id"))
	return r.Set("to", to.String())
}

// itemElement is the wire form of an item (2.1.2).
func itemElement(it roster.Item) *stanza.Element {
	e := stanza.NewElement(roster.NSRoster, "item").Set("jid", it.JID)
	if it.Name != "" {
		e.Set("name", it.Name)
	}
	e.Set("subscription", it.SubscriptionAttr())
	if it.Ask() {
		e.Set("ask", "subscribe")
	}
	if it.Approved() {
		e.Set("approved", "true")
	}
	if !it.Removed {
		for _, g := range it.Groups {
			e.Append(stanza.NewElement(roster.NSRoster, "group").AppendText(g))
		}
	}
	return e
}

// push sends a roster push to every interested resource (2.1.6), and to
// no other.
func (s *Service) push(user jid.JID, it roster.Item, ver uint64) {
	q := stanza.NewElement(roster.NSRoster, "query").Set("ver", strconv.FormatUint(ver, 10)).Append(itemElement(it))
	for _, r := range s.Send.Resources(user) {
		if !r.Interested {
			continue
		}
		iq := stanza.NewElement(stanza.NSClient, "iq").Set("type", "set").
			Set("id", "push"+strconv.FormatUint(s.pushID.Add(1), 10)).
			Set("to", r.JID.String()).Append(q)
		s.Send.Deliver(r.JID, iq)
	}
}

// allowSubscribe is the per-user token bucket on outbound subscribe.
func (s *Service) allowSubscribe(user string) bool {
	if s.SubscribeRate <= 0 {
		return true
	}
	max := s.MaxBuckets
	if max == 0 {
		max = DefaultMaxBuckets
	}
	return s.buckets.allow(user, s.Now(), s.SubscribeRate, max)
}

// Stats are the sizes of the service's bounded tables, for the metrics
// endpoint.
type Stats struct {
	// SubscribeBuckets are the token buckets held; BucketsEvicted counts
	// those dropped at MaxBuckets while still limiting their account.
	SubscribeBuckets int
	BucketsEvicted   uint64
	// Directed are the directed-presence recipients remembered, over all
	// resources; DirectedRefused counts directed presence refused at
	// MaxDirected.
	Directed        int
	DirectedRefused uint64
}

// Stats returns the current figures.
func (s *Service) Stats() Stats {
	var st Stats
	st.SubscribeBuckets, st.BucketsEvicted = s.buckets.stats()
	st.Directed, st.DirectedRefused = s.directed.stats()
	return st
}
