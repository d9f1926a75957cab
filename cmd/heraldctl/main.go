// Command heraldctl administers a running heraldd through its admin API.
//
// It finds the server the way heraldd does: from --config FILE, or from
// the zero-config defaults (the admin socket ./herald-data/admin.sock).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/heraldxmpp/herald/cmd/internal/config"
	"github.com/heraldxmpp/herald/ops"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: heraldctl [--config FILE] [--socket PATH] COMMAND

commands:
  status                         show the server's status
  user add JID [--password-file F]
                                 create an account (password prompted,
                                 read from F, or from standard input)
  user passwd JID [--password-file F]
                                 change an account's password
  user delete JID                delete an account and all it stores
  user list [DOMAIN]             list accounts
  session list                   list connected resources
  roster list USER               list USER's roster: contact, subscription,
                                 flags (ask, approved), name, groups
  roster add USER CONTACT [--name N] [--group G]...
                                 add CONTACT to USER's roster, or replace
                                 its name and groups, as USER's client would
  roster remove USER CONTACT     remove CONTACT from USER's roster; the
                                 subscriptions both ways are cancelled
  pending list USER              list the subscription requests USER has
                                 not answered: from, received, stanza
  pending approve USER CONTACT   approve CONTACT's request on USER's behalf
  pending deny USER CONTACT      deny CONTACT's request on USER's behalf
  s2s links                      list federation links: direction, local,
                                 remote, state, auth, stanzas in/out, queued
  s2s resolve DOMAIN             show where this server connects for DOMAIN
                                 (SRV targets in order, XEP-0368 direct TLS)
  cluster status                 members, leader, term, indexes, follower lag
  cluster join ID ADDR           admit node ID (cluster port ADDR)
  cluster remove ID              take node ID out of the cluster
  cluster stepdown               hand leadership to another member
  metrics                        print the metrics (Prometheus text format)
  snapshot save FILE             save a consistent online snapshot of the
                                 state (restore: heraldd -restore FILE)

exit status: 0 on success, 1 when the server refused or failed, 2 on a
usage error.
`

// exit codes
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// run is the whole program; tests call it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("heraldctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "")
	socket := fs.String("socket", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "heraldctl: %v\n%s", err, usage)
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	path := *socket
	if path == "" {
		cfg, err := config.Find(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, "heraldctl:", err)
			return exitUsage
		}
		path = cfg.Admin.Socket
	}
	c := &cli{client: ops.Dial(path), stdin: stdin, stdout: stdout, stderr: stderr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.dispatch(ctx, rest)
}

type cli struct {
	client *ops.Client
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (c *cli) dispatch(ctx context.Context, args []string) int {
	switch args[0] {
	case "status":
		return c.status(ctx)
	case "user":
		if len(args) < 2 {
			return c.usageErr("user needs a subcommand: add, passwd, delete or list")
		}
		switch args[1] {
		case "add":
			return c.userAdd(ctx, args[2:], false)
		case "passwd":
			return c.userAdd(ctx, args[2:], true)
		case "delete", "del", "remove":
			if len(args) != 3 {
				return c.usageErr("usage: heraldctl user delete JID")
			}
			if err := c.client.DeleteUser(ctx, args[2]); err != nil {
				return c.fail(err)
			}
			fmt.Fprintf(c.stdout, "deleted %s\n", args[2])
			return exitOK
		case "list":
			if len(args) > 3 {
				return c.usageErr("usage: heraldctl user list [DOMAIN]")
			}
			domain := ""
			if len(args) == 3 {
				domain = args[2]
			}
			users, err := c.client.ListUsers(ctx, domain)
			if err != nil {
				return c.fail(err)
			}
			for _, u := range users {
				fmt.Fprintln(c.stdout, u)
			}
			return exitOK
		}
		return c.usageErr(fmt.Sprintf("unknown user subcommand %q", args[1]))
	case "session", "sessions":
		if len(args) > 2 || (len(args) == 2 && args[1] != "list") {
			return c.usageErr("usage: heraldctl session list")
		}
		list, err := c.client.Sessions(ctx)
		if err != nil {
			return c.fail(err)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].JID < list[j].JID })
		for _, s := range list {
			state := "connected"
			if s.Available {
				state = fmt.Sprintf("available priority=%d", s.Priority)
			}
			fmt.Fprintf(c.stdout, "%s\t%s\n", s.JID, state)
		}
		return exitOK
	case "roster":
		return c.roster(ctx, args[1:])
	case "pending":
		return c.pending(ctx, args[1:])
	case "s2s":
		return c.s2s(ctx, args[1:])
	case "cluster":
		return c.cluster(ctx, args[1:])
	case "metrics":
		if err := c.client.Metrics(ctx, c.stdout); err != nil {
			return c.fail(err)
		}
		return exitOK
	case "snapshot":
		return c.snapshot(ctx, args[1:])
	case "help":
		fmt.Fprint(c.stdout, usage)
		return exitOK
	}
	return c.usageErr(fmt.Sprintf("unknown command %q", args[0]))
}

func (c *cli) status(ctx context.Context) int {
	st, err := c.client.Status(ctx)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "version   %s\ndomains   %s\ndata      %s\nsessions  %d\n",
		st.Version, strings.Join(st.Domains, ", "), st.DataDir, st.Sessions)
	keys := make([]string, 0, len(st.Listen))
	for k := range st.Listen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(c.stdout, "listen    %-8s %s\n", k, st.Listen[k])
	}
	for _, k := range []string{"state", "term", "commit_index", "applied_index", "last_log_index"} {
		if v, ok := st.Raft[k]; ok {
			fmt.Fprintf(c.stdout, "raft      %-15s %s\n", k, v)
		}
	}
	return exitOK
}

// userAdd handles "user add" and, with change, "user passwd".
func (c *cli) userAdd(ctx context.Context, args []string, change bool) int {
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pwFile := fs.String("password-file", "", "")
	pos, err := interleaved(fs, args)
	if err != nil {
		return c.usageErr(err.Error())
	}
	verb := "add"
	if change {
		verb = "passwd"
	}
	if len(pos) != 1 {
		return c.usageErr(fmt.Sprintf("usage: heraldctl user %s JID [--password-file FILE]", verb))
	}
	pw, err := c.password(*pwFile)
	if err != nil {
		fmt.Fprintln(c.stderr, "heraldctl:", err)
		return exitUsage
	}
	if change {
		err = c.client.SetPassword(ctx, pos[0], pw)
	} else {
		err = c.client.CreateUser(ctx, pos[0], pw)
	}
	if err != nil {
		return c.fail(err)
	}
	if change {
		fmt.Fprintf(c.stdout, "password changed for %s\n", pos[0])
	} else {
		fmt.Fprintf(c.stdout, "created %s\n", pos[0])
	}
	return exitOK
}

// interleaved parses args with fs, accepting flags before, between and
// after the positional arguments, which it returns.
func interleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	return pos, nil
}

// password reads the new password from a file (first line), from the
// terminal (asked twice, not echoed), or from the first line of stdin.
func (c *cli) password(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading the password file: %w", err)
		}
		return firstLine(string(b)), nil
	}
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(c.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return firstLine(line), nil
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

func (c *cli) usageErr(msg string) int {
	fmt.Fprintf(c.stderr, "heraldctl: %s\n", msg)
	return exitUsage
}

func (c *cli) fail(err error) int {
	fmt.Fprintf(c.stderr, "heraldctl: %v\n", err)
	return exitFail
}
