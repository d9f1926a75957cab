package main

import (
	"context"
	"fmt"
	"time"
)

// s2s handles "s2s links" and "s2s resolve DOMAIN".
func (c *cli) s2s(ctx context.Context, args []string) int {
	switch {
	case len(args) == 1 && args[0] == "links":
		links, err := c.client.Links(ctx)
		if err != nil {
			return c.fail(err)
		}
		for _, l := range links {
			auth := l.Auth
			if auth == "" {
				auth = "-"
			}
			fmt.Fprintf(c.stdout, "%s\t%s\t%s\t%s\t%s\tin=%d\tout=%d\tqueued=%d\tfailures=%d\tsince=%s\n",
				l.Direction, l.Local, l.Remote, l.State, auth, l.In, l.Out, l.Queued, l.Failures,
				l.Since.UTC().Format(time.RFC3339))
		}
		return exitOK
	case len(args) == 2 && args[0] == "resolve":
		targets, err := c.client.Resolve(ctx, args[1])
		if err != nil {
			return c.fail(err)
		}
		for _, t := range targets {
			mode := "starttls"
			if t.DirectTLS {
				mode = "direct-tls"
			}
			fmt.Fprintf(c.stdout, "%s:%d\t%s\n", t.Host, t.Port, mode)
		}
		return exitOK
	}
	return c.usageErr("usage: heraldctl s2s links | heraldctl s2s resolve DOMAIN")
}
