package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/ops"
)

// The admin API's roster calls act on a user's behalf through the roster
// service, the code path the user's own client takes: an operator's
// change is decided by the same table, pushed to the same resources and
// routed to the same contacts as the user's would be.

func (b *backend) Roster(ctx context.Context, raw string) (ops.Roster, error) {
	user, err := b.user(raw)
	if err != nil {
		return ops.Roster{}, err
	}
	items, ver, err := b.d.node.Roster(user.String())
	if err != nil {
		return ops.Roster{}, err
	}
	// RFC 6121 2.6.3: the version a client would be given.
	out := ops.Roster{Ver: strconv.FormatUint(ver, 10), Items: []ops.RosterItem{}}
	for _, it := range items {
		// A request-only record is not part of the roster (roster.Item);
		// its request shows in Pending.
		if !it.Visible() {
			continue
		}
		out.Items = append(out.Items, ops.RosterItem{
			JID: it.JID, Name: it.Name, Groups: it.Groups,
			Subscription: it.SubscriptionAttr(), Ask: it.Ask(), Approved: it.Approved(),
		})
	}
	return out, nil
}

func (b *backend) SetRosterItem(ctx context.Context, rawUser, rawContact, name string, groups []string) error {
	user, contact, err := b.pair(rawUser, rawContact)
	if err != nil {
		return err
	}
	return rosterErr(b.d.roster.SetItem(user, contact, name, groups))
}

func (b *backend) RemoveRosterItem(ctx context.Context, rawUser, rawContact string) error {
	user, contact, err := b.pair(rawUser, rawContact)
	if err != nil {
		return err
	}
	if serr := b.d.roster.RemoveItem(user, contact); serr != nil {
		if serr.Condition == stanza.ItemNotFound {
			return fmt.Errorf("%w: %s has no roster item for %s", ops.ErrNotFound, user, contact)
		}
		return rosterErr(serr)
	}
	return nil
}

func (b *backend) Pending(ctx context.Context, raw string) ([]ops.Pending, error) {
	user, err := b.user(raw)
	if err != nil {
		return nil, err
	}
	reqs, err := b.d.node.PendingRequests(user.String())
	if err != nil {
		return nil, err
	}
	out := make([]ops.Pending, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, ops.Pending{From: r.From, At: time.Unix(0, r.At).UTC(), Stanza: string(r.Stanza)})
	}
	return out, nil
}

func (b *backend) ApproveRequest(ctx context.Context, user, contact string) error {
	return b.answer(user, contact, true)
}

func (b *backend) DenyRequest(ctx context.Context, user, contact string) error {
	return b.answer(user, contact, false)
}

// answer sends the user's "subscribed" or "unsubscribed" to a contact
// whose request is pending. The check matters: without a request, a
// "subscribed" would pre-approve the contact (RFC 6121 3.4) and an
// "unsubscribed" could cancel a subscription the contact holds (3.2),
// neither of which the operator asked for. A request answered by the
// user's own client between the check and the answer is answered again
// with the same meaning as above.
func (b *backend) answer(rawUser, rawContact string, approve bool) error {
	user, contact, err := b.pair(rawUser, rawContact)
	if err != nil {
		return err
	}
	reqs, err := b.d.node.PendingRequests(user.String())
	if err != nil {
		return err
	}
	found := false
	for _, r := range reqs {
		if r.From == contact.String() {
			found = true
			break
		}
	}
	if !found {
		return fmt.Errorf("%w: %s has no pending subscription request from %s", ops.ErrNotFound, user, contact)
	}
	return rosterErr(b.d.roster.Answer(user, contact, approve))
}

// user parses an operator-supplied account address and checks that the
// account exists.
func (b *backend) user(raw string) (jid.JID, error) {
	j, err := b.d.store.account(raw)
	if err != nil {
		return j, err
	}
	if _, err := b.d.node.Account(j.String()); errors.Is(err, consensus.ErrNotFound) {
		return j, fmt.Errorf("%w: there is no user %s", ops.ErrNotFound, j)
	} else if err != nil {
		return j, err
	}
	return j, nil
}

// pair parses a user (an existing local account) and a contact (any bare
// JID: user@domain, or a domain for a service).
func (b *backend) pair(rawUser, rawContact string) (user, contact jid.JID, err error) {
	user, err = b.user(rawUser)
	if err != nil {
		return user, contact, err
	}
	contact, err = jid.Parse(rawContact)
	if err != nil {
		return user, contact, fmt.Errorf("%w: the contact %q is not a valid JID: %v", ops.ErrBadRequest, rawContact, err)
	}
	if !contact.IsBare() {
		return user, contact, fmt.Errorf("%w: the contact %q has a resource; contacts are bare JIDs (user@domain)", ops.ErrBadRequest, rawContact)
	}
	if contact == user {
		return user, contact, fmt.Errorf("%w: %s cannot be a contact of itself", ops.ErrBadRequest, user)
	}
	return user, contact, nil
}

// rosterErr translates the roster service's refusal, the stanza error a
// client would have received, for an operator.
func rosterErr(e *stanza.Error) error {
	if e == nil {
		return nil
	}
	text := e.Text
	if text == "" {
		text = string(e.Condition)
	}
	switch e.Condition {
	case stanza.ItemNotFound:
		return fmt.Errorf("%w: %s", ops.ErrNotFound, text)
	case stanza.BadRequest, stanza.JIDMalformed, stanza.NotAcceptable, stanza.NotAllowed,
		stanza.PolicyViolation, stanza.ResourceConstraint:
		return fmt.Errorf("%w: %s", ops.ErrBadRequest, text)
	case stanza.ServiceUnavailable:
		return fmt.Errorf("%w: %s", ops.ErrNoQuorum, text)
	}
	return fmt.Errorf("the roster service refused: %w", e)
}
