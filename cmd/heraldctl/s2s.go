package main

import (
	"context"
	"fmt"
	"time"
)

func init() {
	register(
		command{name: "s2s links",
			help: "list federation links: direction, local, remote, state, auth, stanzas in/out, queued",
			run:  (*cli).s2sLinks},
		command{name: "s2s resolve", args: "DOMAIN",
			help: "show where this server connects for DOMAIN (SRV targets in order, XEP-0368 direct TLS)",
			run:  (*cli).s2sResolve},
	)
}

func (c *cli) s2sLinks(ctx context.Context, _ []string) int {
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
}

func (c *cli) s2sResolve(ctx context.Context, args []string) int {
	targets, err := c.client.Resolve(ctx, args[0])
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
