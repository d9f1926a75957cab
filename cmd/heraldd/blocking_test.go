package main

import (
	"slices"
	"testing"
)

// XEP-0191 with slixmpp's own xep_0191 plugin against a real heraldd.
func TestSlixmppBlocking(t *testing.T) {
	d, clients := verona(t)
	s := d.server()
	d.blocking.Max = 3
	runScript(t, "testdata/slixservices.py", s, clients, slices.Concat(
		arrive("balcony", false, 0), arrive("chamber", true, 0), arrive("romeo", false, 0), []step{
			{"client": "balcony", "op": "blocklist", "items": []string{}},
			{"client": "balcony", "op": "block", "jids": []string{"romeo@localhost", "tybalt@localhost"}},
			// XEP-0191 3.3: a push to the account's resources.
			{"client": "chamber", "op": "expect_push", "kind": "block", "jids": []string{"romeo@localhost", "tybalt@localhost"}},
			{"client": "balcony", "op": "expect_push", "kind": "block", "jids": []string{"romeo@localhost", "tybalt@localhost"}},
			{"client": "chamber", "op": "blocklist", "items": []string{"romeo@localhost", "tybalt@localhost"}},
			// The cap (3 here): two more would make four; nothing is kept.
			{"client": "chamber", "op": "block", "jids": []string{"paris@localhost", "capulet.example"}, "error": "policy-violation"},
			{"client": "chamber", "op": "blocklist", "items": []string{"romeo@localhost", "tybalt@localhost"}},
			// Romeo's messages are refused as if juliet were offline.
			{"client": "romeo", "op": "send", "to": "juliet@localhost", "body": "wherefore"},
			{"client": "romeo", "op": "expect_error", "condition": "service-unavailable"},
			{"client": "balcony", "op": "expect_none"},
			{"client": "chamber", "op": "expect_none"},
			// Nor does his presence reach her, though it never passes Route.
			{"client": "romeo", "op": "presence_to", "to": "juliet@localhost/balcony"},
			{"client": "balcony", "op": "expect_no_presence", "from_bare": "romeo@localhost"},
			// Juliet cannot write to him: not-acceptable with <blocked/>, and
			// no sent carbon of the refused message.
			{"client": "balcony", "op": "send", "to": "romeo@localhost/garden", "body": "art thou"},
			{"client": "balcony", "op": "expect_error", "condition": "not-acceptable", "blocked": true},
			{"client": "romeo", "op": "expect_none"},
			{"client": "chamber", "op": "expect_none"},
			// Unblocked, they talk again.
			{"client": "chamber", "op": "unblock", "jids": []string{"romeo@localhost"}},
			{"client": "balcony", "op": "expect_push", "kind": "unblock", "jids": []string{"romeo@localhost"}},
			{"client": "chamber", "op": "expect_push", "kind": "unblock", "jids": []string{"romeo@localhost"}},
			{"client": "romeo", "op": "send", "to": "juliet@localhost/balcony", "body": "again"},
			{"client": "balcony", "op": "expect", "body": "again"},
			{"client": "romeo", "op": "presence_to", "to": "juliet@localhost/balcony"},
			{"client": "balcony", "op": "expect_presence", "type": "available", "from_bare": "romeo@localhost"},
			{"client": "balcony", "op": "blocklist", "items": []string{"tybalt@localhost"}},
			{"client": "balcony", "op": "unblock"},
			{"client": "chamber", "op": "expect_push", "kind": "unblock"},
			{"client": "balcony", "op": "expect_push", "kind": "unblock"},
			{"client": "chamber", "op": "blocklist", "items": []string{}},
		}))
	wantMetrics(t, s, "herald_blocking_refused_in_total 2", "herald_blocking_refused_out_total 1", "herald_blocking_limit 3", "herald_blocking_full_total 1")
}
