package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The leader is killed with SIGKILL during a burst of subscription
// requests that a client of a follower sends, each acknowledged by a ping
// round trip (the server answers the ping only once it has committed the
// request, and a refusal comes back before it). After the leader is
// restarted, every acknowledged request is on every node exactly once,
// checked through the admin API: a pending request of the contact and
// ask="subscribe" in the requester's roster.
func TestClusterSubscriptionBurstLeaderKilled(t *testing.T) {
	needSlixmpp(t)
	c := startCluster(t, 17450)
	nodes := c.nodes
	const contacts = 60
	nodes[1].addUser(t, "req@localhost", "password-req")
	var names []string
	for i := 0; i < contacts; i++ {
		name := fmt.Sprintf("c%d@localhost", i)
		nodes[1].addUser(t, name, "password-c")
		names = append(names, name)
	}
	waitUsers(t, nodes[2], names)

	req := clientAt(nodes[1], clientSpec{JID: "req@localhost/r", Password: "password-req", Mech: "SCRAM-SHA-256", NoCB: true})
	steps := []step{{"client": "req", "op": "connect"}, {"client": "req", "op": "presence"}}
	for _, c := range names {
		steps = append(steps, step{"client": "req", "op": "presence_to", "to": c, "type": "subscribe"})
	}
	done := make(chan []result)
	go func() { done <- runFedPartial(t, map[string]fedClient{"req": req}, steps) }()
	// Kill the leader once the burst is under way: when the first request
	// has reached a contact's pending list.
	checkRequests(t, nodes[1], names[:1])
	nodes[0].kill()
	res := <-done
	var acked []string
	for i, r := range res {
		if i >= 2 && r["ok"] == true {
			acked = append(acked, steps[i]["to"].(string))
		}
	}
	t.Logf("%d of %d requests acknowledged; the burst stopped at step %d of %d", len(acked), contacts, len(res), len(steps))
	if len(acked) == contacts {
		t.Log("every request was acknowledged: the kill landed while the burst went on, through the new leader")
	}
	nodes[0] = c.restart(t, 0)
	for _, n := range nodes {
		checkRequests(t, n, acked)
	}
}

// checkRequests waits until node n shows every request from req to the
// contacts exactly once.
func checkRequests(t *testing.T, n *clusterNode, contacts []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing := ""
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := n.client().Roster(ctx, "req@localhost")
		asks := map[string]int{}
		for _, it := range r.Items {
			if it.Ask {
				asks[it.JID]++
			}
		}
		for _, c := range contacts {
			ps, perr := n.client().Pending(ctx, c)
			count := 0
			for _, p := range ps {
				if p.From == "req@localhost" {
					count++
				}
			}
			if perr != nil || count != 1 || asks[c] != 1 {
				missing = fmt.Sprintf("%s: pending %d (err %v), ask %d", c, count, perr, asks[c])
				break
			}
		}
		cancel()
		if err == nil && missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: a request is not there exactly once: %s (roster err %v)", n.id, missing, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
