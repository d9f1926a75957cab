package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// cluster handles "cluster status|join|remove|stepdown". Join and remove
// take --force, which skips the server's live-majority check.
func (c *cli) cluster(ctx context.Context, args []string) int {
	force := false
	if len(args) > 0 && (args[0] == "join" || args[0] == "remove") {
		fs := flag.NewFlagSet("cluster "+args[0], flag.ContinueOnError)
		f := fs.Bool("force", false, "")
		pos, ok := c.positional(fs, args[1:])
		if !ok {
			return exitUsage
		}
		force, args = *f, append(args[:1:1], pos...)
	}
	switch {
	case len(args) == 1 && args[0] == "status":
		st, err := c.client.Cluster(ctx)
		if err != nil {
			return c.fail(err)
		}
		leader := st.LeaderID
		if leader == "" {
			leader = "(none: no quorum)"
		}
		caught := "yes"
		if !st.CaughtUp {
			caught = "no: logins are refused with a temporary error until it is"
		}
		fmt.Fprintf(c.stdout, "node      %s %s (%s)\nleader    %s %s\nterm      %d\n"+
			"indexes   last %d, commit %d, applied %d (raft), state %d\ncaught up %s\n",
			st.ID, st.Addr, st.State, leader, st.LeaderAddr, st.Term,
			st.LastIndex, st.CommitIndex, st.AppliedIndex, st.StateIndex, caught)
		for _, m := range st.Members {
			role := m.Suffrage
			if m.Leader {
				role += ", leader"
			}
			fmt.Fprintf(c.stdout, "member    %s\t%s\t%s", m.ID, m.Addr, role)
			if m.Known {
				fmt.Fprintf(c.stdout, "\tlast contact %dms, lag %d", m.LastContactMS, m.Lag)
			}
			fmt.Fprintln(c.stdout)
		}
		return exitOK
	case len(args) == 3 && args[0] == "join":
		if err := c.client.JoinNode(ctx, args[1], args[2], force); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "%s (%s) is a member\n", args[1], args[2])
		return exitOK
	case len(args) == 2 && args[0] == "remove":
		if err := c.client.RemoveNode(ctx, args[1], force); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "%s removed\n", args[1])
		return exitOK
	case len(args) == 1 && args[0] == "stepdown":
		if err := c.client.Stepdown(ctx); err != nil {
			return c.fail(err)
		}
		fmt.Fprintln(c.stdout, "leadership handed over")
		return exitOK
	}
	return c.usageErr("usage: heraldctl cluster status | join [--force] ID ADDR | remove [--force] ID | stepdown")
}

// snapshot handles "snapshot save FILE": the file appears only once the
// whole snapshot has arrived.
func (c *cli) snapshot(ctx context.Context, args []string) int {
	if len(args) != 2 || args[0] != "save" {
		return c.usageErr("usage: heraldctl snapshot save FILE")
	}
	path := args[1]
	tmp, err := os.CreateTemp(filepath.Dir(path), ".heraldctl-snapshot-*")
	if err != nil {
		fmt.Fprintln(c.stderr, "heraldctl:", err)
		return exitFail
	}
	defer os.Remove(tmp.Name())
	if err := c.client.Snapshot(ctx, tmp); err != nil {
		tmp.Close()
		return c.fail(err)
	}
	info, err := tmp.Stat()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, "heraldctl:", err)
		return exitFail
	}
	fmt.Fprintf(c.stdout, "saved a snapshot of %d bytes to %s\n", info.Size(), path)
	return exitOK
}
