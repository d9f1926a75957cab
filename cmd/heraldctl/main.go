// Command heraldctl administers a running heraldd through its admin API.
//
// It finds the server the way heraldd does: from --config FILE, or from
// the zero-config defaults (the admin socket ./herald-data/admin.sock).
//
// Its commands are one table (commands.go): a row per command, registered
// by the file that implements it, from which the help text is printed and
// the arguments are checked. Tests run the whole program in-process
// through run(args, stdin, stdout, stderr).
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
			fmt.Fprint(stdout, usage())
			return exitOK
		}
		fmt.Fprintf(stderr, "heraldctl: %v\n%s", err, usage())
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage())
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
	cmd    *command // the command running
}

func init() {
	register(
		command{name: "status", args: "[--ready]",
			help: "show the server's status and readiness; with --ready, exit 1 when it is not ready",
			run:  (*cli).status},
		command{name: "user add", args: "JID [--password-file F]",
			help: "create an account (password prompted, read from F, or from standard input)",
			run:  (*cli).userAdd},
		command{name: "user passwd", args: "JID [--password-file F]", help: "change an account's password",
			run: (*cli).userPasswd},
		command{name: "user delete", args: "JID", help: "delete an account and all it stores",
			aliases: []string{"user del", "user remove"}, run: (*cli).userDelete},
		command{name: "user list", args: "[DOMAIN]", help: "list accounts", run: (*cli).userList},
		command{name: "session list", help: "list connected resources",
			aliases: []string{"session", "sessions", "sessions list"}, run: (*cli).sessionList},
		command{name: "metrics", help: "print the metrics (Prometheus text format)", run: (*cli).metrics},
		// cluster.go: each row hands its subcommand to cli.cluster.
		command{name: "cluster status", help: "members, leader, term, indexes, follower lag",
			run: sub((*cli).cluster, "status")},
		command{name: "cluster join", args: "[--force] ID ADDR",
			help: "admit node ID (cluster port ADDR); refused when the new configuration would lack a live majority, unless forced",
			run:  sub((*cli).cluster, "join")},
		command{name: "cluster remove", args: "[--force] ID",
			help: "take node ID out of the cluster; refused when the rest would lack a live majority, unless forced",
			run:  sub((*cli).cluster, "remove")},
		command{name: "cluster stepdown", help: "hand leadership to another member",
			run: sub((*cli).cluster, "stepdown")},
		command{name: "snapshot save", args: "FILE",
			help: "save a consistent online snapshot of the state (restore: heraldd -restore FILE)",
			run:  sub((*cli).snapshot, "save")},
	)
}

// sub runs a command through a function that handles a whole group of
// subcommands, such as cli.cluster: it puts the subcommand's word back in
// front of the arguments.
func sub(fn func(*cli, context.Context, []string) int, word string) func(*cli, context.Context, []string) int {
	return func(c *cli, ctx context.Context, args []string) int {
		return fn(c, ctx, append([]string{word}, args...))
	}
}

func (c *cli) userDelete(ctx context.Context, args []string) int {
	if err := c.client.DeleteUser(ctx, args[0]); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "deleted %s\n", args[0])
	return exitOK
}

func (c *cli) userList(ctx context.Context, args []string) int {
	domain := ""
	if len(args) == 1 {
		domain = args[0]
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

func (c *cli) sessionList(ctx context.Context, _ []string) int {
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
}

func (c *cli) metrics(ctx context.Context, _ []string) int {
	if err := c.client.Metrics(ctx, c.stdout); err != nil {
		return c.fail(err)
	}
	return exitOK
}

func (c *cli) status(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet(c.cmd.name, flag.ContinueOnError)
	ready := fs.Bool("ready", false, "")
	if _, ok := c.positional(fs, args); !ok {
		return exitUsage
	}
	rd, err := c.client.Ready(ctx)
	if err != nil {
		return c.fail(err)
	}
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
	if rd.Ready {
		fmt.Fprintln(c.stdout, "ready     yes")
	} else {
		fmt.Fprintln(c.stdout, "ready     no")
		for _, f := range rd.Failing() {
			fmt.Fprintf(c.stdout, "failing   %s\n", f)
		}
		if *ready {
			return exitFail
		}
	}
	return exitOK
}

func (c *cli) userAdd(ctx context.Context, args []string) int { return c.setPassword(ctx, args, false) }

func (c *cli) userPasswd(ctx context.Context, args []string) int {
	return c.setPassword(ctx, args, true)
}

// setPassword creates an account or, with change, changes its password.
func (c *cli) setPassword(ctx context.Context, args []string, change bool) int {
	fs := flag.NewFlagSet(c.cmd.name, flag.ContinueOnError)
	pwFile := fs.String("password-file", "", "")
	pos, ok := c.positional(fs, args)
	if !ok {
		return exitUsage
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
