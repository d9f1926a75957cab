package consensus

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func proposeErr(t *testing.T, n *Node, c Command) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := n.Propose(ctx, c)
	return err
}

func wantDocument(t *testing.T, what string, got []byte, ok bool, err error, want string) {
	t.Helper()
	if err != nil || ok != (want != "") || string(got) != want {
		t.Errorf("%s = %q, %v, %v; want %q", what, got, ok, err, want)
	}
}

func TestPrivateStorage(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const alice = "alice@localhost"
	propose(t, n, CreateAccount{Name: alice, Created: ts})

	a := `<a xmlns="urn:a"><x>1</x></a>`
	propose(t, n, SetPrivate{User: alice, Space: "urn:a", Local: "a", XML: []byte(a), Limit: 100})
	xml, ok, err := n.Private(alice, "urn:a", "a")
	wantDocument(t, "Private(urn:a a)", xml, ok, err, a)
	// Same namespace, another name: another element.
	xml, ok, err = n.Private(alice, "urn:a", "b")
	wantDocument(t, "Private(urn:a b)", xml, ok, err, "")

	// The limit counts every element: a = 5+1+len(a) bytes already.
	used := len("urn:a") + len("a") + len(a)
	b := `<b xmlns="urn:b">` + strings.Repeat("y", 100-used-len("urn:b")-len("b")-len(`<b xmlns="urn:b"></b>`)) + `</b>`
	propose(t, n, SetPrivate{User: alice, Space: "urn:b", Local: "b", XML: []byte(b), Limit: 100})
	// Full: one more byte anywhere is refused and nothing changes.
	err = proposeErr(t, n, SetPrivate{User: alice, Space: "urn:c", Local: "c", XML: []byte("<c/>"), Limit: 100})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("SetPrivate past the limit: %v, want ErrTooLarge", err)
	}
	xml, ok, err = n.Private(alice, "urn:c", "c")
	wantDocument(t, "Private(urn:c c) after a refusal", xml, ok, err, "")
	// Replacing an element counts it once: shrinking a frees room.
	propose(t, n, SetPrivate{User: alice, Space: "urn:a", Local: "a", XML: []byte(`<a xmlns="urn:a"/>`), Limit: 100})
	propose(t, n, SetPrivate{User: alice, Space: "urn:c", Local: "c", XML: []byte("<c/>"), Limit: 100})
	xml, ok, err = n.Private(alice, "urn:c", "c")
	wantDocument(t, "Private(urn:c c)", xml, ok, err, "<c/>")

	// Zero limit: the default.
	big := []byte("<d>" + strings.Repeat("z", DefaultPrivateLimit) + "</d>")
	if err := proposeErr(t, n, SetPrivate{User: alice, Space: "urn:d", Local: "d", XML: big}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("SetPrivate of %d bytes with the default limit: %v, want ErrTooLarge", len(big), err)
	}

	if err := proposeErr(t, n, SetPrivate{User: "bob@localhost", Space: "urn:a", Local: "a", XML: []byte(a)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPrivate for no account: %v, want ErrNotFound", err)
	}
	for _, c := range []SetPrivate{
		{User: alice, Space: "", Local: "a", XML: []byte(a)},
		{User: alice, Space: "urn:a", Local: "", XML: []byte(a)},
		{User: alice, Space: "urn\x00a", Local: "a", XML: []byte(a)},
		{User: alice, Space: "urn:a", Local: "a"},
	} {
		if err := proposeErr(t, n, c); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetPrivate %+v: %v, want ErrInvalid", c, err)
		}
	}
}

