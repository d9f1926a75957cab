package consensus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

func TestAccounts(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	ctx := context.Background()

	res := propose(t, n, CreateAccount{Name: "alice@localhost", Secret: []byte("s1"), Created: ts})
	if res.Index == 0 {
		t.Error("Result.Index = 0")
	}
	a, err := n.Account("alice@localhost")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Account{Name: "alice@localhost", Secret: []byte("s1"), Created: ts}); !reflect.DeepEqual(a, want) {
		t.Errorf("Account = %+v, want %+v", a, want)
	}

	if _, err := n.Propose(ctx, CreateAccount{Name: "alice@localhost", Secret: []byte("x"), Created: ts}); !errors.Is(err, ErrExists) {
		t.Errorf("second CreateAccount: %v, want ErrExists", err)
	}
	propose(t, n, &SetSecret{Name: "alice@localhost", Secret: []byte("s2")}) // pointers work too
	if a, _ := n.Account("alice@localhost"); string(a.Secret) != "s2" || a.Created != ts {
		t.Errorf("after SetSecret: %+v", a)
	}
	if _, err := n.Propose(ctx, SetSecret{Name: "nobody@localhost", Secret: []byte("x")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetSecret of a missing account: %v, want ErrNotFound", err)
	}

	for _, name := range []string{"bob@localhost", "carol@example.org", "al@localhost", "alice@example.org", "zed@a.localhost"} {
		propose(t, n, CreateAccount{Name: name, Secret: []byte("s"), Created: ts})
	}
	for domain, want := range map[string][]string{
		"localhost":   {"al@localhost", "alice@localhost", "bob@localhost"},
		"example.org": {"alice@example.org", "carol@example.org"},
		"example":     nil,
		"": {"al@localhost", "alice@example.org", "alice@localhost", "bob@localhost",
			"carol@example.org", "zed@a.localhost"},
	} {
		got, err := n.Accounts(domain)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Accounts(%q) = %q, %v; want %q", domain, got, err, want)
		}
	}

	if _, err := n.Accounts("a@localhost"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Accounts of a JID = %v, want ErrInvalid", err)
	}

	propose(t, n, DeleteAccount{Name: "alice@localhost"})
	if _, err := n.Account("alice@localhost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Account after delete: %v, want ErrNotFound", err)
	}
	if _, err := n.Propose(ctx, DeleteAccount{Name: "alice@localhost"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteAccount: %v, want ErrNotFound", err)
	}
	if got, _ := n.Accounts("localhost"); !slices.Equal(got, []string{"al@localhost", "bob@localhost"}) {
		t.Errorf("Accounts after delete = %q", got)
	}
	// The name is free again.
	propose(t, n, CreateAccount{Name: "alice@localhost", Secret: []byte("s3"), Created: ts + 1})
}

func TestInvalidCommands(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	ctx := context.Background()
	before := n.AppliedIndex()
	for _, c := range []Command{
		nil,
		(*CreateAccount)(nil),
		CreateAccount{Name: "no-domain"},
		StoreOffline{User: "a@b", From: "c@d"}, // empty stanza
		DeleteOffline{User: "a\x00@b"},
	} {
		if _, err := n.Propose(ctx, c); !errors.Is(err, ErrInvalid) {
			t.Errorf("Propose(%#v) = %v, want ErrInvalid", c, err)
		}
	}
	if n.AppliedIndex() != before {
		t.Error("an invalid command reached the log")
	}
	if _, err := n.Account("nope"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Account(invalid) = %v", err)
	}
}

// A corrupt entry that made it into the log (a bug) is answered with an
// error; the node keeps going. (A newer binary's command type is not
// corrupt: the node halts at it, TestUnknownCommandHalts.)
func TestCorruptEntry(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	for _, data := range [][]byte{{0xde, 0xad}, {1, 0, 1, 0xff}, Encode(CreateAccount{Name: "bad"})} {
		f := n.raft.Apply(data, 0)
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		resp, ok := f.Response().(response)
		if !ok || resp.err == nil || !(errors.Is(resp.err, ErrCorrupt) || errors.Is(resp.err, ErrInvalid)) {
			t.Errorf("response to %x = %#v", data, f.Response())
		}
	}
	res := propose(t, n, CreateAccount{Name: "ok@localhost", Created: ts})
	if n.AppliedIndex() != res.Index {
		t.Errorf("applied index %d, last command at %d", n.AppliedIndex(), res.Index)
	}
}

