package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/ops"
)

func (m *memBackend) Offline(_ context.Context, user string) (ops.Offline, error) {
	switch user {
	case "alice@localhost":
		return ops.Offline{User: user, Count: 3, Limit: 1000}, nil
	case "full@localhost":
		return ops.Offline{User: user, Count: 1000, Limit: 1000}, nil
	}
	return ops.Offline{}, fmt.Errorf("%w: there is no user %s", ops.ErrNotFound, user)
}

func (m *memBackend) OfflineStats(context.Context) (ops.OfflineStats, error) {
	return ops.OfflineStats{Limit: 1000, Stored: 12, RefusedFull: 3, RefusedTooLarge: 1}, nil
}

func TestOfflineCommands(t *testing.T) {
	sock, _ := serve(t)
	cases := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"offline", "alice@localhost"}, 0, "alice@localhost\t3/1000\n", ""},
		{[]string{"offline", "full@localhost"}, 0, "full@localhost\t1000/1000 (full: new messages are refused)\n", ""},
		{[]string{"offline", "nobody@localhost"}, 1, "", "no user nobody@localhost"},
		{[]string{"offline", "stats"}, 0, "limit per account  1000\nstored             12\nrefused, full      3\nrefused, too large 1\n", ""},
		{[]string{"offline"}, 2, "", "usage: heraldctl offline USER"},
	}
	for _, c := range cases {
		o := ctl("", append([]string{"--socket", sock}, c.args...)...)
		if o.code != c.code || o.stdout != c.out || !strings.Contains(o.stderr, c.err) {
			t.Errorf("%v: exit %d stdout %q stderr %q; want %d %q %q", c.args, o.code, o.stdout, o.stderr, c.code, c.out, c.err)
		}
	}
}
