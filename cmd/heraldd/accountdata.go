package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/private"
	"github.com/heraldxmpp/herald/delivery/vcard"
)

// createAccountData builds the account storage services, XEP-0049
// private XML and XEP-0054 vCards, over the replicated store.
func (d *daemon) createAccountData() {
	keeper := func(max int, component string) delivery.Keeper {
		return delivery.Keeper{MaxBytes: max, Stored: storedLimits(d.cfg), Log: d.log.With("component", component)}
	}
	d.private = &private.Service{Store: privateStore{d.node}, Keeper: keeper(d.cfg.Limits.PrivateBytes, "private")}
	d.vcard = &vcard.Service{Store: vcardStore{d.node}, Keeper: keeper(d.cfg.Limits.VCardBytes, "vcard")}
}

// privateStore is private.Store over the consensus node.
type privateStore struct{ node *consensus.Node }

func (s privateStore) Get(user, space, local string) ([]byte, bool, error) {
	return s.node.Private(user, space, local)
}

func (s privateStore) Set(ctx context.Context, user, space, local string, xml []byte, limit int) error {
	return keepErr(s.node.Propose(ctx, consensus.SetPrivate{User: user, Space: space, Local: local, XML: xml, Limit: uint32(limit)}))
}

// vcardStore is vcard.Store over the consensus node.
type vcardStore struct{ node *consensus.Node }

func (s vcardStore) Get(user string) ([]byte, bool, error) { return s.node.VCard(user) }

func (s vcardStore) Set(ctx context.Context, user string, xml []byte, limit int) error {
	return keepErr(s.node.Propose(ctx, consensus.SetVCard{User: user, XML: xml, Limit: uint32(limit)}))
}

// keepErr gives a consensus error the meaning delivery.Keeper reads.
func keepErr(_ consensus.Result, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, consensus.ErrTooLarge):
		return fmt.Errorf("%w: %w", delivery.ErrOverLimit, err)
	case errors.Is(err, consensus.ErrNotApplied), errors.Is(err, consensus.ErrOutcomeUnknown),
		errors.Is(err, consensus.ErrNotLeader), errors.Is(err, consensus.ErrTimeout), errors.Is(err, consensus.ErrClosed):
		return fmt.Errorf("%w: %w", delivery.ErrStoreUnavailable, err)
	}
	return err
}
