package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldxmpp/herald/ops"
	"github.com/heraldxmpp/herald/s2s"
)

func (b *backend) Links(ctx context.Context) ([]ops.Link, error) {
	if b.d.s2s == nil {
		return nil, nil
	}
	var out []ops.Link
	for _, l := range b.d.s2s.Links() {
		dir := "out"
		if l.Direction == s2s.Inbound {
			dir = "in"
		}
		out = append(out, ops.Link{Local: l.Local, Remote: l.Remote, Direction: dir, State: l.State,
			Auth: string(l.Auth), In: l.In, Out: l.Out, Queued: l.Queued, Failures: l.Failures, Since: l.Since})
	}
	return out, nil
}

func (b *backend) Resolve(ctx context.Context, domain string) ([]ops.Target, error) {
	if b.d.resolver == nil {
		return nil, fmt.Errorf("%w: federation is disabled on this server", ops.ErrBadRequest)
	}
	targets, err := b.d.resolver.Resolve(ctx, domain)
	switch {
	case errors.Is(err, s2s.ErrNoService):
		return nil, fmt.Errorf("%w: %s offers no XMPP server service (%v)", ops.ErrNotFound, domain, err)
	case err != nil:
		return nil, fmt.Errorf("%w: resolving %s: %v", ops.ErrUnavailable, domain, err)
	}
	out := make([]ops.Target, len(targets))
	for i, t := range targets {
		out[i] = ops.Target{Host: t.Host, Port: t.Port, DirectTLS: t.DirectTLS}
	}
	return out, nil
}
