package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

func init() {
	register(
		command{name: "roster list", args: "USER",
			help: "list USER's roster: contact, subscription, flags (ask, approved), name, groups",
			run:  (*cli).rosterList},
		command{name: "roster add", args: "USER CONTACT [--name N] [--group G]...",
			help:    "add CONTACT to USER's roster, or replace its name and groups, as USER's client would",
			aliases: []string{"roster set"}, run: (*cli).rosterAdd},
		command{name: "roster remove", args: "USER CONTACT",
			help:    "remove CONTACT from USER's roster; the subscriptions both ways are cancelled",
			aliases: []string{"roster delete", "roster del"}, run: (*cli).rosterRemove},
		command{name: "pending list", args: "USER",
			help: "list the subscription requests USER has not answered: from, received, stanza",
			run:  (*cli).pendingList},
		command{name: "pending approve", args: "USER CONTACT", help: "approve CONTACT's request on USER's behalf",
			run: (*cli).pendingApprove},
		command{name: "pending deny", args: "USER CONTACT", help: "deny CONTACT's request on USER's behalf",
			run: (*cli).pendingDeny},
	)
}

// The roster commands go through the server's roster service, so the
// user's clients get the same pushes as for a change they made themselves.

func (c *cli) rosterList(ctx context.Context, args []string) int {
	ro, err := c.client.Roster(ctx, args[0])
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
}

func (c *cli) rosterRemove(ctx context.Context, args []string) int {
	if err := c.client.RemoveRosterItem(ctx, args[0], args[1]); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "removed %s from the roster of %s\n", args[1], args[0])
	return exitOK
}

func (c *cli) rosterAdd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet(c.cmd.name, flag.ContinueOnError)
	name := fs.String("name", "", "")
	var groups list
	fs.Var(&groups, "group", "")
	pos, ok := c.positional(fs, args)
	if !ok {
		return exitUsage
	}
	if err := c.client.SetRosterItem(ctx, pos[0], pos[1], *name, groups); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "saved %s in the roster of %s\n", pos[1], pos[0])
	return exitOK
}

func (c *cli) pendingList(ctx context.Context, args []string) int {
	list, err := c.client.Pending(ctx, args[0])
	if err != nil {
		return c.fail(err)
	}
	for _, p := range list {
		fmt.Fprintf(c.stdout, "%s\t%s\t%s\n", p.From, p.At.UTC().Format(time.RFC3339), oneLine(p.Stanza))
	}
	return exitOK
}

func (c *cli) pendingApprove(ctx context.Context, args []string) int {
	return c.pendingAnswer(ctx, args, c.client.ApproveRequest, "approved")
}

func (c *cli) pendingDeny(ctx context.Context, args []string) int {
	return c.pendingAnswer(ctx, args, c.client.DenyRequest, "denied")
}

// pendingAnswer answers CONTACT's (args[1]) request to USER (args[0]).
func (c *cli) pendingAnswer(ctx context.Context, args []string, answer func(ctx context.Context, user, contact string) error, verb string) int {
	if err := answer(ctx, args[0], args[1]); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "%s the subscription request from %s to %s\n", verb, args[1], args[0])
	return exitOK
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
