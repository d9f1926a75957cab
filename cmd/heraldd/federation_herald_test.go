package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/ops"
)

// twoHeralds is Herald for h.test and a second Herald for h2.test,
// federating through the test DNS; with separate CAs they cannot verify
// each other and must use Server Dialback, with one CA they use
// certificates (SASL EXTERNAL).
func twoHeralds(t *testing.T, oneCA bool) (h1, h2 *herald, clients map[string]fedClient) {
	t.Helper()
	needInterop(t)
	dir := interopDir(t)
	startDNS(t, dir)
	ca1 := newTestCA(t, dir, "ca-h")
	ca2 := ca1
	if !oneCA {
		ca2 = newTestCA(t, dir, "ca-h2")
	}
	mk := func(name string) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	h1 = startHeraldFed(t, mk("herald1"), heraldOpts{Leaf: ca1.issue(t, "h.test", true), CAFile: ca1.File, RequireCert: oneCA})
	h2 = startHeraldFed(t, mk("herald2"), heraldOpts{Domain: "h2.test", Addr: herald2Addr,
		Leaf: ca2.issue(t, "h2.test", true), CAFile: ca2.File, RequireCert: oneCA})
	h1.addUser(t, "alice@h.test", "password-alice")
	h2.addUser(t, "carol@h2.test", "password-carol")
	clients = map[string]fedClient{
		"alice": {clientSpec: clientSpec{JID: "alice@h.test/a", Password: "password-alice", Mech: "SCRAM-SHA-256", NoCB: true},
			Host: heraldAddr, Port: 5222, CAFile: ca1.File},
		"carol": {clientSpec: clientSpec{JID: "carol@h2.test/c", Password: "password-carol", Mech: "SCRAM-SHA-256", NoCB: true},
			Host: herald2Addr, Port: 5222, CAFile: ca2.File},
	}
	return h1, h2, clients
}

