package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery/gate"
	"github.com/heraldxmpp/herald/ops"
)

// gateBackend serves the ban endpoints from a real gate.
type gateBackend struct {
	*memBackend
	g *gate.Gate
}

func (b gateBackend) Limits(context.Context) (ops.Limits, error) { return ops.Limits{}, nil }

func (b gateBackend) Bans(context.Context) ([]ops.Ban, error) {
	var out []ops.Ban
	for _, x := range b.g.Bans() {
		out = append(out, ops.Ban{Kind: x.Kind, Key: x.Key, Failures: x.Failures, Until: x.Until})
	}
	return out, nil
}

func (b gateBackend) LiftBan(_ context.Context, key string) error {
	if !b.g.Lift(key) {
		return fmt.Errorf("%w: no ban or protection for %q", ops.ErrNotFound, key)
	}
	return nil
}

func TestBanCommands(t *testing.T) {
	g := gate.New(gate.Config{Auth: gate.AuthConfig{BanAfter: 2, AccountAfter: 2}})
	// Two failed logins from 192.0.2.7 through a gated listener.
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := g.Listener(raw, gate.Client)
	defer ln.Close()
	go net.Dial("tcp", raw.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gate.AuthAfter(c, "alice@localhost", false)
	gate.AuthAfter(c, "alice@localhost", false)

	sock := filepath.Join(t.TempDir(), "admin.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ops.Handler(gateBackend{&memBackend{}, g}, nil)}
	go srv.Serve(uln)
	defer srv.Close()

	o := ctl("", "--socket", sock, "ban", "list")
	if o.code != 0 || !strings.Contains(o.stdout, "address\t127.0.0.1\tfailures=2\tuntil=") ||
		!strings.Contains(o.stdout, "account\talice@localhost\tfailures=2") {
		t.Fatalf("ban list: %+v", o)
	}
	if o := ctl("", "--socket", sock, "ban", "lift", "127.0.0.1"); o.code != 0 || o.stdout != "lifted 127.0.0.1\n" {
		t.Fatalf("ban lift address: %+v", o)
	}
	if o := ctl("", "--socket", sock, "ban", "lift", "alice@localhost"); o.code != 0 {
		t.Fatalf("ban lift account: %+v", o)
	}
	if o := ctl("", "--socket", sock, "ban", "list"); o.code != 0 || o.stdout != "" {
		t.Fatalf("ban list after lifting: %+v", o)
	}
	if o := ctl("", "--socket", sock, "ban", "lift", "127.0.0.1"); o.code != 1 || !strings.Contains(o.stderr, "no ban") {
		t.Fatalf("lifting nothing: %+v", o)
	}
	if o := ctl("", "--socket", sock, "ban", "forgive"); o.code != 2 || !strings.Contains(o.stderr, "usage: heraldctl ban") {
		t.Fatalf("bad subcommand: %+v", o)
	}
}