func TestOffline(t *testing.T) {
	n := open(t, t.TempDir(), memState, func(c *Config) { c.OfflineLimit = 5 })
	ctx := context.Background()
	const user = "alice@localhost"

	if _, err := n.Propose(ctx, StoreOffline{User: user, From: "b@x", Stanza: []byte("<m/>"), At: ts}); !errors.Is(err, ErrNotFound) {
		t.Errorf("StoreOffline without account: %v, want ErrNotFound", err)
	}
	if _, err := n.Offline(user); !errors.Is(err, ErrNotFound) {
		t.Errorf("Offline without account: %v, want ErrNotFound", err)
	}
	propose(t, n, CreateAccount{Name: user, Created: ts})
	propose(t, n, CreateAccount{Name: "alice2@localhost", Created: ts})
	if msgs, err := n.Offline(user); err != nil || len(msgs) != 0 {
		t.Errorf("Offline of a new account = %v, %v", msgs, err)
	}

	for i := 1; i <= 5; i++ {
		res := propose(t, n, StoreOffline{User: user, From: "bob@x/r", Stanza: fmt.Appendf(nil, "<m n='%d'/>", i), At: ts + int64(i)})
		if res.Seq != uint64(i) {
			t.Errorf("message %d got Seq %d", i, res.Seq)
		}
	}
	propose(t, n, StoreOffline{User: "alice2@localhost", From: "bob@x", Stanza: []byte("<other/>"), At: ts})
	if _, err := n.Propose(ctx, StoreOffline{User: user, From: "b@x", Stanza: []byte("<m/>"), At: ts}); !errors.Is(err, ErrOfflineFull) {
		t.Errorf("sixth message: %v, want ErrOfflineFull", err)
	}

	msgs, err := n.Offline(user)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(msgs), []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("seqs = %v", seqs(msgs))
	}
	if m := msgs[2]; m.From != "bob@x/r" || string(m.Stanza) != "<m n='3'/>" || m.At != ts+3 {
		t.Errorf("message 3 = %+v", m)
	}

	res := propose(t, n, DeleteOffline{User: user, UpTo: 3})
	if res.Removed != 3 {
		t.Errorf("DeleteOffline removed %d, want 3", res.Removed)
	}
	if res := propose(t, n, DeleteOffline{User: user, UpTo: 2}); res.Removed != 0 {
		t.Errorf("repeated DeleteOffline removed %d", res.Removed)
	}
	// Room again, and seqs go on from where they were.
	if res := propose(t, n, StoreOffline{User: user, From: "b@x", Stanza: []byte("<m/>"), At: ts}); res.Seq != 6 {
		t.Errorf("Seq after delete = %d, want 6", res.Seq)
	}
	if msgs, _ := n.Offline(user); !slices.Equal(seqs(msgs), []uint64{4, 5, 6}) {
		t.Errorf("seqs = %v", seqs(msgs))
	}
	if res := propose(t, n, DeleteOffline{User: user, UpTo: 1 << 62}); res.Removed != 3 {
		t.Errorf("DeleteOffline past the end removed %d, want 3", res.Removed)
	}
	if msgs, _ := n.Offline(user); len(msgs) != 0 {
		t.Errorf("seqs = %v", seqs(msgs))
	}

	// Deleting the account removes its messages, and only its messages.
	propose(t, n, StoreOffline{User: user, From: "b@x", Stanza: []byte("<m/>"), At: ts})
	propose(t, n, DeleteAccount{Name: user})
	propose(t, n, CreateAccount{Name: user, Created: ts})
	if msgs, err := n.Offline(user); err != nil || len(msgs) != 0 {
		t.Errorf("Offline after delete and re-create = %v, %v", msgs, err)
	}
	if msgs, _ := n.Offline("alice2@localhost"); len(msgs) != 1 || string(msgs[0].Stanza) != "<other/>" {
		t.Errorf("alice2's messages = %+v", msgs)
	}
	if _, err := n.Propose(ctx, DeleteOffline{User: "nobody@localhost", UpTo: 1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteOffline without account: %v", err)
	}
}