// The RFC 6121 exchange between two Herald domains: a request to an
// offline contact waits for her login, approval both ways to Both,
// presence and messages across the link, then unsubscribe and deny.
func herald2Herald(t *testing.T, oneCA bool) {
	h1, h2, c := twoHeralds(t, oneCA)
	steps := []step{
		{"client": "alice", "op": "connect"}, {"client": "alice", "op": "roster"}, {"client": "alice", "op": "presence"},
		// carol is offline: the request waits on h2.test.
		{"client": "alice", "op": "presence_to", "to": "carol@h2.test", "type": "subscribe", "nick": "Alice"},
	}
	runFed(t, c, steps)
	h2.waitPending(t, "carol@h2.test", "alice@h.test")
	// h2.test is killed and restarted with the request pending: it is
	// still delivered, nick included.
	h2.restart(t)
	res := runFed(t, c, []step{
		{"client": "alice", "op": "connect"}, {"client": "alice", "op": "roster"}, {"client": "alice", "op": "presence"},
		{"client": "carol", "op": "connect"}, {"client": "carol", "op": "roster"}, {"client": "carol", "op": "presence"},
		{"client": "carol", "op": "expect_presence", "type": "subscribe", "from_bare": "alice@h.test"},
		{"client": "carol", "op": "presence_to", "to": "alice@h.test", "type": "subscribed"},
		{"client": "alice", "op": "expect_presence", "type": "subscribed", "from_bare": "carol@h2.test"},
		{"client": "alice", "op": "expect_presence", "type": "available", "from_bare": "carol@h2.test"},
		{"client": "carol", "op": "presence_to", "to": "alice@h.test", "type": "subscribe"},
		{"client": "alice", "op": "expect_presence", "type": "subscribe", "from_bare": "carol@h2.test"},
		{"client": "alice", "op": "presence_to", "to": "carol@h2.test", "type": "subscribed"},
		{"client": "carol", "op": "expect_presence", "type": "subscribed", "from_bare": "alice@h.test"},
		{"client": "carol", "op": "expect_presence", "type": "available", "from_bare": "alice@h.test"},
		{"client": "alice", "op": "roster", "expect": map[string]any{"carol@h2.test": map[string]any{"subscription": "both", "ask": nil}}},
		{"client": "carol", "op": "roster", "expect": map[string]any{"alice@h.test": map[string]any{"subscription": "both", "ask": nil}}},
		{"client": "alice", "op": "send", "to": "carol@h2.test", "body": "across domains"},
		{"client": "carol", "op": "expect", "body": "across domains", "from_bare": "alice@h.test"},
		{"client": "carol", "op": "send", "to": "alice@h.test/a", "body": "and back"},
		{"client": "alice", "op": "expect", "body": "and back", "from_bare": "carol@h2.test"},
		{"client": "alice", "op": "presence", "status": "away for lunch"},
		{"client": "carol", "op": "expect_presence", "type": "available", "from_bare": "alice@h.test", "status": "away for lunch"},
		// carol unsubscribes from alice's presence, then alice cancels
		// carol's... and the roster ends at none on both sides.
		{"client": "carol", "op": "presence_to", "to": "alice@h.test", "type": "unsubscribe"},
		{"client": "alice", "op": "expect_presence", "type": "unsubscribe", "from_bare": "carol@h2.test"},
		{"client": "carol", "op": "presence_to", "to": "alice@h.test", "type": "unsubscribed"},
		{"client": "alice", "op": "expect_presence", "type": "unsubscribed", "from_bare": "carol@h2.test"},
		{"client": "alice", "op": "roster", "expect": map[string]any{"carol@h2.test": map[string]any{"subscription": "none"}}},
		{"client": "carol", "op": "roster", "expect": map[string]any{"alice@h.test": map[string]any{"subscription": "none"}}},
		// A new request from carol, denied by alice.
		{"client": "carol", "op": "presence_to", "to": "alice@h.test", "type": "subscribe"},
		{"client": "alice", "op": "expect_presence", "type": "subscribe", "from_bare": "carol@h2.test"},
		{"client": "alice", "op": "presence_to", "to": "carol@h2.test", "type": "unsubscribed"},
		{"client": "carol", "op": "expect_presence", "type": "unsubscribed", "from_bare": "alice@h.test"},
		{"client": "carol", "op": "roster", "expect": map[string]any{"alice@h.test": map[string]any{"subscription": "none", "ask": nil}}},
	})
	if nick := res[6].str("nick"); nick != "Alice" {
		t.Errorf("the stored request reached carol with nick %q, want Alice", nick)
	}
	auth := "dialback"
	if oneCA {
		auth = "cert"
	}
	// The admin API shows the links and what DNS says (heraldctl s2s).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	links, err := h1.client().Links(ctx)
	found := false
	for _, l := range links {
		if l.Direction == "out" && l.Remote == "h2.test" && l.State == "ready" && l.Auth == auth && l.Out > 0 {
			found = true
		}
	}
	if err != nil || !found {
		t.Errorf("h.test links = %+v (err %v), want a ready outbound link to h2.test by %s", links, err, auth)
	}
	var metrics bytes.Buffer
	if err := h1.client().Metrics(ctx, &metrics); err != nil ||
		!strings.Contains(metrics.String(), `herald_s2s_link_ready{local="h.test",remote="h2.test",direction="out",auth="`+auth+`"} 1`) {
		t.Errorf("h.test metrics (err %v) lack the ready link:\n%s", err, metrics.String())
	}
	targets, err := h1.client().Resolve(ctx, "h2.test")
	if err != nil || len(targets) == 0 || targets[0].Host != "h2.test" || targets[0].Port != 5269 {
		t.Errorf("resolve h2.test = %+v, %v", targets, err)
	}
	if _, err := h1.client().Resolve(ctx, "nowhere.test"); !errors.Is(err, ops.ErrNotFound) {
		t.Errorf("resolve nowhere.test: %v, want not found", err)
	}
	for _, h := range []struct {
		h             *herald
		local, remote string
	}{{h1, "h.test", "h2.test"}, {h2, "h2.test", "h.test"}} {
		want := `msg="s2s: link up" component=s2s local=` + h.local + ` remote=` + h.remote + ` auth=` + auth
		if !strings.Contains(h.h.out.String(), want) {
			t.Errorf("%s's log lacks %q", h.local, want)
		}
	}
}

func TestFederationHeraldDialback(t *testing.T) { herald2Herald(t, false) }

func TestFederationHeraldCerts(t *testing.T) { herald2Herald(t, true) }
