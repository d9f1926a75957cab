package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// roster handles "roster list|add|remove". Every change goes through the
// server's roster service, so the user's clients get the same pushes as
// for a change they made themselves.
func (c *cli) roster(ctx context.Context, args []string) int {
	if len(args) == 0 {
		return c.usageErr("roster needs a subcommand: list, add or remove")
	}
	switch args[0] {
	case "list":
		if len(args) != 2 || args[1] == "" {
			return c.usageErr("usage: heraldctl roster list USER")
		}
		ro, err := c.client.Roster(ctx, args[1])
		if err != nil {
			return c.fail(err)
		}
		for _, it := range ro.Items {
			var flags []string
			if it.Ask {
				flags = append(flags, "ask")
			}
			if it.Approved {
				flags = append(flags, "approved")
			}
			if len(flags) == 0 {
				flags = []string{"-"}
			}
			groups := make([]string, len(it.Groups))
			for i, g := range it.Groups {
				groups[i] = field(g, ",")
			}
			fmt.Fprintf(c.stdout, "%s\t%s\t%s\t%s\t%s\n", it.JID, it.Subscription,
				strings.Join(flags, ","), field(it.Name, ""), strings.Join(groups, ","))
		}
		return exitOK
	case "add", "set":
		return c.rosterAdd(ctx, args[1:])
	case "remove", "delete", "del":
		if len(args) != 3 || args[1] == "" || args[2] == "" {
			return c.usageErr("usage: heraldctl roster remove USER CONTACT")
		}
		if err := c.client.RemoveRosterItem(ctx, args[1], args[2]); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "removed %s from the roster of %s\n", args[2], args[1])
		return exitOK
	}
	return c.usageErr(fmt.Sprintf("unknown roster subcommand %q", args[0]))
}

func (c *cli) rosterAdd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("roster add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "")
	var groups list
	fs.Var(&groups, "group", "")
	pos, err := interleaved(fs, args)
	if err != nil {
		return c.usageErr(err.Error())
	}
	if len(pos) != 2 || pos[0] == "" || pos[1] == "" {
		return c.usageErr("usage: heraldctl roster add USER CONTACT [--name NAME] [--group GROUP]...")
	}
	if err := c.client.SetRosterItem(ctx, pos[0], pos[1], *name, groups); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "saved %s in the roster of %s\n", pos[1], pos[0])
	return exitOK
}

// pending handles "pending list|approve|deny".
func (c *cli) pending(ctx context.Context, args []string) int {
	if len(args) == 0 {
		return c.usageErr("pending needs a subcommand: list, approve or deny")
	}
	switch args[0] {
	case "list":
		if len(args) != 2 || args[1] == "" {
			return c.usageErr("usage: heraldctl pending list USER")
		}
		list, err := c.client.Pending(ctx, args[1])
		if err != nil {
			return c.fail(err)
		}
		for _, p := range list {
			fmt.Fprintf(c.stdout, "%s\t%s\t%s\n", p.From, p.At.UTC().Format(time.RFC3339), oneLine(p.Stanza))
		}
		return exitOK
	case "approve", "deny":
		if len(args) != 3 || args[1] == "" || args[2] == "" {
			return c.usageErr(fmt.Sprintf("usage: heraldctl pending %s USER CONTACT", args[0]))
		}
		user, contact := args[1], args[2]
		var err error
		if args[0] == "approve" {
			err = c.client.ApproveRequest(ctx, user, contact)
		} else {
			err = c.client.DenyRequest(ctx, user, contact)
		}
		if err != nil {
			return c.fail(err)
		}
		verb := "approved"
		if args[0] == "deny" {
			verb = "denied"
		}
		fmt.Fprintf(c.stdout, "%s the subscription request from %s to %s\n", verb, contact, user)
		return exitOK
	}
	return c.usageErr(fmt.Sprintf("unknown pending subcommand %q", args[0]))
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

// field returns s as one tab-separated field: quoted (Go syntax) when it
// holds a control character, a double quote or sep, so that the line
// stays one line and the field one field.
func field(s, sep string) string {
	if strings.ContainsFunc(s, unicode.IsControl) || strings.Contains(s, `"`) ||
		(sep != "" && strings.Contains(s, sep)) {
		return strconv.Quote(s)
	}
	return s
}

// oneLine writes an XML stanza on one line: the line breaks and tabs it
// holds become character references, which an XML parser reads back as
// the same characters in text (and as whitespace in an attribute).
func oneLine(xml string) string {
	return strings.NewReplacer("\n", "&#10;", "\r", "&#13;", "\t", "&#9;").Replace(xml)
}
