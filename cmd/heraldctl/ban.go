package main

import (
	"context"
	"fmt"
	"time"
)

// The login guard's bans, on the node the socket belongs to.
func init() {
	register(
		command{name: "ban list",
			help: "addresses banned and accounts protected after failed logins (this node)",
			run:  (*cli).banList},
		command{name: "ban lift", args: "ADDR|JID",
			help: "end an address's ban or an account's protection",
			run:  (*cli).banLift},
	)
}

func (c *cli) banList(ctx context.Context, _ []string) int {
	bans, err := c.client.Bans(ctx)
	if err != nil {
		return c.fail(err)
	}
	for _, b := range bans {
		fmt.Fprintf(c.stdout, "%s\t%s\tfailures=%d\tuntil=%s\n",
			b.Kind, b.Key, b.Failures, b.Until.UTC().Format(time.RFC3339))
	}
	return exitOK
}

func (c *cli) banLift(ctx context.Context, args []string) int {
	if err := c.client.LiftBan(ctx, args[0]); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "lifted %s\n", args[0])
	return exitOK
}
