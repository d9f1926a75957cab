package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// A command is one row of heraldctl's command table: the words that select
// it, the arguments it takes, what it does, and the code that does it. The
// usage text is printed from the table, and the same args string decides
// what a command accepts, so the two cannot drift apart.
//
// Each file registers the commands it implements from an init function:
//
//	func init() {
//		register(command{name: "offline stats", help: "this node's offline counters",
//			run: (*cli).offlineStats})
//	}
type command struct {
	// name is the command's words: "status", "user add".
	name string
	// args is what follows the name, as the usage shows it: WORD is a
	// required argument, [WORD] an optional one, WORD... or [WORD]... any
	// number of them, and [--flag V] a flag. Without flags, the arguments
	// are counted before run is called; with flags, run parses them with
	// cli.positional, which counts the rest.
	args string
	// help says what the command does; the usage text wraps it.
	help string
	// aliases are other names that select the command, not shown.
	aliases []string
	// run carries the command out with the arguments after its name and
	// returns the exit status.
	run func(c *cli, ctx context.Context, args []string) int
}

// commands is the table, kept sorted by name.
var commands []*command

// register adds rows to the command table. A name or alias used twice is a
// programming error.
func register(rows ...command) {
	for _, r := range rows {
		for _, n := range append([]string{r.name}, r.aliases...) {
			if find(strings.Fields(n)) != nil {
				panic("heraldctl: command " + n + " registered twice")
			}
		}
		commands = append(commands, &r)
	}
	slices.SortFunc(commands, func(a, b *command) int { return strings.Compare(a.name, b.name) })
}

// find returns the row whose name or alias is exactly words, or nil.
func find(words []string) *command {
	key := strings.Join(words, " ")
	for _, r := range commands {
		if r.name == key || slices.Contains(r.aliases, key) {
			return r
		}
	}
	return nil
}

// lookup returns the row named by the longest prefix of args, and the
// arguments after its name.
func lookup(args []string) (*command, []string) {
	for n := len(args); n > 0; n-- {
		if r := find(args[:n]); r != nil {
			return r, args[n:]
		}
	}
	return nil, nil
}

// group returns the rows whose name starts with the word w.
func group(w string) []*command {
	var out []*command
	for _, r := range commands {
		if strings.HasPrefix(r.name, w+" ") {
			out = append(out, r)
		}
	}
	return out
}

// arity is what a command's args string allows.
type arity struct {
	min, max int // max < 0: no limit
	flags    bool
}

func parseArity(spec string) arity {
	var a arity
	optional, flagGroup := false, false
	for _, tok := range strings.Fields(spec) {
		opens := strings.HasPrefix(tok, "[")
		if opens {
			optional, flagGroup = true, strings.HasPrefix(tok, "[--")
		}
		closes := strings.Contains(tok, "]")
		repeats := strings.HasSuffix(tok, "...")
		if flagGroup {
			a.flags = true
		} else {
			if !optional {
				a.min++
			}
			if a.max >= 0 {
				a.max++
			}
		}
		if repeats && !flagGroup {
			a.max = -1
		}
		if closes {
			optional, flagGroup = false, false
		}
	}
	return a
}

// usageLine is the command's one-line synopsis.
func (r *command) usageLine() string {
	return strings.TrimSpace("heraldctl " + r.name + " " + r.args)
}

// usage is the whole help text, built from the table.
func usage() string {
	const col, width = 33, 78
	var b strings.Builder
	b.WriteString("usage: heraldctl [--config FILE] [--socket PATH] COMMAND\n\ncommands:\n")
	for _, r := range commands {
		head := "  " + strings.TrimSpace(r.name+" "+r.args)
		lines := wrap(r.help, width-col)
		if len(head) >= col-1 {
			b.WriteString(head + "\n")
		} else {
			b.WriteString(head + strings.Repeat(" ", col-len(head)) + lines[0] + "\n")
			lines = lines[1:]
		}
		for _, l := range lines {
			b.WriteString(strings.Repeat(" ", col) + l + "\n")
		}
	}
	b.WriteString("\nexit status: 0 on success, 1 when the server refused or failed, 2 on a\nusage error.\n")
	return b.String()
}

// wrap breaks s into lines of at most n bytes at spaces.
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > n {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// dispatch runs the command args names.
func (c *cli) dispatch(ctx context.Context, args []string) int {
	r, rest := lookup(args)
	if r == nil {
		rows := group(args[0])
		if len(rows) == 0 {
			return c.usageErr(fmt.Sprintf("unknown command %q (heraldctl help lists them)", args[0]))
		}
		var msg string
		if len(args) == 1 {
			subs := make([]string, len(rows))
			for i, r := range rows {
				subs[i] = strings.TrimPrefix(r.name, args[0]+" ")
			}
			msg = fmt.Sprintf("%s needs a subcommand: %s", args[0], strings.Join(subs, ", "))
		} else {
			msg = fmt.Sprintf("unknown %s subcommand %q", args[0], args[1])
		}
		for _, r := range rows {
			msg += "\nusage: " + r.usageLine()
		}
		return c.usageErr(msg)
	}
	c.cmd = r
	if a := parseArity(r.args); !a.flags && !a.allows(rest) {
		return c.usage()
	}
	return r.run(c, ctx, rest)
}

// allows reports whether the positional arguments pos fit: their number,
// and none empty.
func (a arity) allows(pos []string) bool {
	return len(pos) >= a.min && (a.max < 0 || len(pos) <= a.max) && !slices.Contains(pos, "")
}

// usage reports a usage error for the running command, with its synopsis.
func (c *cli) usage() int {
	return c.usageErr("usage: " + c.cmd.usageLine())
}

// positional parses the flags in fs anywhere among args, for a command
// whose args string names flags, and returns the other arguments. When the
// flags or the number of arguments are wrong it reports the usage error
// and returns false.
func (c *cli) positional(fs *flag.FlagSet, args []string) ([]string, bool) {
	fs.SetOutput(io.Discard)
	pos, err := interleaved(fs, args)
	if err != nil {
		c.usageErr(fmt.Sprintf("%v\nusage: %s", err, c.cmd.usageLine()))
		return nil, false
	}
	if !parseArity(c.cmd.args).allows(pos) {
		c.usage()
		return nil, false
	}
	return pos, true
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

func init() {
	register(command{name: "help", help: "print this text", run: func(c *cli, _ context.Context, _ []string) int {
		fmt.Fprint(c.stdout, usage())
		return exitOK
	}})
}
