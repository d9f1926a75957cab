package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/ops"
)

// Two slixmpp clients log in with SCRAM-SHA-256 and SCRAM-SHA-256-PLUS,
// chat both ways, and a message to an offline user waits for their next
// login (over direct TLS, with SCRAM-SHA-1).
func TestSlixmppLoginChatOffline(t *testing.T) {
	needSlixmpp(t)
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "alice@localhost", "alice-password")
	s.addUser(t, "bob@localhost", "bob-password")
	clients := map[string]clientSpec{
		// slixmpp only knows tls-unique, which exists below TLS 1.3; a
		// client without channel binding must send the gs2 flag "n".
		"alice": {JID: "alice@localhost/laptop", Password: "alice-password", Mech: "SCRAM-SHA-256", NoCB: true},
		"bob":   {JID: "bob@localhost/phone", Password: "bob-password", Mech: "SCRAM-SHA-256-PLUS", TLS12: true},
		"bob2":  {JID: "bob@localhost/desk", Password: "bob-password", Mech: "SCRAM-SHA-1", NoCB: true, DirectTLS: true},
	}
	res := runSlixmpp(t, s, clients, []step{
		{"client": "alice", "op": "connect"},
		{"client": "bob", "op": "connect"},
		{"client": "alice", "op": "presence"},
		{"client": "bob", "op": "presence"},
		{"client": "alice", "op": "send", "to": "bob@localhost", "body": "hello bob"},
		{"client": "bob", "op": "expect", "body": "hello bob", "from_bare": "alice@localhost"},
		{"client": "bob", "op": "send", "to": "alice@localhost/laptop", "body": "hello alice"},
		{"client": "alice", "op": "expect", "body": "hello alice", "from_bare": "bob@localhost"},
		{"client": "bob", "op": "disconnect"},
		{"client": "alice", "op": "send", "to": "bob@localhost", "body": "while you were out"},
		{"client": "bob2", "op": "connect"},
		{"client": "bob2", "op": "presence"},
		{"client": "bob2", "op": "expect", "body": "while you were out", "from_bare": "alice@localhost"},
	})
	if m := res[0].str("mech"); m != "SCRAM-SHA-256" {
		t.Errorf("alice logged in with %q, want SCRAM-SHA-256", m)
	}
	if m := res[1].str("mech"); m != "SCRAM-SHA-256-PLUS" {
		t.Errorf("bob logged in with %q, want SCRAM-SHA-256-PLUS", m)
	}
	if m := res[10].str("mech"); m != "SCRAM-SHA-1" {
		t.Errorf("bob2 logged in with %q, want SCRAM-SHA-1", m)
	}
	if j := res[0].str("jid"); j != "alice@localhost/laptop" {
		t.Errorf("alice bound %q", j)
	}
	// The server stamps the sender's full JID and keeps 'to' as sent.
	if got := res[5]; got.str("from") != "alice@localhost/laptop" || got.str("to") != "bob@localhost" {
		t.Errorf("bob received from=%q to=%q", got.str("from"), got.str("to"))
	}
	if res[5]["delayed"] == true {
		t.Error("a live message carried a delay stamp")
	}
	if res[12]["delayed"] != true {
		t.Error("the offline message had no XEP-0203 delay stamp")
	}
	// Delivered offline messages are gone from storage: they leave it once
	// written to bob's connection, a moment after bob may have read them.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		msgs, err := d.node.Offline("bob@localhost")
		if err == nil && len(msgs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after delivery, offline store holds %d messages (err %v)", len(msgs), err)
			break
		}
	}
}

// A real server process is killed with SIGKILL after acknowledging
// accounts and offline messages; started again on the same data, it has
// lost none of them.
func TestKillRestartKeepsAccountsAndOffline(t *testing.T) {
	needSlixmpp(t)
	dir := t.TempDir()
	c := startChild(t, dir)
	c.addUser(t, "alice@localhost", "alice-password")
	c.addUser(t, "bob@localhost", "bob-password")
	clients := map[string]clientSpec{
		"alice": {JID: "alice@localhost/a", Password: "alice-password", Mech: "SCRAM-SHA-256", NoCB: true},
		"bob":   {JID: "bob@localhost/b", Password: "bob-password", Mech: "SCRAM-SHA-256", NoCB: true},
	}
	// Each send waits for a ping answer, which the server sends only after
	// it has committed the stored message.
	runSlixmpp(t, c.server, clients, []step{
		{"client": "alice", "op": "connect"},
		{"client": "alice", "op": "presence"},
		{"client": "alice", "op": "send", "to": "bob@localhost", "body": "first"},
		{"client": "alice", "op": "send", "to": "bob@localhost", "body": "second"},
	})
	c.kill()

	c = startChild(t, dir)
	res := runSlixmpp(t, c.server, clients, []step{
		{"client": "bob", "op": "connect"},
		{"client": "bob", "op": "presence"},
		{"client": "bob", "op": "expect", "body": "first", "from_bare": "alice@localhost"},
		{"client": "bob", "op": "expect", "body": "second", "from_bare": "alice@localhost"},
		{"client": "alice", "op": "connect"},
		{"client": "bob", "op": "disconnect"},
		{"client": "bob", "op": "connect"},
		{"client": "bob", "op": "presence"},
		{"client": "bob", "op": "expect_none"},
	})
	if res[2]["delayed"] != true || res[3]["delayed"] != true {
		t.Error("offline messages lost their delay stamps")
	}
}

// The admin API refuses bad input with an error an operator can act on.
func TestAdminUserErrors(t *testing.T) {
	d := startInProcess(t)
	c := d.server().client()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.CreateUser(ctx, "Alice@LocalHost", "long-enough"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want error
		text string
	}{
		{"duplicate (case-folded)", c.CreateUser(ctx, "alice@localhost", "long-enough"), ops.ErrExists, "already exists"},
		{"bad JID", c.CreateUser(ctx, "a@@b", "long-enough"), ops.ErrBadRequest, "not a valid JID"},
		{"full JID", c.CreateUser(ctx, "a@localhost/r", "long-enough"), ops.ErrBadRequest, "account address"},
		{"foreign domain", c.CreateUser(ctx, "a@example.org", "long-enough"), ops.ErrBadRequest, "does not serve"},
		{"short password", c.CreateUser(ctx, "b@localhost", "short"), ops.ErrBadRequest, "too short"},
		{"empty password", c.CreateUser(ctx, "b@localhost", ""), ops.ErrBadRequest, "too short"},
		{"passwd unknown user", c.SetPassword(ctx, "nobody@localhost", "long-enough"), ops.ErrNotFound, "no user"},
		{"delete unknown user", c.DeleteUser(ctx, "nobody@localhost"), ops.ErrNotFound, "no user"},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.want) || !strings.Contains(tc.err.Error(), tc.text) {
			t.Errorf("%s: got %v, want %v mentioning %q", tc.name, tc.err, tc.want, tc.text)
		}
	}
	users, err := c.ListUsers(ctx, "")
	if err != nil || len(users) != 1 || users[0] != "alice@localhost" {
		t.Fatalf("users = %v, %v", users, err)
	}
	if err := c.SetPassword(ctx, "alice@localhost", "another-one"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx, "alice@localhost"); err != nil {
		t.Fatal(err)
	}
	if users, _ := c.ListUsers(ctx, "localhost"); len(users) != 0 {
		t.Fatalf("after delete, users = %v", users)
	}
}
