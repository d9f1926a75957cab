package consensus

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/heraldxmpp/herald/roster"
)

// fixturePath is a snapshot stream written by the release that introduced
// it. It is frozen: every later release must restore it (a schema or stream
// change comes with a migration that keeps this test passing), and a new
// stream or schema version adds a new fixture beside it.
var fixturePath = filepath.Join("testdata", "snapshot", "stream-v1-schema-v1.snap")

// fixtureState builds the state the fixture holds: accounts, offline
// messages with a deleted prefix, roster items in several states and a
// pending request kept with its stanza.
func fixtureState(t *testing.T, n *Node) {
	const alice, bob, carol = "alice@localhost", "bob@localhost", "carol@example.org"
	propose(t, n, CreateAccount{Name: alice, Secret: []byte("alice-keys"), Created: ts})
	propose(t, n, CreateAccount{Name: bob, Secret: []byte("bob-keys"), Created: ts + 1})
	propose(t, n, SetSecret{Name: bob, Secret: []byte("bob-keys-2")})
	for i := range 4 {
		propose(t, n, StoreOffline{User: alice, From: bob + "/phone", Stanza: []byte{'<', 'm', byte('0' + i), '/', '>'}, At: ts + int64(i)})
	}
	propose(t, n, DeleteOffline{User: alice, UpTo: 2})
	set := rop(roster.OpSet, alice, carol)
	set.Name, set.Groups = "Carol", []string{"Friends", "Work"}
	propose(t, n, set)
	propose(t, n, subOp(roster.OpOut, roster.Subscribe, alice, carol))
	in := subOp(roster.OpIn, roster.Subscribe, bob, alice)
	in.Stanza = []byte(`<presence from="alice@localhost" to="bob@localhost" type="subscribe"/>`)
	propose(t, n, in)
}

// TestSnapshotFixture restores the frozen snapshot stream into a new data
// directory and checks every record it holds through the reads. Run with
// -update (once, when the fixture file does not exist) to write it.
func TestSnapshotFixture(t *testing.T) {
	if _, err := os.Stat(fixturePath); *update && os.IsNotExist(err) {
		n := open(t, t.TempDir(), memState)
		fixtureState(t, n)
		var buf bytes.Buffer
		if err := n.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fixturePath, buf.Bytes())
	}
	f, err := os.Open(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	if err := RestoreDir(dir, f); err != nil {
		t.Fatalf("RestoreDir(%s): %v", fixturePath, err)
	}
	n := open(t, dir)

	names, err := n.Accounts("localhost")
	if err != nil || !slices.Equal(names, []string{"alice@localhost", "bob@localhost"}) {
		t.Fatalf("Accounts = %v, %v", names, err)
	}
	for name, secret := range map[string]string{"alice@localhost": "alice-keys", "bob@localhost": "bob-keys-2"} {
		a, err := n.Account(name)
		if err != nil || string(a.Secret) != secret {
			t.Errorf("Account(%s) = %+v, %v; want secret %q", name, a, err, secret)
		}
	}
	msgs, err := n.Offline("alice@localhost")
	if err != nil || !slices.Equal(seqs(msgs), []uint64{3, 4}) {
		t.Fatalf("Offline = %v, %v; want seqs 3, 4", seqs(msgs), err)
	}
	if m := msgs[0]; m.From != "bob@localhost/phone" || string(m.Stanza) != "<m2/>" || m.At != ts+2 {
		t.Errorf("offline message 3 = %+v", m)
	}
	items, ver, err := n.Roster("alice@localhost")
	if err != nil || len(items) != 1 || ver == 0 {
		t.Fatalf("Roster(alice) = %+v ver %d, %v", items, ver, err)
	}
	want := roster.Item{JID: "carol@example.org", Name: "Carol", Groups: []string{"Friends", "Work"},
		State: roster.State{Sub: roster.None, PendingOut: true}}
	if !reflect.DeepEqual(items[0], want) {
		t.Errorf("alice's item = %+v, want %+v", items[0], want)
	}
	reqs, err := n.PendingRequests("bob@localhost")
	if err != nil || len(reqs) != 1 || reqs[0].From != "alice@localhost" ||
		string(reqs[0].Stanza) != `<presence from="alice@localhost" to="bob@localhost" type="subscribe"/>` {
		t.Errorf("bob's pending requests = %+v, %v", reqs, err)
	}
	// The restored state takes new writes where it left off.
	if res := propose(t, n, StoreOffline{User: "alice@localhost", From: "x@y", Stanza: []byte("<m/>"), At: ts}); res.Seq != 5 {
		t.Errorf("next offline Seq = %d, want 5", res.Seq)
	}
}
