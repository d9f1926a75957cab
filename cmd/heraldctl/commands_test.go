package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArity(t *testing.T) {
	for _, c := range []struct {
		spec string
		want arity
	}{
		{"", arity{0, 0, false}},
		{"USER", arity{1, 1, false}},
		{"USER CONTACT", arity{2, 2, false}},
		{"ADDR|JID", arity{1, 1, false}},
		{"[DOMAIN]", arity{0, 1, false}},
		{"ID [ADDR PORT]", arity{1, 3, false}},
		{"FILE...", arity{1, -1, false}},
		{"[FILE]...", arity{0, -1, false}},
		{"JID [--password-file F]", arity{1, 1, true}},
		{"USER CONTACT [--name N] [--group G]...", arity{2, 2, true}},
		{"[--force] ID", arity{1, 1, true}},
	} {
		if got := parseArity(c.spec); got != c.want {
			t.Errorf("parseArity(%q) = %+v, want %+v", c.spec, got, c.want)
		}
	}
}

// TestHelpIsTheTable: the help text has one entry per row, so a command
// cannot exist without being listed, nor be listed without existing.
func TestHelpIsTheTable(t *testing.T) {
	text := usage()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		if o := ctl("", args...); o.code != exitOK || o.stdout != text || o.stderr != "" {
			t.Errorf("%v: exit %d stdout %q stderr %q", args, o.code, o.stdout, o.stderr)
		}
	}
	if o := ctl(""); o.code != exitUsage || o.stderr != text {
		t.Errorf("no command: exit %d stderr %q", o.code, o.stderr)
	}
	listed := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			listed++
		}
	}
	if listed != len(commands) {
		t.Errorf("%d entries in the help for %d commands:\n%s", listed, len(commands), text)
	}
	for _, r := range commands {
		if r.help == "" || r.run == nil {
			t.Errorf("%s: no help or no code", r.name)
		}
		head := "\n  " + strings.TrimSpace(r.name+" "+r.args)
		first := wrap(r.help, 78-33)[0]
		if i := strings.Index(text, head); i < 0 || !strings.Contains(text[i:], first) {
			t.Errorf("%s is not listed with its help", r.name)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, strings.Repeat(" ", 33)) && len(line) > 78 {
			t.Errorf("help wrapped past 78 columns: %q", line)
		}
	}
}

// TestArgumentsFromTable: every command refuses what its args string does
// not allow, with its own synopsis, before it asks the server anything
// (there is no server here: a request would fail with exit status 1).
func TestArgumentsFromTable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	for _, r := range commands {
		if r.name == "help" {
			continue
		}
		a := parseArity(r.args)
		want := "usage: " + r.usageLine() + "\n"
		words := func(n int) []string {
			args := append([]string{"--socket", sock}, strings.Fields(r.name)...)
			for i := range n {
				args = append(args, "arg"+string(rune('a'+i)))
			}
			return args
		}
		var bad [][]string
		if a.max >= 0 {
			bad = append(bad, words(a.max+1))
		}
		if a.min > 0 {
			bad = append(bad, words(a.min-1), append(words(a.min-1), ""))
		}
		if a.flags {
			bad = append(bad, append(words(a.min), "--no-such-flag"))
		}
		for _, args := range bad {
			o := ctl("", args...)
			if o.code != exitUsage || !strings.HasSuffix(o.stderr, want) || o.stdout != "" {
				t.Errorf("%q: exit %d stdout %q stderr %q; want exit 2 and %q", args[2:], o.code, o.stdout, o.stderr, want)
			}
		}
	}
}

func TestSubcommandMessages(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"roster"}, "heraldctl: roster needs a subcommand: add, list, remove\n" +
			"usage: heraldctl roster add USER CONTACT [--name N] [--group G]...\n" +
			"usage: heraldctl roster list USER\nusage: heraldctl roster remove USER CONTACT\n"},
		{[]string{"pending", "accept", "x"}, "heraldctl: unknown pending subcommand \"accept\"\n" +
			"usage: heraldctl pending approve USER CONTACT\nusage: heraldctl pending deny USER CONTACT\n" +
			"usage: heraldctl pending list USER\n"},
		{[]string{"frobnicate", "now"}, "heraldctl: unknown command \"frobnicate\" (heraldctl help lists them)\n"},
	} {
		if o := ctl("", append([]string{"--socket", "unused"}, c.args...)...); o.code != exitUsage || o.stderr != c.want {
			t.Errorf("%v: exit %d stderr %q, want %q", c.args, o.code, o.stderr, c.want)
		}
	}
}

func TestAliases(t *testing.T) {
	for alias, name := range map[string]string{
		"user del": "user delete", "user remove": "user delete", "roster set": "roster add",
		"roster delete": "roster remove", "roster del": "roster remove",
		"session": "session list", "sessions": "session list", "sessions list": "session list",
	} {
		if r := find(strings.Fields(alias)); r == nil || r.name != name {
			t.Errorf("%q selects %v, want %q", alias, r, name)
		}
	}
}

// TestLongestName: a command's name may be another's prefix ("offline
// USER" beside "offline stats"); the longest match wins and the rest are
// arguments.
func TestLongestName(t *testing.T) {
	saved := commands
	defer func() { commands = saved }()
	var ran []string
	rec := func(c *cli, _ context.Context, args []string) int {
		ran = append(ran, c.cmd.name+":"+strings.Join(args, ","))
		return exitOK
	}
	register(command{name: "zz", args: "USER", help: "h", run: rec},
		command{name: "zz stats", help: "h", run: rec})
	for _, args := range [][]string{{"zz", "alice@localhost"}, {"zz", "stats"}} {
		if o := ctl("", append([]string{"--socket", "unused"}, args...)...); o.code != exitOK {
			t.Fatalf("%v: exit %d stderr %q", args, o.code, o.stderr)
		}
	}
	if got := strings.Join(ran, " "); got != "zz:alice@localhost zz stats:" {
		t.Errorf("ran %s", got)
	}
}

func TestRegisterTwice(t *testing.T) {
	saved := commands
	defer func() { commands = saved }()
	for _, row := range []command{
		{name: "status", help: "again"},
		{name: "user erase", aliases: []string{"user del"}, help: "again"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("registering %q twice did not panic", row.name)
				}
			}()
			register(row)
		}()
	}
}
