package main

import (
	"context"
	"fmt"
)

func init() {
	register(
		command{name: "offline", args: "USER",
			help: "USER's stored offline messages against the per-account limit",
			run:  (*cli).offlineUser},
		command{name: "offline stats",
			help: "this node's offline counters: limit, stored, refused (storage full, too large)",
			run:  (*cli).offlineStats},
	)
}

// offlineUser prints an account's stored offline messages as count/limit.
func (c *cli) offlineUser(ctx context.Context, args []string) int {
	o, err := c.client.Offline(ctx, args[0])
	if err != nil {
		return c.fail(err)
	}
	full := ""
	if o.Count >= o.Limit {
		full = " (full: new messages are refused)"
	}
	fmt.Fprintf(c.stdout, "%s\t%d/%d%s\n", o.User, o.Count, o.Limit, full)
	return exitOK
}

// offlineStats prints this node's offline storage counters.
func (c *cli) offlineStats(ctx context.Context, _ []string) int {
	st, err := c.client.OfflineStats(ctx)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "limit per account  %d\nstored             %d\nrefused, full      %d\nrefused, too large %d\n",
		st.Limit, st.Stored, st.RefusedFull, st.RefusedTooLarge)
	return exitOK
}
