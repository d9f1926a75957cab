package main

import (
	"context"
	"errors"

	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/delivery/blocking"
	"github.com/heraldxmpp/herald/delivery/jid"
)

// blockStore is blocking.Store over the consensus node: reads are local,
// every change is one BlockOp command.
type blockStore struct{ node *consensus.Node }

func (s blockStore) Blocklist(user jid.JID) ([]string, error) {
	return s.node.Blocklist(user.String())
}

func (s blockStore) Blocked(user jid.JID, jids ...string) (bool, error) {
	return s.node.Blocked(user.String(), jids...)
}

func (s blockStore) Change(user jid.JID, unblock bool, jids []string, max int) error {
	ctx, cancel := context.WithTimeout(context.Background(), proposeTimeout)
	defer cancel()
	_, err := s.node.Propose(ctx, consensus.BlockOp{User: user.String(), Unblock: unblock, JIDs: jids, Max: uint32(max)})
	if errors.Is(err, consensus.ErrBlocklistFull) {
		return errors.Join(blocking.ErrFull, err)
	}
	return err
}

// createBlocking builds the blocking service; the router's mux adds it.
func (d *daemon) createBlocking() {
	d.blocking = &blocking.Service{
		Store: blockStore{d.node}, Router: d.router, Max: d.cfg.Limits.BlockedJIDs,
		// XEP-0191 3.3: unavailable presence only to a JID that may see the
		// user's presence (a subscription from or both).
		PresenceAllowed: func(user, contact jid.JID) bool {
			it, ok, err := d.node.RosterItem(user.String(), contact.Bare().String())
			return err == nil && ok && it.State.Sub.HasFrom()
		},
		Log: d.log.With("component", "blocking"),
	}
}
