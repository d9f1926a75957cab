package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/ops"
)

// Offline reports an account's stored offline messages against the
// per-account limit (limits.offline_per_user).
func (b *backend) Offline(ctx context.Context, raw string) (ops.Offline, error) {
	j, err := b.d.store.account(raw)
	if err != nil {
		return ops.Offline{}, err
	}
	msgs, err := b.d.node.Offline(j.String())
	if errors.Is(err, consensus.ErrNotFound) {
		return ops.Offline{}, fmt.Errorf("%w: there is no user %s", ops.ErrNotFound, j)
	}
	if err != nil {
		return ops.Offline{}, err
	}
	return ops.Offline{User: j.String(), Count: len(msgs), Limit: b.d.cfg.Limits.OfflinePerUser}, nil
}

// OfflineStats reports this node's offline storage counters.
func (b *backend) OfflineStats(ctx context.Context) (ops.OfflineStats, error) {
	s := b.d.store
	return ops.OfflineStats{
		Limit:           b.d.cfg.Limits.OfflinePerUser,
		Stored:          s.offlineStored.Load(),
		RefusedFull:     s.refusedFull.Load(),
		RefusedTooLarge: s.refusedTooLarge.Load(),
	}, nil
}
