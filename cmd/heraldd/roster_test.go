package main

import (
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// users creates accounts and returns slixmpp client specs for them; the
// name of a spec is user+resource ("alice1") and its JID user@localhost/r.
func users(t *testing.T, s server, specs map[string]string) map[string]clientSpec {
	t.Helper()
	made := map[string]bool{}
	out := map[string]clientSpec{}
	for name, full := range specs {
		bare := full
		for i := range full {
			if full[i] == '/' {
				bare = full[:i]
				break
			}
		}
		if !made[bare] {
			s.addUser(t, bare, "password-"+bare)
			made[bare] = true
		}
		out[name] = clientSpec{JID: full, Password: "password-" + bare, Mech: "SCRAM-SHA-256", NoCB: true}
	}
	return out
}

// RFC 6121 3.1-3.3 between two local users, driven by slixmpp with its
// automatic subscription handling off.
func TestSubscriptionHandshakeToBothAndBack(t *testing.T) {
	needSlixmpp(t)
	s := startInProcess(t).server()
	c := users(t, s, map[string]string{"alice": "alice@localhost/a", "bob": "bob@localhost/b"})
	res := runSlixmpp(t, s, c, []step{
		{"client": "alice", "op": "connect"}, {"client": "bob", "op": "connect"},
		{"client": "alice", "op": "roster"}, {"client": "bob", "op": "roster"},
		{"client": "alice", "op": "presence"}, {"client": "bob", "op": "presence"},
		// alice asks bob: her item gets ask=subscribe, bob sees the request
		// with its nick extension.
		{"client": "alice", "op": "presence_to", "to": "bob@localhost", "type": "subscribe", "nick": "Alice"},
		{"client": "alice", "op": "expect_push", "jid": "bob@localhost", "subscription": "none", "ask": "subscribe"},
		{"client": "bob", "op": "expect_presence", "type": "subscribe", "from_bare": "alice@localhost"},
		// bob approves: he gets From, she gets To and his presence.
		{"client": "bob", "op": "presence_to", "to": "alice@localhost", "type": "subscribed"},
		{"client": "bob", "op": "expect_push", "jid": "alice@localhost", "subscription": "from"},
		{"client": "alice", "op": "expect_presence", "type": "subscribed", "from_bare": "bob@localhost"},
		{"client": "alice", "op": "expect_push", "jid": "bob@localhost", "subscription": "to"},
		{"client": "alice", "op": "expect_presence", "type": "available", "from_bare": "bob@localhost"},
		// and the other way round, to Both.
		{"client": "bob", "op": "presence_to", "to": "alice@localhost", "type": "subscribe"},
		{"client": "alice", "op": "expect_presence", "type": "subscribe", "from_bare": "bob@localhost"},
		{"client": "alice", "op": "presence_to", "to": "bob@localhost", "type": "subscribed"},
		{"client": "bob", "op": "expect_presence", "type": "subscribed", "from_bare": "alice@localhost"},
		{"client": "bob", "op": "expect_presence", "type": "available", "from_bare": "alice@localhost"},
		{"client": "alice", "op": "roster", "expect": map[string]any{"bob@localhost": map[string]any{"subscription": "both", "ask": nil}}},
		{"client": "bob", "op": "roster", "expect": map[string]any{"alice@localhost": map[string]any{"subscription": "both", "ask": nil}}},
		// alice unsubscribes from bob (3.3): she keeps From, he keeps To,
		// and she gets his unavailable presence.
		{"client": "alice", "op": "presence_to", "to": "bob@localhost", "type": "unsubscribe"},
		{"client": "bob", "op": "expect_presence", "type": "unsubscribe", "from_bare": "alice@localhost"},
		{"client": "alice", "op": "expect_presence", "type": "unavailable", "from_bare": "bob@localhost"},
		{"client": "alice", "op": "roster", "expect": map[string]any{"bob@localhost": map[string]any{"subscription": "from"}}},
		{"client": "bob", "op": "roster", "expect": map[string]any{"alice@localhost": map[string]any{"subscription": "to"}}},
		// alice cancels bob's subscription to her (3.2): nothing is left.
		{"client": "alice", "op": "presence_to", "to": "bob@localhost", "type": "unsubscribed"},
		{"client": "bob", "op": "expect_presence", "type": "unsubscribed", "from_bare": "alice@localhost"},
		{"client": "alice", "op": "roster", "expect": map[string]any{"bob@localhost": map[string]any{"subscription": "none", "ask": nil}}},
		{"client": "bob", "op": "roster", "expect": map[string]any{"alice@localhost": map[string]any{"subscription": "none", "ask": nil}}},
	})
	if nick := res[8].str("nick"); nick != "Alice" {
		t.Errorf("the subscribe request reached bob with nick %q, want Alice", nick)
	}
	if ver := res[2].str("ver"); ver == "" {
		t.Error("roster result carries no version (RFC 6121 2.6)")
	}
}

// A denied request (3.2.2 / A.3.4) and a request to an offline contact:
// delivered at each login until answered, then never again; the answer
// reaches the requester even though he was offline when it came.
func TestSubscriptionDenyAndOfflineRequests(t *testing.T) {
	needSlixmpp(t)
	s := startInProcess(t).server()
	c := users(t, s, map[string]string{
		"carol": "carol@localhost/c", "dave": "dave@localhost/d", "erin": "erin@localhost/e",
	})
	runSlixmpp(t, s, c, []step{
		// Deny.
		{"client": "carol", "op": "connect"}, {"client": "carol", "op": "presence"},
		{"client": "dave", "op": "connect"}, {"client": "dave", "op": "roster"}, {"client": "dave", "op": "presence"},
		{"client": "dave", "op": "presence_to", "to": "carol@localhost", "type": "subscribe"},
		{"client": "carol", "op": "expect_presence", "type": "subscribe", "from_bare": "dave@localhost"},
		{"client": "carol", "op": "presence_to", "to": "dave@localhost", "type": "unsubscribed"},
		{"client": "dave", "op": "expect_presence", "type": "unsubscribed", "from_bare": "carol@localhost"},
		{"client": "dave", "op": "expect_push", "jid": "carol@localhost", "subscription": "none"},
		{"client": "dave", "op": "roster", "expect": map[string]any{"carol@localhost": map[string]any{"subscription": "none", "ask": nil}}},
		{"client": "carol", "op": "roster", "expect": map[string]any{"dave@localhost": nil}},
		// erin is offline when dave asks.
		{"client": "dave", "op": "presence_to", "to": "erin@localhost", "type": "subscribe", "nick": "Dave"},
		{"client": "dave", "op": "disconnect"},
		{"client": "erin", "op": "connect"}, {"client": "erin", "op": "presence"},
		{"client": "erin", "op": "expect_presence", "type": "subscribe", "from_bare": "dave@localhost"},
		{"client": "erin", "op": "disconnect"},
		// Unanswered: delivered again at the next login.
		{"client": "erin", "op": "connect"}, {"client": "erin", "op": "presence"},
		{"client": "erin", "op": "expect_presence", "type": "subscribe", "from_bare": "dave@localhost"},
		{"client": "erin", "op": "presence_to", "to": "dave@localhost", "type": "subscribed"},
		{"client": "erin", "op": "disconnect"},
		// Approved: never again.
		{"client": "erin", "op": "connect"}, {"client": "erin", "op": "presence"},
		{"client": "erin", "op": "expect_no_presence", "type": "subscribe"},
		// dave was offline when erin approved: he is told at login.
		{"client": "dave", "op": "connect"}, {"client": "dave", "op": "presence"},
		{"client": "dave", "op": "expect_presence", "type": "subscribed", "from_bare": "erin@localhost"},
		{"client": "dave", "op": "roster", "expect": map[string]any{"erin@localhost": map[string]any{"subscription": "to", "ask": nil}}},
	})
}

// An inbound request reaches every available resource (those that sent
// initial presence) but not a connected one that has not; a duplicate is
// not delivered again (3.1.3); pre-approval (3.4) answers a request
// without bothering the user.
func TestSubscriptionResourcesDuplicatePreapproval(t *testing.T) {
	needSlixmpp(t)
	s := startInProcess(t).server()
	c := users(t, s, map[string]string{
		"frank": "frank@localhost/f",
		"gina1": "gina@localhost/one", "gina2": "gina@localhost/two", "gina3": "gina@localhost/quiet",
		"hank": "hank@localhost/h", "ivy": "ivy@localhost/i",
	})
	runSlixmpp(t, s, c, []step{
		{"client": "frank", "op": "connect"}, {"client": "frank", "op": "presence"},
		{"client": "gina1", "op": "connect"}, {"client": "gina1", "op": "presence"},
		{"client": "gina2", "op": "connect"}, {"client": "gina2", "op": "presence"},
		{"client": "gina3", "op": "connect"},
		{"client": "frank", "op": "presence_to", "to": "gina@localhost", "type": "subscribe"},
		{"client": "gina1", "op": "expect_presence", "type": "subscribe", "from_bare": "frank@localhost"},
		{"client": "gina2", "op": "expect_presence", "type": "subscribe", "from_bare": "frank@localhost"},
		{"client": "gina3", "op": "expect_no_presence", "type": "subscribe"},
		// The same request again is not delivered again.
		{"client": "frank", "op": "presence_to", "to": "gina@localhost", "type": "subscribe"},
		{"client": "gina1", "op": "expect_no_presence", "type": "subscribe"},
		{"client": "gina2", "op": "expect_no_presence", "type": "subscribe"},
		// Pre-approval: hank approves ivy before she asks.
		{"client": "hank", "op": "connect"}, {"client": "hank", "op": "roster"}, {"client": "hank", "op": "presence"},
		{"client": "hank", "op": "presence_to", "to": "ivy@localhost", "type": "subscribed"},
		{"client": "hank", "op": "expect_push", "jid": "ivy@localhost", "subscription": "none"},
		{"client": "hank", "op": "roster", "expect": map[string]any{"ivy@localhost": map[string]any{"approved": "true", "subscription": "none"}}},
		{"client": "ivy", "op": "connect"}, {"client": "ivy", "op": "presence"},
		{"client": "ivy", "op": "presence_to", "to": "hank@localhost", "type": "subscribe"},
		{"client": "ivy", "op": "expect_presence", "type": "subscribed", "from_bare": "hank@localhost"},
		{"client": "hank", "op": "expect_no_presence", "type": "subscribe"},
		{"client": "hank", "op": "roster", "expect": map[string]any{"ivy@localhost": map[string]any{"subscription": "from", "approved": nil}}},
		{"client": "ivy", "op": "roster", "expect": map[string]any{"hank@localhost": map[string]any{"subscription": "to"}}},
	})
}

// A pending request survives a SIGKILL of the server and is delivered
// afterwards with its extension elements intact.
func TestPendingRequestSurvivesKill(t *testing.T) {
	needSlixmpp(t)
	dir := t.TempDir()
	ch := startChild(t, dir)
	ch.addUser(t, "jack@localhost", "password-jack")
	ch.addUser(t, "kim@localhost", "password-kim")
	c := map[string]clientSpec{
		"jack": {JID: "jack@localhost/j", Password: "password-jack", Mech: "SCRAM-SHA-256", NoCB: true},
		"kim":  {JID: "kim@localhost/k", Password: "password-kim", Mech: "SCRAM-SHA-256", NoCB: true},
	}
	runSlixmpp(t, ch.server, c, []step{
		{"client": "jack", "op": "connect"}, {"client": "jack", "op": "presence"},
		{"client": "jack", "op": "presence_to", "to": "kim@localhost", "type": "subscribe", "nick": "Jack K."},
	})
	ch.kill()
	ch = startChild(t, dir)
	res := runSlixmpp(t, ch.server, c, []step{
		{"client": "kim", "op": "connect"}, {"client": "kim", "op": "presence"},
		{"client": "kim", "op": "expect_presence", "type": "subscribe", "from_bare": "jack@localhost"},
		{"client": "jack", "op": "connect"},
		{"client": "jack", "op": "roster", "expect": map[string]any{"kim@localhost": map[string]any{"subscription": "none", "ask": "subscribe"}}},
	})
	if nick := res[2].str("nick"); nick != "Jack K." {
		t.Errorf("after the restart the request carries nick %q, want %q", nick, "Jack K.")
	}
}

// subscribeBoth makes a and b subscribed to each other through the
// roster service, as their clients would.
func subscribeBoth(d *daemon, a, b string) {
	ja, jb := jid.MustParse(a), jid.MustParse(b)
	p := func(typ string) *stanza.Element {
		return stanza.NewElement(stanza.NSClient, "presence").Set("type", typ)
	}
	d.roster.Outbound(ja, jb, p("subscribe"))
	d.roster.Outbound(jb, ja, p("subscribed"))
	d.roster.Outbound(jb, ja, p("subscribe"))
	d.roster.Outbound(ja, jb, p("subscribed"))
}

// RFC 6121 4.2-4.6: initial presence probes To contacts and reaches From
// contacts; updates follow; a dropped connection sends unavailable;
// directed presence is cleaned up; nobody unsubscribed sees presence.
func TestPresenceBroadcast(t *testing.T) {
	needSlixmpp(t)
	d := startInProcess(t)
	s := d.server()
	c := users(t, s, map[string]string{"lara": "lara@localhost/l", "mike": "mike@localhost/m", "nina": "nina@localhost/n"})
	subscribeBoth(d, "lara@localhost", "mike@localhost")
	runSlixmpp(t, s, c, []step{
		{"client": "lara", "op": "connect"}, {"client": "lara", "op": "presence", "status": "here"},
		{"client": "nina", "op": "connect"}, {"client": "nina", "op": "presence"},
		// mike comes online: his probe brings lara's presence to him, and
		// his broadcast reaches her.
		{"client": "mike", "op": "connect"}, {"client": "mike", "op": "presence"},
		{"client": "mike", "op": "expect_presence", "type": "available", "from_bare": "lara@localhost", "status": "here"},
		{"client": "lara", "op": "expect_presence", "type": "available", "from_bare": "mike@localhost"},
		// An update reaches subscribers only.
		{"client": "lara", "op": "presence", "status": "busy"},
		{"client": "mike", "op": "expect_presence", "type": "available", "from_bare": "lara@localhost", "status": "busy"},
		{"client": "nina", "op": "expect_no_presence", "type": "available", "from_bare": "lara@localhost"},
		// Directed presence from nina to lara, then nina leaves: lara is
		// told (4.6.3).
		{"client": "nina", "op": "presence_to", "to": "lara@localhost"},
		{"client": "lara", "op": "expect_presence", "type": "available", "from_bare": "nina@localhost"},
		{"client": "nina", "op": "disconnect"},
		{"client": "lara", "op": "expect_presence", "type": "unavailable", "from_bare": "nina@localhost"},
		// mike's connection ends: lara gets his unavailable presence.
		{"client": "mike", "op": "disconnect"},
		{"client": "lara", "op": "expect_presence", "type": "unavailable", "from_bare": "mike@localhost"},
	})
}

// The same unsubscribe and cancel, from the other side of a Both pair.
func TestUnsubscribeAndCancelFromTheContactSide(t *testing.T) {
	needSlixmpp(t)
	d := startInProcess(t)
	s := d.server()
	c := users(t, s, map[string]string{"olga": "olga@localhost/o", "pete": "pete@localhost/p"})
	subscribeBoth(d, "olga@localhost", "pete@localhost")
	runSlixmpp(t, s, c, []step{
		{"client": "olga", "op": "connect"}, {"client": "olga", "op": "roster"}, {"client": "olga", "op": "presence"},
		{"client": "pete", "op": "connect"}, {"client": "pete", "op": "roster"}, {"client": "pete", "op": "presence"},
		{"client": "olga", "op": "expect_presence", "type": "available", "from_bare": "pete@localhost"},
		// pete stops his subscription to olga: he gets her unavailable.
		{"client": "pete", "op": "presence_to", "to": "olga@localhost", "type": "unsubscribe"},
		{"client": "olga", "op": "expect_presence", "type": "unsubscribe", "from_bare": "pete@localhost"},
		{"client": "pete", "op": "expect_presence", "type": "unavailable", "from_bare": "olga@localhost"},
		{"client": "pete", "op": "roster", "expect": map[string]any{"olga@localhost": map[string]any{"subscription": "from"}}},
		// pete cancels olga's subscription to him: she gets his
		// unavailable, then the cancellation.
		{"client": "pete", "op": "presence_to", "to": "olga@localhost", "type": "unsubscribed"},
		{"client": "olga", "op": "expect_presence", "type": "unavailable", "from_bare": "pete@localhost"},
		{"client": "olga", "op": "expect_presence", "type": "unsubscribed", "from_bare": "pete@localhost"},
		{"client": "olga", "op": "roster", "expect": map[string]any{"pete@localhost": map[string]any{"subscription": "none"}}},
		{"client": "pete", "op": "roster", "expect": map[string]any{"olga@localhost": map[string]any{"subscription": "none"}}},
		// No more presence crosses between them.
		{"client": "pete", "op": "presence", "status": "still here"},
		{"client": "olga", "op": "expect_no_presence", "type": "available", "from_bare": "pete@localhost"},
	})
}
