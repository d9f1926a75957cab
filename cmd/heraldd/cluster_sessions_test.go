package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sessions across nodes (issue 4): alice is connected to n1 and bob to n2
// of a three-process cluster. They subscribe to each other, chat (live,
// not through offline storage) and see each other's presence, every
// stanza crossing the cluster link; then n2 is killed with SIGKILL and
// alice, on n1, receives bob's unavailable presence within seconds.
func TestClusterSessions(t *testing.T) {
	needSlixmpp(t)
	c := startCluster(t, 17430)
	nodes := c.nodes
	// The session tables are shared once every node has a peer link to
	// the two others.
	for _, n := range nodes {
		waitLog(t, n, "peer up", 2) // "consensus: peer up", or "mux: peer up" once the port has its own package
	}
	nodes[0].addUser(t, "alice@localhost", "password-alice")
	nodes[2].addUser(t, "bob@localhost", "password-bob")
	waitUsers(t, nodes[1], []string{"alice@localhost", "bob@localhost"})

	clients := map[string]fedClient{
		"alice": clientAt(nodes[0], clientSpec{JID: "alice@localhost/a", Password: "password-alice", Mech: "SCRAM-SHA-256", NoCB: true}),
		"bob":   clientAt(nodes[1], clientSpec{JID: "bob@localhost/b", Password: "password-bob", Mech: "SCRAM-SHA-256", NoCB: true}),
	}
	steps := []step{
		{"client": "alice", "op": "connect"}, {"client": "alice", "op": "roster"}, {"client": "alice", "op": "presence"},
		{"client": "bob", "op": "connect"}, {"client": "bob", "op": "roster"}, {"client": "bob", "op": "presence"},
		// Subscriptions both ways, each request and answer crossing nodes.
		{"client": "bob", "op": "presence_to", "to": "alice@localhost", "type": "subscribe"},
		{"client": "alice", "op": "expect_presence", "type": "subscribe", "from_bare": "bob@localhost"},
		{"client": "alice", "op": "presence_to", "to": "bob@localhost", "type": "subscribed"},
		{"client": "bob", "op": "expect_presence", "type": "subscribed", "from_bare": "alice@localhost"},
		{"client": "alice", "op": "presence_to", "to": "bob@localhost", "type": "subscribe"},
		{"client": "bob", "op": "expect_presence", "type": "subscribe", "from_bare": "alice@localhost"},
		{"client": "bob", "op": "presence_to", "to": "alice@localhost", "type": "subscribed"},
		{"client": "alice", "op": "expect_presence", "type": "subscribed", "from_bare": "bob@localhost"},
		// 3.1.5: bob's current presence follows his "subscribed".
		{"client": "alice", "op": "expect_presence", "type": "available", "from_bare": "bob@localhost"},
		{"client": "alice", "op": "roster", "expect": map[string]any{"bob@localhost": map[string]any{"subscription": "both", "ask": nil}}},
		// Chat, to the bare JID and to the full JID.
		{"client": "alice", "op": "send", "to": "bob@localhost", "body": "hello from n1"},
		{"client": "bob", "op": "expect", "body": "hello from n1", "from_bare": "alice@localhost"},
		{"client": "bob", "op": "send", "to": "alice@localhost/a", "body": "hello from n2"},
		{"client": "alice", "op": "expect", "body": "hello from n2", "from_bare": "bob@localhost"},
		// Presence broadcast to the contact on the other node.
		{"client": "alice", "op": "presence", "status": "at my desk"},
		{"client": "bob", "op": "expect_presence", "type": "available", "from_bare": "alice@localhost", "status": "at my desk"},
		{"client": "bob", "op": "presence", "status": "busy"},
		{"client": "alice", "op": "expect_presence", "type": "available", "from_bare": "bob@localhost", "status": "busy"},
		// n2 is killed after this step.
		{"client": "alice", "op": "expect_presence", "type": "unavailable", "from_bare": "bob@localhost"},
		// Once: n3 saw n2 go too, but n1 is the survivor that sends it.
		{"client": "alice", "op": "expect_no_presence", "type": "unavailable", "from_bare": "bob@localhost"},
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			if strings.Contains(n.stderr.String(), "WARNING: DATA RACE") {
				t.Errorf("node %s reported a data race", n.id)
			}
		}
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("%s:\n%s", n.id, tail(n.stderr.String(), 60))
			}
		}
	})
	killAfter := len(steps) - 3
	var killed time.Time
	res, times := runFedLive(t, clients, steps, func(i int) {
		if i == killAfter {
			nodes[1].kill()
			killed = time.Now()
		}
	})
	for i, r := range res {
		if r.str("op") == "expect" && r["delayed"] != false {
			t.Errorf("step %d: message %v came through offline storage", i, r)
		}
	}
	took := times[len(steps)-2].Sub(killed)
	t.Logf("alice got bob's unavailable presence %s after n2 was killed", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("unavailable presence took %s", took)
	}
	if got := res[len(steps)-2].str("from"); got != "bob@localhost/b" {
		t.Errorf("unavailable presence from %q, want bob@localhost/b", got)
	}
}

// waitLog waits until n has logged want count times.
func waitLog(t *testing.T, n *clusterNode, want string, count int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(n.stderr.String(), want) < count {
		if time.Now().After(deadline) {
			t.Fatalf("node %s never logged %q %d times:\n%s", n.id, want, count, tail(n.stderr.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runFedLive is runFed that reports each step as it completes (onStep(i)
// runs before step i+1 starts being read) and returns when each finished.
func runFedLive(t *testing.T, clients map[string]fedClient, steps []step, onStep func(int)) ([]result, []time.Time) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"clients": clients, "steps": steps})
	f := filepath.Join(t.TempDir(), "scenario.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/slixclient.py", f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		results []result
		times   []time.Time
		raw     bytes.Buffer
	)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		raw.Write(line)
		raw.WriteByte('\n')
		if len(line) == 0 {
			continue
		}
		var r result
		if jerr := json.Unmarshal(line, &r); jerr != nil {
			t.Fatalf("bad scenario output %q: %v", line, jerr)
		}
		results = append(results, r)
		times = append(times, time.Now())
		if r["ok"] == true {
			onStep(len(results) - 1)
		}
	}
	err = cmd.Wait()
	if err != nil || len(results) != len(steps) {
		t.Fatalf("slixmpp scenario failed (%v): %d of %d steps ran\nstdout:\n%s\nstderr:\n%s",
			err, len(results), len(steps), raw.String(), tail(stderr.String(), 60))
	}
	return results, times
}
