package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// photo is the image slixclient.py's photo(n) makes.
func photo(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

// XEP-0049 and XEP-0054 with slixmpp's plugins against a real heraldd:
// private XML only for its owner, the reserved namespaces and the limit
// refused; a vCard set by one client and read by another, its limit
// (PHOTO included), and both gone with the account.
func TestSlixmppAccountData(t *testing.T) {
	needSlixmpp(t)
	cfg := testConfig(t.TempDir())
	cfg.Limits.PrivateBytes = 1024
	cfg.Limits.VCardBytes = 8192
	d := startConfigured(t, cfg)
	s := d.server()
	s.addUser(t, "alice@localhost", clientPassword)
	s.addUser(t, "bob@localhost", clientPassword)
	clients := map[string]clientSpec{
		"alice": {JID: "alice@localhost/a", Password: clientPassword},
		"bob":   {JID: "bob@localhost/b", Password: clientPassword},
	}
	const prefs = `<prefs xmlns="urn:herald:test:prefs"><nick>Hamlet</nick></prefs>`
	get := func(client string) step {
		return step{"client": client, "op": "private_get", "ns": "urn:herald:test:prefs", "name": "prefs"}
	}
	steps := []step{
		{"client": "alice", "op": "connect"},
		{"client": "bob", "op": "connect"},
		{"client": "alice", "op": "private_set", "xml": prefs},
		get("alice"),
		get("bob"),
		{"client": "alice", "op": "private_set", "xml": `<query xmlns="jabber:iq:roster"/>`, "error": "not-acceptable"},
		{"client": "alice", "op": "private_set", "xml": `<big xmlns="urn:herald:test:big">` + strings.Repeat("x", 2000) + `</big>`, "error": "not-acceptable"},
		{"client": "alice", "op": "vcard_get", "jid": "alice@localhost"},
		{"client": "bob", "op": "vcard_get", "jid": "alice@localhost", "error": "service-unavailable"},
		{"client": "alice", "op": "vcard_set", "fn": "Alice", "photo": 2000},
		{"client": "bob", "op": "vcard_get", "jid": "alice@localhost"},
		{"client": "alice", "op": "vcard_set", "fn": "Alice", "photo": 7000, "error": "not-acceptable"},
		{"client": "bob", "op": "vcard_get", "jid": "alice@localhost"},
		{"client": "alice", "op": "vcard_get", "jid": "alice@localhost"},
	}
	res := runSlixmpp(t, s, clients, steps)
	if got := res[3].str("text"); got != "Hamlet" {
		t.Errorf("alice reads her private XML as %q", got)
	}
	if got := res[4].str("text"); got != "" {
		t.Errorf("bob reads %q from his own storage, where nothing was stored", got)
	}
	if got := res[7].str("fn"); got != "" {
		t.Errorf("alice's own vCard before she set one has FN %q", got)
	}
	for _, i := range []int{10, 12, 13} {
		if r := res[i]; r.str("fn") != "Alice" || r.str("photo_sha1") != photo(2000) {
			t.Errorf("step %d (%s reads alice's vCard): %v", i, r.str("client"), r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := s.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"herald_private_refused_total": 1, "herald_private_limit_bytes": 1024,
		"herald_vcard_refused_total": 1, "herald_vcard_limit_bytes": 8192}
	for _, m := range st.Metrics {
		if v, ok := want[m.Name]; ok {
			if m.Value != v {
				t.Errorf("%s = %d, want %d", m.Name, m.Value, v)
			}
			delete(want, m.Name)
		}
	}
	if len(want) != 0 {
		t.Errorf("metrics missing: %v", want)
	}

	// Deleted with the account: a new alice starts with nothing.
	if err := s.client().DeleteUser(ctx, "alice@localhost"); err != nil {
		t.Fatal(err)
	}
	s.addUser(t, "alice@localhost", clientPassword)
	res = runSlixmpp(t, s, clients, []step{
		{"client": "alice", "op": "connect"},
		get("alice"),
		{"client": "bob", "op": "connect"},
		{"client": "bob", "op": "vcard_get", "jid": "alice@localhost", "error": "service-unavailable"},
	})
	if got := res[1].str("text"); got != "" {
		t.Errorf("the new alice reads %q", got)
	}
}

// XEP-0153 with slixmpp's plugin: the avatar goes into the vCard, its
// hash into presence, and a contact that sees the hash gets the image
// from the server.
func TestSlixmppAvatar(t *testing.T) {
	needSlixmpp(t)
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "carol@localhost", clientPassword)
	s.addUser(t, "bob@localhost", clientPassword)
	clients := map[string]clientSpec{
		"carol": {JID: "carol@localhost/c", Password: clientPassword, Avatar: true},
		"bob":   {JID: "bob@localhost/b", Password: clientPassword},
	}
	res := runSlixmpp(t, s, clients, []step{
		{"client": "carol", "op": "connect"},
		{"client": "bob", "op": "connect"},
		{"client": "bob", "op": "presence"},
		{"client": "carol", "op": "presence"},
		{"client": "carol", "op": "set_avatar", "photo": 3000},
		{"client": "carol", "op": "presence_to", "to": "bob@localhost"},
		{"client": "bob", "op": "expect_avatar", "from_bare": "carol@localhost"},
		{"client": "bob", "op": "vcard_get", "jid": "carol@localhost"},
	})
	hash := photo(3000)
	if res[4].str("sha1") != hash || res[6].str("photo") != hash || res[7].str("photo_sha1") != hash {
		t.Errorf("avatar hash %s: presence carried %q, the vCard's image hashes to %q", hash, res[6].str("photo"), res[7].str("photo_sha1"))
	}
}

// XEP-0054 across federation: a Prosody user reads a Herald user's vCard,
// which Herald answers over the s2s link; an unknown account gets the
// same answer as a missing vCard (XEP-0054 3.3).
func TestFederationVCard(t *testing.T) {
	w := newFedWorld(t, authDialback)
	res := w.run(t, []step{
		{"client": "alice", "op": "connect"},
		{"client": "alice", "op": "vcard_set", "fn": "Alice of h.test", "photo": 1500},
		{"client": "bob", "op": "connect"},
		{"client": "bob", "op": "vcard_get", "jid": alice},
		{"client": "bob", "op": "vcard_get", "jid": "nobody@h.test", "error": "service-unavailable"},
	})
	if r := res[3]; r.str("fn") != "Alice of h.test" || r.str("photo_sha1") != photo(1500) {
		t.Errorf("bob@p.test reads alice's vCard as %v", r)
	}
}
