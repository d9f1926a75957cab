package main

import (
	"context"
	"errors"
	"time"

	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
	"github.com/heraldxmpp/herald/roster"
	rosterservice "github.com/heraldxmpp/herald/roster/service"
)

// createRoster builds the roster service (RFC 6121 2-4) over the
// replicated store and the stanza plane; the router gives it subscription
// stanzas and probes.
func (d *daemon) createRoster() {
	d.roster = &rosterservice.Service{
		Store: &rosterStore{node: d.node, log: d.log,
			maxItems: uint32(d.cfg.Limits.RosterItems), maxPending: uint32(d.cfg.Limits.PendingRequests),
			stored: d.store.stored},
		Send:          &rosterSender{router: d.router, store: d.store},
		Limits:        roster.Limits{MaxItems: d.cfg.Limits.RosterItems},
		Now:           func() int64 { return time.Now().UnixNano() },
		SubscribeRate: d.cfg.Limits.SubscribesPerMinute,
		Log:           d.log.With("component", "roster"),
	}
	d.router.Presence = d.roster
}

// rosterStore is rosterservice.Store over the consensus node: every write is one
// RosterOp command whose Apply runs the roster table.
type rosterStore struct {
	node       *consensus.Node
	log        interface{ Warn(string, ...any) }
	maxItems   uint32
	maxPending uint32
	// stored bounds the pending requests read back, as for offline
	// messages (delivery.StoredLimits).
	stored xmlstream.Limits
}

func (s *rosterStore) List(user string) ([]roster.Item, uint64, error) {
	return s.node.Roster(user)
}

func (s *rosterStore) Get(user, contact string) (roster.Item, bool, error) {
	return s.node.RosterItem(user, contact)
}

func (s *rosterStore) Requests(user string) ([]rosterservice.Request, error) {
	reqs, err := s.node.PendingRequests(user)
	if err != nil {
		return nil, err
	}
	out := make([]rosterservice.Request, 0, len(reqs))
	for _, r := range reqs {
		el, err := delivery.ReadStored(r.Stanza, s.stored)
		if err != nil {
			s.log.Warn("skipping an unreadable pending request", "user", user, "from", r.From, "err", err)
			continue
		}
		out = append(out, rosterservice.Request{From: r.From, Stanza: el, At: r.At})
	}
	return out, nil
}

func (s *rosterStore) Apply(ctx context.Context, op roster.Op, req *rosterservice.Request) (roster.Effect, error) {
	cmd := consensus.RosterOp{
		Op: uint8(op.Kind), User: op.User, Contact: op.Contact, Name: op.Name, Groups: op.Groups,
		Sub: uint8(op.Sub), MaxItems: s.maxItems, MaxPending: s.maxPending,
	}
	if req != nil {
		raw, ok := delivery.FitsStored(req.Stanza, s.stored)
		if !ok {
			// Kept requests are delivered at every login: one that could
			// not be read back is refused now (RFC 6120 8.3.3.11).
			return roster.Effect{}, &roster.SetError{Condition: stanza.NotAcceptable, Text: "the subscription request is too large to be kept"}
		}
		cmd.Stanza = raw
		cmd.At = req.At
	}
	res, err := s.node.Propose(ctx, cmd)
	switch {
	case err == nil:
		return *res.Roster, nil
	case errors.Is(err, consensus.ErrPendingFull):
		return roster.Effect{}, rosterservice.ErrPendingFull
	case errors.Is(err, consensus.ErrNotApplied), errors.Is(err, consensus.ErrOutcomeUnknown),
		errors.Is(err, consensus.ErrNotLeader), errors.Is(err, consensus.ErrTimeout), errors.Is(err, consensus.ErrClosed):
		return roster.Effect{}, errors.Join(rosterservice.ErrUnavailable, err)
	}
	return roster.Effect{}, err
}

// rosterSender is rosterservice.Sender over the stanza plane.
type rosterSender struct {
	router *delivery.Router
	store  *store
}

func (s *rosterSender) IsLocal(domain string) bool { return s.router.IsLocal(domain) }

func (s *rosterSender) Exists(bare jid.JID) bool { return s.store.Exists(bare) }

func (s *rosterSender) Resources(user jid.JID) []rosterservice.Resource {
	var buf [8]delivery.Resource
	list := s.router.Registry.Resources(buf[:0], user)
	out := make([]rosterservice.Resource, len(list))
	for i, r := range list {
		out[i] = rosterservice.Resource{JID: r.JID, Available: r.Available, Interested: r.Interested,
			Priority: r.Priority, Presence: r.Presence}
	}
	return out
}

func (s *rosterSender) Deliver(full jid.JID, st *stanza.Element) bool {
	// Presence between local accounts does not pass through Route: the
	// router's hooks (a blocking list) see it here.
	if from, err := jid.Parse(st.Get("from")); err == nil && !s.router.Admit(st, from, full) {
		return false
	}
	r, ok := s.router.Registry.Get(full)
	return ok && r.Sink.Deliver(st)
}

func (s *rosterSender) SetInterested(full jid.JID) {
	s.router.Registry.Update(full, func(r *delivery.Resource) { r.Interested = true })
}

func (s *rosterSender) Remote(st *stanza.Element, from, to jid.JID) { s.router.Route(st, from, to) }

func (s *rosterSender) Offline(to jid.JID, st *stanza.Element) error { return s.store.Store(to, st) }
