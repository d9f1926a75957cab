package consensus

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func blocklistOf(t *testing.T, n *Node, user string) []string {
	t.Helper()
	l, err := n.Blocklist(user)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBlockOp(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	propose(t, n, CreateAccount{Name: "alice@localhost", Secret: []byte("s"), Created: ts})
	propose(t, n, CreateAccount{Name: "alice2@localhost", Secret: []byte("s"), Created: ts})

	propose(t, n, BlockOp{User: "alice@localhost", JIDs: []string{"mallory@example.org", "spam.example", "mallory@example.org"}, Max: 3})
	propose(t, n, BlockOp{User: "alice2@localhost", JIDs: []string{"eve@example.org"}})
	if got := blocklistOf(t, n, "alice@localhost"); !slices.Equal(got, []string{"mallory@example.org", "spam.example"}) {
		t.Fatalf("blocklist %q", got)
	}
	if ok, err := n.Blocked("alice@localhost", "mallory@example.org/phone", "mallory@example.org"); err != nil || !ok {
		t.Fatalf("Blocked = %v, %v", ok, err)
	}
	if ok, _ := n.Blocked("alice@localhost", "eve@example.org"); ok {
		t.Fatal("alice blocks alice2's entry")
	}
	// Only whole entries match: "spam.example" blocks neither a longer
	// JID it prefixes nor a shorter one.
	for _, j := range []string{"spam.example/x", "spam.exampl", "mallory@example.org/phone"} {
		if ok, err := n.Blocked("alice@localhost", j); ok || err != nil {
			t.Errorf("Blocked(%s) = %v, %v", j, ok, err)
		}
	}
	if ok, _ := n.Blocked("alice2@localhost", "mallory@example.org", "x@y", "eve@example.org"); !ok {
		t.Fatal("the last form did not match")
	}

	// Past the cap: nothing of the command is kept; blocking a JID already
	// blocked takes no room.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := n.Propose(ctx, BlockOp{User: "alice@localhost", JIDs: []string{"a@x", "b@x"}, Max: 3})
	if !errors.Is(err, ErrBlocklistFull) {
		t.Fatalf("over the cap: %v", err)
	}
	propose(t, n, BlockOp{User: "alice@localhost", JIDs: []string{"spam.example", "a@x"}, Max: 3})
	if got := blocklistOf(t, n, "alice@localhost"); len(got) != 3 {
		t.Fatalf("blocklist %q", got)
	}
	if _, err := n.Propose(ctx, BlockOp{User: "nobody@localhost", JIDs: []string{"a@x"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no account: %v", err)
	}
	if _, err := n.Propose(ctx, BlockOp{User: "alice@localhost"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty block: %v", err)
	}

	// Unblock some, then all.
	propose(t, n, BlockOp{User: "alice@localhost", Unblock: true, JIDs: []string{"a@x", "never@x"}})
	if got := blocklistOf(t, n, "alice@localhost"); !slices.Equal(got, []string{"mallory@example.org", "spam.example"}) {
		t.Fatalf("after unblock: %q", got)
	}
	propose(t, n, BlockOp{User: "alice@localhost", Unblock: true})
	if got := blocklistOf(t, n, "alice@localhost"); len(got) != 0 {
		t.Fatalf("after unblock all: %q", got)
	}
	if got := blocklistOf(t, n, "alice2@localhost"); !slices.Equal(got, []string{"eve@example.org"}) {
		t.Fatalf("alice2's list after alice's unblock all: %q", got)
	}

	// The list goes with the account.
	propose(t, n, DeleteAccount{Name: "alice2@localhost"})
	propose(t, n, CreateAccount{Name: "alice2@localhost", Secret: []byte("s"), Created: ts})
	if got := blocklistOf(t, n, "alice2@localhost"); len(got) != 0 {
		t.Fatalf("a new account inherits %q", got)
	}
}

// BenchmarkBlocked is the enforcement read of one hook call: the four
// match forms of a full JID, none blocked, for an account that blocks
// nobody and for one that blocks a few JIDs.
func BenchmarkBlocked(b *testing.B) {
	n := open(b, b.TempDir(), memState)
	propose(b, n, CreateAccount{Name: "alice@localhost", Secret: []byte("s"), Created: ts})
	propose(b, n, CreateAccount{Name: "bob@localhost", Secret: []byte("s"), Created: ts})
	propose(b, n, BlockOp{User: "alice@localhost", JIDs: []string{"mallory@example.org", "spam.example", "eve@example.org"}})
	for _, user := range []string{"bob@localhost", "alice@localhost"} {
		b.Run(user, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := n.Blocked(user, "bob@example.org/phone", "bob@example.org", "example.org/phone", "example.org"); ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
