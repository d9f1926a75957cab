package main

import (
	"context"
	"testing"

	"github.com/heraldxmpp/herald/ops"
)

func (m *memBackend) Components(context.Context) ([]ops.Component, error) {
	return []ops.Component{{Domain: "bot.localhost", Connected: true, In: 4, Out: 2}, {Domain: "gw.localhost"}}, nil
}

func TestComponentList(t *testing.T) {
	sock, _ := serve(t)
	o := ctl("", "--socket", sock, "component", "list")
	want := "bot.localhost\tconnected\tin=4\tout=2\ngw.localhost\tdisconnected\tin=0\tout=0\n"
	if o.code != 0 || o.stdout != want {
		t.Fatalf("exit %d stdout %q stderr %q; want %q", o.code, o.stdout, o.stderr, want)
	}
}
