package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// XEP-0280 with slixmpp's own xep_0280 plugin: two resources of one
// account with carbons enabled, and a contact.
func TestSlixmppCarbons(t *testing.T) {
	d, clients := verona(t)
	s := d.server()
	res := runScript(t, "testdata/slixservices.py", s, clients, slices.Concat(
		arrive("balcony", true, 5), arrive("chamber", true, 1), arrive("romeo", false, 0), []step{
			// A message from a contact to one resource: a received carbon on
			// the other.
			{"client": "romeo", "op": "send", "to": "juliet@localhost/balcony", "body": "But soft"},
			{"client": "balcony", "op": "expect", "body": "But soft", "from_bare": "romeo@localhost"},
			{"client": "chamber", "op": "expect_carbon", "dir": "received", "body": "But soft"},
			// To the bare JID: the highest priority gets it, the other a copy.
			{"client": "romeo", "op": "send", "to": "juliet@localhost", "body": "what light"},
			{"client": "balcony", "op": "expect", "body": "what light"},
			{"client": "chamber", "op": "expect_carbon", "dir": "received", "body": "what light"},
			// A message one resource sends: a sent carbon on the other.
			{"client": "chamber", "op": "send", "to": "romeo@localhost/garden", "body": "Ay me"},
			{"client": "romeo", "op": "expect", "body": "Ay me"},
			{"client": "balcony", "op": "expect_carbon", "dir": "sent", "body": "Ay me"},
			{"client": "chamber", "op": "expect_none"},
			// A private one is not copied, either way.
			{"client": "chamber", "op": "send", "to": "romeo@localhost/garden", "body": "hush", "private": true},
			{"client": "romeo", "op": "expect", "body": "hush"},
			{"client": "balcony", "op": "expect_none"},
			{"client": "romeo", "op": "send", "to": "juliet@localhost/chamber", "body": "sh", "private": true},
			{"client": "chamber", "op": "expect", "body": "sh"},
			{"client": "balcony", "op": "expect_none"},
			{"client": "romeo", "op": "expect_none"},
		}))
	for _, r := range res {
		if r["op"] == "expect_carbon" && r.str("wrapper_from") != "juliet@localhost" {
			t.Errorf("carbon wrapped from %q, want the bare JID", r.str("wrapper_from"))
		}
	}
	wantMetrics(t, s, "herald_carbons_sent_total 1", "herald_carbons_received_total 2")
}

// verona starts a server with two accounts for the account-service
// scenarios: juliet on two resources (balcony, chamber) and romeo.
func verona(t *testing.T) (*daemon, map[string]clientSpec) {
	t.Helper()
	needSlixmpp(t)
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "juliet@localhost", clientPassword)
	s.addUser(t, "romeo@localhost", clientPassword)
	return d, map[string]clientSpec{
		"balcony": {JID: "juliet@localhost/balcony", Password: clientPassword},
		"chamber": {JID: "juliet@localhost/chamber", Password: clientPassword},
		"romeo":   {JID: "romeo@localhost/garden", Password: clientPassword},
	}
}

// arrive logs client in, enables carbons when asked, and sends available
// presence at prio.
func arrive(client string, carbons bool, prio int) []step {
	steps := []step{{"client": client, "op": "connect"}}
	if carbons {
		steps = append(steps, step{"client": client, "op": "carbons"})
	}
	return append(steps, step{"client": client, "op": "presence", "priority": prio})
}

// wantMetrics checks that the server's metrics hold each line.
func wantMetrics(t *testing.T, s server, lines ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var metrics strings.Builder
	if err := s.client().Metrics(ctx, &metrics); err != nil {
		t.Fatal(err)
	}
	for _, want := range lines {
		if !strings.Contains(metrics.String(), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Carbons across a three-node cluster: the carbons flag of a resource is
// known on the other nodes, so copies made where a message is routed reach
// a carbons-enabled resource wherever it is connected.
func TestClusterCarbons(t *testing.T) {
	needSlixmpp(t)
	c := startCluster(t, 17630)
	n := c.nodes
	n[0].addUser(t, "juliet@localhost", "password-juliet")
	n[0].addUser(t, "romeo@localhost", "password-romeo")
	waitUsers(t, n[1], []string{"juliet@localhost", "romeo@localhost"})
	waitUsers(t, n[2], []string{"juliet@localhost", "romeo@localhost"})
	spec := func(j, pw string) clientSpec {
		return clientSpec{JID: j, Password: pw, Mech: "SCRAM-SHA-256", NoCB: true}
	}
	clients := map[string]fedClient{
		"balcony": clientAt(n[0], spec("juliet@localhost/balcony", "password-juliet")),
		"chamber": clientAt(n[1], spec("juliet@localhost/chamber", "password-juliet")),
		"romeo":   clientAt(n[2], spec("romeo@localhost/garden", "password-romeo")),
	}
	runScript(t, "testdata/slixservices.py", n[0].server, clients, slices.Concat(
		arrive("balcony", true, 0), arrive("chamber", true, 0), arrive("romeo", false, 0), []step{
			// Routed on n3 to n1; the received copy goes from n3 to n2.
			{"client": "romeo", "op": "send", "to": "juliet@localhost/balcony", "body": "from n3"},
			{"client": "balcony", "op": "expect", "body": "from n3"},
			{"client": "chamber", "op": "expect_carbon", "dir": "received", "body": "from n3"},
			// Sent on n2; the sent copy goes to n1.
			{"client": "chamber", "op": "send", "to": "romeo@localhost/garden", "body": "from n2"},
			{"client": "romeo", "op": "expect", "body": "from n2"},
			{"client": "balcony", "op": "expect_carbon", "dir": "sent", "body": "from n2"},
			{"client": "chamber", "op": "expect_none"},
		}))
}
