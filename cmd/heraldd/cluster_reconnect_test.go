package main

import (
	"testing"
)

// A client of a node that dies reconnects to a survivor and receives what
// it is owed: the subscription request it had not answered (kept in the
// replicated store, with its extension) and the message sent to it while
// it was away (issue 4: "clients reconnected to surviving nodes received
// what they were owed").
func TestClusterReconnectGetsWhatIsOwed(t *testing.T) {
	needSlixmpp(t)
	c := startCluster(t, 17440)
	nodes := c.nodes
	nodes[0].addUser(t, "carol@localhost", "password-carol")
	nodes[0].addUser(t, "dave@localhost", "password-dave")
	waitUsers(t, nodes[2], []string{"carol@localhost", "dave@localhost"})

	dave := clientSpec{JID: "dave@localhost/d", Password: "password-dave", Mech: "SCRAM-SHA-256", NoCB: true}
	carol := clientSpec{JID: "carol@localhost/c", Password: "password-carol", Mech: "SCRAM-SHA-256", NoCB: true}
	// dave on the leader gets carol's request live from n2, and does not
	// answer it.
	runFed(t, map[string]fedClient{"dave": clientAt(nodes[0], dave), "carol": clientAt(nodes[1], carol)}, []step{
		{"client": "dave", "op": "connect"}, {"client": "dave", "op": "roster"}, {"client": "dave", "op": "presence"},
		{"client": "carol", "op": "connect"}, {"client": "carol", "op": "roster"}, {"client": "carol", "op": "presence"},
		{"client": "carol", "op": "presence_to", "to": "dave@localhost", "type": "subscribe", "nick": "Carol"},
		{"client": "dave", "op": "expect_presence", "type": "subscribe", "from_bare": "carol@localhost"},
	})
	// The leader dies; the survivors drop its sessions and elect a leader.
	nodes[0].kill()
	waitLog(t, nodes[1], "peer down", 1) // "consensus: peer down", or "mux: peer down"
	waitMembers(t, nodes[1], 3)
	res := runFed(t, map[string]fedClient{"dave": clientAt(nodes[2], dave), "carol": clientAt(nodes[1], carol)}, []step{
		{"client": "carol", "op": "connect"}, {"client": "carol", "op": "presence"},
		{"client": "carol", "op": "send", "to": "dave@localhost", "body": "are you there?"},
		{"client": "dave", "op": "connect"}, {"client": "dave", "op": "roster"}, {"client": "dave", "op": "presence"},
		{"client": "dave", "op": "expect_presence", "type": "subscribe", "from_bare": "carol@localhost"},
		{"client": "dave", "op": "expect", "body": "are you there?", "from_bare": "carol@localhost"},
	})
	if nick := res[6].str("nick"); nick != "Carol" {
		t.Errorf("the request reached dave on n3 with nick %q, want Carol", nick)
	}
	if res[7]["delayed"] != true {
		t.Error("the message sent while dave was away came without a delay stamp: was it really stored?")
	}
}