// The limit travels in the command: an explicit Limit wins over the node's.
func TestOfflineLimitInCommand(t *testing.T) {
	n := open(t, t.TempDir(), memState, func(c *Config) { c.OfflineLimit = 100 })
	propose(t, n, CreateAccount{Name: "a@b", Created: ts})
	propose(t, n, StoreOffline{User: "a@b", From: "c@d", Stanza: []byte("<m/>"), Limit: 1})
	if _, err := n.Propose(context.Background(), StoreOffline{User: "a@b", From: "c@d", Stanza: []byte("<m/>"), Limit: 1}); !errors.Is(err, ErrOfflineFull) {
		t.Errorf("err = %v, want ErrOfflineFull", err)
	}
}

// Many goroutines proposing at once: raft batches them (BatchApplyCh), the
// FSM applies each batch as one Pebble batch, and no update is lost.
func TestConcurrentProposals(t *testing.T) {
	n := open(t, t.TempDir(), memState, func(c *Config) { c.OfflineLimit = 10000 })
	const workers, each, user = 64, 20, "hot@localhost"
	propose(t, n, CreateAccount{Name: user, Created: ts})

	var mu sync.Mutex
	got := map[uint64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Half the workers also create accounts, mixing command types
				// inside the batches.
				if w%2 == 0 {
					name := fmt.Sprintf("u%d-%d@localhost", w, i)
					if _, err := n.Propose(context.Background(), CreateAccount{Name: name, Created: ts}); err != nil {
						errs <- err
						return
					}
				}
				res, err := n.Propose(context.Background(), StoreOffline{User: user, From: fmt.Sprintf("w%d@x", w), Stanza: []byte("<m/>"), At: ts})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[res.Seq]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= workers*each; seq++ {
		if got[seq] != 1 {
			t.Fatalf("seq %d handed out %d times", seq, got[seq])
		}
	}
	msgs, err := n.Offline(user)
	if err != nil || len(msgs) != workers*each {
		t.Fatalf("Offline: %d messages, %v", len(msgs), err)
	}
	names, _ := n.Accounts("localhost")
	if len(names) != 1+workers/2*each {
		t.Errorf("%d accounts", len(names))
	}
	res := propose(t, n, DeleteOffline{User: user, UpTo: workers * each})
	if res.Removed != workers*each || n.AppliedIndex() != res.Index {
		t.Errorf("removed %d; applied index %d, last command at %d", res.Removed, n.AppliedIndex(), res.Index)
	}
}

func TestProposeContext(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Propose(ctx, CreateAccount{Name: "a@b"}); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Errorf("Propose with a done context = %v", err)
	}
}

func TestClose(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := n.Propose(context.Background(), CreateAccount{Name: "a@b"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Propose after Close = %v", err)
	}
	if _, err := n.Account("a@b"); !errors.Is(err, ErrClosed) {
		t.Errorf("Account after Close = %v", err)
	}
}

func TestStats(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	propose(t, n, CreateAccount{Name: "a@b", Created: ts})
	s := n.Stats()
	if s["state"] != raft.Leader.String() || s["fsm_applied_index"] != fmt.Sprint(n.AppliedIndex()) {
		t.Errorf("Stats = %v", s)
	}
}

func TestNotLeaderError(t *testing.T) {
	err := raftError(raft.ErrNotLeader)
	if !errors.Is(err, ErrNotLeader) || !errors.Is(err, raft.ErrNotLeader) {
		t.Errorf("raftError(ErrNotLeader) = %v", err)
	}
}