func TestVCardStorage(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const alice = "alice@localhost"
	propose(t, n, CreateAccount{Name: alice, Created: ts})
	xml, ok, err := n.VCard(alice)
	wantDocument(t, "VCard before any", xml, ok, err, "")

	v1 := `<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>`
	propose(t, n, SetVCard{User: alice, XML: []byte(v1), Limit: uint32(len(v1))})
	xml, ok, err = n.VCard(alice)
	wantDocument(t, "VCard", xml, ok, err, v1)

	v2 := `<vCard xmlns="vcard-temp"><FN>Alice!</FN></vCard>`
	if err := proposeErr(t, n, SetVCard{User: alice, XML: []byte(v2), Limit: uint32(len(v1))}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("SetVCard one byte past the limit: %v, want ErrTooLarge", err)
	}
	xml, ok, err = n.VCard(alice)
	wantDocument(t, "VCard after a refusal", xml, ok, err, v1)
	big := []byte(`<vCard xmlns="vcard-temp"><PHOTO><BINVAL>` + strings.Repeat("A", DefaultVCardLimit) + `</BINVAL></PHOTO></vCard>`)
	if err := proposeErr(t, n, SetVCard{User: alice, XML: big}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("SetVCard past the default limit: %v, want ErrTooLarge", err)
	}
	if err := proposeErr(t, n, SetVCard{User: "bob@localhost", XML: []byte(v1)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetVCard for no account: %v, want ErrNotFound", err)
	}
}

// The account data goes with the account, and a new account of the same
// name starts with none.
func TestAccountDataDeletedWithAccount(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const alice = "alice@localhost"
	propose(t, n, CreateAccount{Name: alice, Created: ts})
	propose(t, n, SetVCard{User: alice, XML: []byte(`<vCard xmlns="vcard-temp"/>`)})
	propose(t, n, SetPrivate{User: alice, Space: "urn:a", Local: "a", XML: []byte(`<a xmlns="urn:a"/>`), Limit: 30})
	propose(t, n, DeleteAccount{Name: alice})
	propose(t, n, CreateAccount{Name: alice, Created: ts + 1})
	xml, ok, err := n.VCard(alice)
	wantDocument(t, "VCard after delete", xml, ok, err, "")
	xml, ok, err = n.Private(alice, "urn:a", "a")
	wantDocument(t, "Private after delete", xml, ok, err, "")
	// The byte count went too: the whole limit is free again.
	propose(t, n, SetPrivate{User: alice, Space: "urn:b", Local: "b", XML: []byte(`<b xmlns="urn:b"/>`), Limit: 30})
}

// A snapshot carries the account data and the private byte count, so a
// restored node refuses past the limit exactly as the original did.
func TestAccountDataSnapshot(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	const alice = "alice@localhost"
	propose(t, n, CreateAccount{Name: alice, Created: ts})
	v := `<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>`
	propose(t, n, SetVCard{User: alice, XML: []byte(v)})
	a := `<a xmlns="urn:a"/>` // counts 5+1+18 = 24 bytes
	propose(t, n, SetPrivate{User: alice, Space: "urn:a", Local: "a", XML: []byte(a), Limit: 40})
	var backup bytes.Buffer
	if err := n.Snapshot(&backup); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := RestoreDir(dir, &backup); err != nil {
		t.Fatal(err)
	}
	r := open(t, dir)
	xml, ok, err := r.VCard(alice)
	wantDocument(t, "restored VCard", xml, ok, err, v)
	xml, ok, err = r.Private(alice, "urn:a", "a")
	wantDocument(t, "restored Private", xml, ok, err, a)
	if err := proposeErr(t, r, SetPrivate{User: alice, Space: "urn:b", Local: "b", XML: []byte(`<b xmlns="urn:b"/>`), Limit: 40}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("past the limit after restore: %v, want ErrTooLarge", err)
	}
}

// Through a follower: the write is forwarded, the limit's refusal comes
// back as ErrTooLarge, and every node reads the same account data.
func TestAccountDataCluster(t *testing.T) {
	c := newCluster(t, 3)
	li, _ := c.leader()
	f := c.followers(li)[0]
	const alice = "alice@localhost"
	propose(t, f, CreateAccount{Name: alice, Created: ts})
	v := `<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>`
	propose(t, f, SetVCard{User: alice, XML: []byte(v)})
	res := propose(t, f, SetPrivate{User: alice, Space: "urn:a", Local: "a", XML: []byte(`<a xmlns="urn:a"/>`), Limit: 30})
	if err := proposeErr(t, f, SetPrivate{User: alice, Space: "urn:b", Local: "b", XML: []byte(`<b xmlns="urn:b"/>`), Limit: 30}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("past the limit through a follower: %v, want ErrTooLarge", err)
	}
	c.converge(res.Index)
	for _, i := range c.reachable() {
		xml, ok, err := c.nodes[i].VCard(alice)
		wantDocument(t, c.cfgs[i].NodeID+" VCard", xml, ok, err, v)
	}
	c.sameState()
}
