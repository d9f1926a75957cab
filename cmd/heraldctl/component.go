package main

import (
	"context"
	"fmt"
)

func init() {
	register(command{name: "component list",
		help: "list XEP-0114 external components: domain, connected, stanzas in/out",
		run:  (*cli).componentList})
}

func (c *cli) componentList(ctx context.Context, _ []string) int {
	list, err := c.client.Components(ctx)
	if err != nil {
		return c.fail(err)
	}
	for _, k := range list {
		state := "disconnected"
		if k.Connected {
			state = "connected"
		}
		fmt.Fprintf(c.stdout, "%s\t%s\tin=%d\tout=%d\n", k.Domain, state, k.In, k.Out)
	}
	return exitOK
}
