package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/cmd/internal/config"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
	"github.com/heraldxmpp/herald/ops"
)

// aliceAndBob starts a daemon with cfg and the accounts alice and bob, and
// logs alice in, available.
func aliceAndBob(t *testing.T, cfg config.Config) (server, *rawClient) {
	t.Helper()
	s := startConfigured(t, cfg).server()
	s.addUser(t, "alice@localhost", "password-alice")
	s.addUser(t, "bob@localhost", "password-bob")
	alice := rawLogin(t, s, "alice", "password-alice", "a")
	alice.send("<presence/>")
	return s, alice
}

// sendStored sends each raw message from c, each followed by a ping, and
// returns the error condition each got before the ping's answer ("" for
// none; "+payload" appended when the error carries the original body).
func sendStored(t *testing.T, c *rawClient, msgs []string) []string {
	t.Helper()
	conds := make([]string, len(msgs))
	for i, m := range msgs {
		c.send(m)
		got, err := c.ping()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		for _, el := range got {
			conds[i] += errorOf(el)
			if bodyOf(el) != "" {
				// RFC 6120 8.3.1: not the payload of a refused large message.
				conds[i] += "+payload"
			}
		}
	}
	return conds
}

// Whatever the server accepts from a sender and stores for an offline
// recipient reaches the recipient at login, as it was sent: a message of
// exactly max_stanza bytes, one with the most attributes a stream takes,
// and, with max_stanza raised to 1 MiB, a 300 KB one. What it cannot
// store (past what a client's send queue holds, or what serializing
// inflates past the headroom), the sender is told at once
// (RFC 6120 8.3.3.11), and it never reaches the recipient.
func TestOfflineWhatIsStoredIsDelivered(t *testing.T) {
	attrs := ""
	for i := range xmlstream.DefaultMaxAttrs - 3 { // to, id and type are three
		attrs += fmt.Sprintf(" a%d='v'", i)
	}
	type sent struct {
		raw  string
		cond string // the error the sender gets, "" for none
	}
	cases := []struct {
		name      string
		maxStanza int
		msgs      []sent
	}{
		{"default limits", 0, []sent{
			{padMessage("bob@localhost", "exact", "", xmlstream.DefaultMaxStanza), ""},
			{padMessage("bob@localhost", "attrs", attrs, 1000), ""},
		}},
		{"max_stanza 1 MiB", 1 << 20, []sent{
			{padMessage("bob@localhost", "300k", "", 300_000), ""},
			// As large as the stream takes, but with the server's 'from'
			// larger than max_queue (1 MiB): it could never be delivered.
			{padMessage("bob@localhost", "exact", "", 1<<20), "not-acceptable"},
		}},
		{"inflated past the headroom", 0, []sent{
			// '>' is legal raw in character data and written back
			// escaped: four times its size.
			{"<message to='bob@localhost' id='gt' type='chat'><body>" + strings.Repeat(">", 200_000) + "</body></message>", "not-acceptable"},
			{padMessage("bob@localhost", "small", "", 500), ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			if tc.maxStanza > 0 {
				cfg.Limits.MaxStanza = tc.maxStanza
			}
			s, alice := aliceAndBob(t, cfg)
			var raws []string
			for _, m := range tc.msgs {
				raws = append(raws, m.raw)
			}
			var stored []string
			for i, cond := range sendStored(t, alice, raws) {
				if cond != tc.msgs[i].cond {
					t.Fatalf("message %d of %d bytes: the sender got %q, want %q", i, len(raws[i]), cond, tc.msgs[i].cond)
				}
				if cond == "" {
					stored = append(stored, raws[i])
				}
			}
			bob := rawLogin(t, s, "bob", "password-bob", "b")
			bob.send("<presence/>")
			got := bob.messages(len(stored))
			for i, el := range got {
				want := readBack(t, stored[i])
				if el.Get("id") != want.Get("id") || bodyOf(el) != bodyOf(want) || len(el.Attr) != len(want.Attr)+1 ||
					el.Get("from") != "alice@localhost/a" || el.Child("urn:xmpp:delay", "delay") == nil {
					t.Errorf("message %d: id %q, %d attributes, body of %d bytes, from %q; want id %q, %d attributes, %d bytes",
						i, el.Get("id"), len(el.Attr), len(bodyOf(el)), el.Get("from"), want.Get("id"), len(want.Attr)+1, len(bodyOf(want)))
				}
			}
		})
	}
}

// readBack parses a raw message as the server's stream would.
func readBack(t *testing.T, raw string) *stanza.Element {
	t.Helper()
	d := xmlstream.NewDecoder(strings.NewReader(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`+raw), xmlstream.Limits{MaxStanza: 4 << 20})
	d.Next()
	ev, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	return ev.Element
}

// A full offline store answers the sender with service-unavailable
// (XEP-0160 3, RFC 6121 8.5.2.2.1), and the operator sees the account's
// use against the limit and the node's counters of stored and refused
// messages, through the admin API and the metrics.
func TestOfflineLimitVisible(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Limits.OfflinePerUser = 3
	s, alice := aliceAndBob(t, cfg)
	var msgs []string
	for i := range 5 {
		msgs = append(msgs, padMessage("bob@localhost", fmt.Sprintf("m%d", i), "", 300))
	}
	msgs = append(msgs, "<message to='bob@localhost' id='big'><body>"+strings.Repeat(">", 200_000)+"</body></message>")
	conds := sendStored(t, alice, msgs)
	want := []string{"", "", "", "service-unavailable+payload", "service-unavailable+payload", "not-acceptable"}
	if strings.Join(conds, ",") != strings.Join(want, ",") {
		t.Fatalf("errors to the sender: %q, want %q", conds, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := s.client()
	if o, err := c.Offline(ctx, "bob@localhost"); err != nil || o.Count != 3 || o.Limit != 3 || o.User != "bob@localhost" {
		t.Fatalf("bob's offline storage: %+v, %v", o, err)
	}
	if _, err := c.Offline(ctx, "nobody@localhost"); !errors.Is(err, ops.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := c.Offline(ctx, "bob@localhost/r"); !errors.Is(err, ops.ErrBadRequest) {
		t.Errorf("full JID: %v", err)
	}
	var metrics bytes.Buffer
	if err := c.Metrics(ctx, &metrics); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"herald_offline_limit 3\n", "herald_offline_stored_total 3\n",
		`herald_offline_refused_total{reason="full"} 2` + "\n", `herald_offline_refused_total{reason="too_large"} 1` + "\n"} {
		if !strings.Contains(metrics.String(), w) {
			t.Errorf("metrics lack %q", w)
		}
	}

	bob := rawLogin(t, s, "bob", "password-bob", "b")
	bob.send("<presence/>")
	bob.messages(3)
	// Delivered messages leave storage; the account has room again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := c.Offline(ctx, "bob@localhost")
		if err == nil && o.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delivery bob's storage holds %+v (%v)", o, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A message kept under a raised max_stanza is still delivered after the
// limit is lowered again: the server does not bound the size of what it
// already kept.
func TestOfflineKeptAcrossLoweredLimit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Limits.MaxStanza = 1 << 20
	d, err := start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := d.server()
	s.addUser(t, "alice@localhost", "password-alice")
	s.addUser(t, "bob@localhost", "password-bob")
	alice := rawLogin(t, s, "alice", "password-alice", "a")
	alice.send("<presence/>")
	msg := padMessage("bob@localhost", "300k", "", 300_000)
	if conds := sendStored(t, alice, []string{msg}); conds[0] != "" {
		t.Fatalf("the sender got %q", conds[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.close(ctx); err != nil {
		t.Fatal(err)
	}

	cfg.Limits.MaxStanza = 0
	cfg.Defaults()
	s = startConfigured(t, cfg).server()
	bob := rawLogin(t, s, "bob", "password-bob", "b")
	bob.send("<presence/>")
	if got := bob.messages(1); got[0].Get("id") != "300k" || bodyOf(got[0]) != bodyOf(readBack(t, msg)) {
		t.Fatalf("bob got %q with a body of %d bytes", got[0].Get("id"), len(bodyOf(got[0])))
	}
}

// A subscription request the server could not read back once kept is
// refused to its sender at once, like an offline message.
func TestPendingRequestTooLargeRefused(t *testing.T) {
	_, alice := aliceAndBob(t, testConfig(t.TempDir()))
	alice.send("<presence to='bob@localhost' type='subscribe' id='big'><status>" + strings.Repeat(">", 200_000) + "</status></presence>")
	got, err := alice.ping()
	if err != nil {
		t.Fatal(err)
	}
	cond := ""
	for _, el := range got {
		if el.Name.Local == "presence" && el.Get("id") == "big" {
			cond += errorOf(el)
		}
	}
	if cond != "not-acceptable" {
		t.Fatalf("the sender got %q, want not-acceptable", cond)
	}
}
