package consensus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// reopen closes n and opens its directory again.
func reopen(t *testing.T, n *Node, opts ...func(*Config)) *Node {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	return open(t, n.cfg.Dir, opts...)
}

func TestRestart(t *testing.T) {
	n := open(t, t.TempDir())
	propose(t, n, CreateAccount{Name: "alice@localhost", Secret: []byte("s"), Created: ts})
	for i := range 3 {
		propose(t, n, StoreOffline{User: "alice@localhost", From: "bob@x", Stanza: []byte("<m/>"), At: ts + int64(i)})
	}
	applied := n.AppliedIndex()

	n = reopen(t, n)
	if n.AppliedIndex() < applied {
		t.Errorf("applied index went back from %d to %d", applied, n.AppliedIndex())
	}
	if _, err := n.Account("alice@localhost"); err != nil {
		t.Error(err)
	}
	msgs, err := n.Offline("alice@localhost")
	if err != nil || !slices.Equal(seqs(msgs), []uint64{1, 2, 3}) {
		t.Fatalf("after restart: seqs %v, %v", seqs(msgs), err)
	}
	if res := propose(t, n, StoreOffline{User: "alice@localhost", From: "bob@x", Stanza: []byte("<m/>"), At: ts}); res.Seq != 4 {
		t.Errorf("Seq after restart = %d, want 4", res.Seq)
	}
}

// Raft replays its whole log after a restart (no snapshot yet). Rolling
// Pebble's applied index back forces the FSM to see entries again; skipping
// them must keep the state as it was, and applying them anew must not
// duplicate anything.
func TestReplayIdempotent(t *testing.T) {
	n := open(t, t.TempDir())
	propose(t, n, CreateAccount{Name: "alice@localhost", Created: ts})
	for range 3 {
		propose(t, n, StoreOffline{User: "alice@localhost", From: "bob@x", Stanza: []byte("<m/>"), At: ts})
	}
	applied := n.AppliedIndex()

	// Replayed entries at or below the applied index are skipped.
	out := n.fsm.ApplyBatch([]*raft.Log{{Index: applied, Type: raft.LogCommand,
		Data: Encode(StoreOffline{User: "alice@localhost", From: "x@y", Stanza: []byte("<dup/>")})}})
	if r, _ := out[0].(response); r.err == nil {
		t.Errorf("replayed entry applied: %+v", r)
	}
	for range 3 {
		n = reopen(t, n)
	}
	if msgs, _ := n.Offline("alice@localhost"); !slices.Equal(seqs(msgs), []uint64{1, 2, 3}) {
		t.Fatalf("after replays: seqs %v", seqs(msgs))
	}
	if n.AppliedIndex() < applied {
		t.Errorf("applied %d < %d", n.AppliedIndex(), applied)
	}
}

// A Pebble that lost its unsynced tail (the WAL is written NoSync) catches up
// from the Raft log: wind the applied index back by hand and drop the last
// message, as a crash would, and reopen.
func TestReplayRebuildsLostTail(t *testing.T) {
	n := open(t, t.TempDir())
	propose(t, n, CreateAccount{Name: "alice@localhost", Created: ts})
	first := n.AppliedIndex()
	for range 3 {
		propose(t, n, StoreOffline{User: "alice@localhost", From: "bob@x", Stanza: []byte("<m/>"), At: ts})
	}
	dir := n.cfg.Dir
	n.Close()

	db, _, err := openState(filepath.Join(dir, "state"), nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.DeleteRange(offlineKey("alice@localhost", 1), offlineKey("alice@localhost", 100), nil)
	b.Delete(counterKey("alice@localhost"), nil)
	b.DeleteRange([]byte{tagKey}, []byte{tagKey + 1}, nil) // the keyed outcomes of the lost tail
	b.Set(appliedKey, be64(first), nil)
	if err := errors.Join(b.Commit(pebble.Sync), db.Close()); err != nil {
		t.Fatal(err)
	}

	n = open(t, dir)
	if msgs, _ := n.Offline("alice@localhost"); !slices.Equal(seqs(msgs), []uint64{1, 2, 3}) {
		t.Fatalf("after replay: seqs %v", seqs(msgs))
	}
}

func TestSchemaMismatch(t *testing.T) {
	dir := t.TempDir()
	n := open(t, dir)
	n.Close()
	db, err := pebble.Open(filepath.Join(dir, "state"), &pebble.Options{Logger: pebbleLogger{testLog(t)}})
	if err != nil {
		t.Fatal(err)
	}
	db.Set(schemaKey, be32(schemaVersion+1), pebble.Sync)
	db.Close()
	_, err = Open(Config{Dir: dir})
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("Open = %v, want ErrSchema", err)
	}
	t.Log(err)
}

// snapshotCompacting opens n with a tiny log tail, so a snapshot really
// truncates the bolt log.
func snapshotCompacting(c *Config) {
	c.tune = func(rc *raft.Config) { rc.TrailingLogs = 2 }
}

func TestSnapshotThenRestart(t *testing.T) {
	n := open(t, t.TempDir(), snapshotCompacting)
	const user = "alice@localhost"
	propose(t, n, CreateAccount{Name: user, Created: ts})
	for range 10 {
		propose(t, n, StoreOffline{User: user, From: "bob@x", Stanza: []byte("<m/>"), At: ts})
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if first, _ := n.bolt.FirstIndex(); first <= 1 {
		t.Fatalf("log not compacted: first index %d", first)
	}
	propose(t, n, DeleteOffline{User: user, UpTo: 4})
	for range 5 {
		propose(t, n, StoreOffline{User: user, From: "bob@x", Stanza: []byte("<m/>"), At: ts})
	}

	n = reopen(t, n, snapshotCompacting)
	want := []uint64{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if msgs, _ := n.Offline(user); !slices.Equal(seqs(msgs), want) {
		t.Fatalf("after snapshot and restart: seqs %v, want %v", seqs(msgs), want)
	}
	if res := propose(t, n, StoreOffline{User: user, From: "bob@x", Stanza: []byte("<m/>"), At: ts}); res.Seq != 16 {
		t.Errorf("Seq = %d, want 16", res.Seq)
	}
}

// If the state directory is lost but the Raft directory survives, Open
// rebuilds Pebble from the latest Raft snapshot plus the log after it.
func TestStateRebuiltFromRaftSnapshot(t *testing.T) {
	n := open(t, t.TempDir(), snapshotCompacting)
	propose(t, n, CreateAccount{Name: "a@b", Created: ts})
	propose(t, n, StoreOffline{User: "a@b", From: "c@d", Stanza: []byte("<1/>"), At: ts})
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	propose(t, n, StoreOffline{User: "a@b", From: "c@d", Stanza: []byte("<2/>"), At: ts})
	dir := n.cfg.Dir
	n.Close()
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	n = open(t, dir)
	if msgs, _ := n.Offline("a@b"); !slices.Equal(seqs(msgs), []uint64{1, 2}) {
		t.Fatalf("rebuilt state: seqs %v", seqs(msgs))
	}
}

// A restore that died half way leaves its marker; Open redoes it from the
// latest Raft snapshot.
func TestInterruptedRestoreRedone(t *testing.T) {
	n := open(t, t.TempDir())
	propose(t, n, CreateAccount{Name: "a@b", Created: ts})
	propose(t, n, StoreOffline{User: "a@b", From: "c@d", Stanza: []byte("<1/>"), At: ts})
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	dir := n.cfg.Dir
	n.Close()

	db, _, err := openState(filepath.Join(dir, "state"), nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.DeleteRange(usersStart, usersEnd, nil)
	b.Set(restoringKey, nil, nil)
	if err := errors.Join(b.Commit(pebble.Sync), db.Close()); err != nil {
		t.Fatal(err)
	}
	n = open(t, dir)
	if msgs, err := n.Offline("a@b"); err != nil || len(msgs) != 1 {
		t.Fatalf("after redone restore: %v, %v", msgs, err)
	}
}

func TestBackupAndRestoreDir(t *testing.T) {
	n := open(t, t.TempDir(), memState)
	propose(t, n, CreateAccount{Name: "alice@localhost", Secret: []byte("s"), Created: ts})
	propose(t, n, CreateAccount{Name: "bob@example.org", Secret: []byte("t"), Created: ts})
	for range 3 {
		propose(t, n, StoreOffline{User: "alice@localhost", From: "bob@example.org", Stanza: []byte("<m/>"), At: ts})
	}
	var backup bytes.Buffer
	if err := n.Snapshot(&backup); err != nil {
		t.Fatal(err)
	}
	// Writes after the backup are not in it.
	propose(t, n, CreateAccount{Name: "late@localhost", Created: ts})

	// Damaged streams are refused.
	data := backup.Bytes()
	for name, bad := range map[string][]byte{
		"truncated": data[:len(data)-5],
		"flipped":   flip(data, len(data)/2),
		"garbage":   []byte("not a snapshot"),
	} {
		if err := RestoreDir(t.TempDir(), bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: RestoreDir = %v, want ErrCorrupt", name, err)
		}
	}

	dir := t.TempDir()
	if err := RestoreDir(dir, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := RestoreDir(dir, bytes.NewReader(data)); err == nil {
		t.Error("RestoreDir over a restored dir succeeded")
	}
	r := open(t, dir)
	if got, _ := r.Accounts(""); !slices.Equal(got, []string{"alice@localhost", "bob@example.org"}) {
		t.Errorf("restored accounts = %q", got)
	}
	if msgs, _ := r.Offline("alice@localhost"); !slices.Equal(seqs(msgs), []uint64{1, 2, 3}) {
		t.Errorf("restored seqs = %v", seqs(msgs))
	}
	if res := propose(t, r, StoreOffline{User: "alice@localhost", From: "x@y", Stanza: []byte("<m/>"), At: ts}); res.Seq != 4 {
		t.Errorf("Seq after restore = %d, want 4", res.Seq)
	}
	// The restored node survives a restart with the new history.
	r = reopen(t, r)
	if msgs, _ := r.Offline("alice@localhost"); len(msgs) != 4 {
		t.Errorf("after restart: %d messages", len(msgs))
	}

	// A live node opened on a used dir refuses RestoreDir.
	if err := RestoreDir(n.cfg.Dir, bytes.NewReader(data)); err == nil {
		t.Error("RestoreDir into a live node's dir succeeded")
	}
}

// The FSM's Restore, as Raft calls it for a follower or a user restore,
// replaces the whole state and keeps applying afterwards.
func TestRaftRestore(t *testing.T) {
	src := open(t, t.TempDir(), memState)
	propose(t, src, CreateAccount{Name: "a@b", Created: ts})
	propose(t, src, StoreOffline{User: "a@b", From: "c@d", Stanza: []byte("<m/>"), At: ts})
	var snap bytes.Buffer
	if err := src.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}

	dst := open(t, t.TempDir(), memState)
	propose(t, dst, CreateAccount{Name: "gone@b", Created: ts})
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: 1000, Term: 1, Size: int64(snap.Len())}
	if err := dst.raft.Restore(meta, &snap, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.Accounts(""); !slices.Equal(got, []string{"a@b"}) {
		t.Errorf("accounts after restore = %q", got)
	}
	if res := propose(t, dst, StoreOffline{User: "a@b", From: "c@d", Stanza: []byte("<m/>"), At: ts}); res.Seq != 2 {
		t.Errorf("Seq after restore = %d, want 2", res.Seq)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}

// crashDirEnv names the data dir of the child process of TestCrashDurability.
const crashDirEnv = "HERALD_CONSENSUS_CRASH_DIR"

const crashUser = "crash@localhost"

// TestCrashChild is the child process of TestCrashDurability: it proposes
// offline messages from several goroutines, prints "ack <seq>" after each
// acknowledged one, and snapshots (compacting the log) now and then, until it
// is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrashDurability")
	}
	time.AfterFunc(time.Minute, func() { os.Exit(3) }) // never outlive a lost parent
	n, err := Open(Config{
		Dir:          dir,
		OfflineLimit: 1 << 30,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		tune:         func(rc *raft.Config) { rc.TrailingLogs = 8 },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	if _, err := n.Propose(ctx, CreateAccount{Name: crashUser, Created: ts}); err != nil && !errors.Is(err, ErrExists) {
		fmt.Fprintln(os.Stderr, "create:", err)
		os.Exit(2)
	}
	for w := range 8 { // TestCrashDurability's workers
		go func() {
			for i := 0; ; i++ {
				res, err := n.Propose(ctx, StoreOffline{User: crashUser, From: fmt.Sprintf("w%d@x", w), Stanza: fmt.Appendf(nil, "<m pid='%d' w='%d' i='%d'/>", os.Getpid(), w, i), At: ts})
				if err != nil {
					fmt.Fprintln(os.Stderr, "propose:", err)
					os.Exit(2)
				}
				// One write(2) per line: lines from the workers never interleave.
				fmt.Fprintf(os.Stdout, "ack %d\n", res.Seq)
			}
		}()
	}
	for {
		time.Sleep(20 * time.Millisecond)
		_ = n.raft.Snapshot().Error()
	}
}

// TestCrashDurability SIGKILLs a process in the middle of a stream of
// proposals and checks that every command it acknowledged is present after
// reopening: the bolt log is fsync'd per commit, Pebble's writes (NoSync) are
// rebuilt from it, and snapshots never compact away what Pebble had not synced.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	const workers = 8 // TestCrashChild's
	total := 0
	// Each round crashes the child on the state the previous crash left.
	for round := range 3 {
		acked := crashChild(t, dir, 300)
		total += len(acked)
		n := open(t, dir)
		msgs, err := n.Offline(crashUser)
		if err != nil {
			t.Fatal(err)
		}
		have := map[uint64]bool{}
		stanzas := map[string]bool{}
		for i, m := range msgs {
			if have[m.Seq] || (i > 0 && m.Seq <= msgs[i-1].Seq) {
				t.Fatalf("round %d: seq %d duplicated or out of order", round, m.Seq)
			}
			// A replayed command applied twice would show up as the same
			// stanza under two seqs.
			if stanzas[string(m.Stanza)] {
				t.Fatalf("round %d: %s stored twice", round, m.Stanza)
			}
			have[m.Seq], stanzas[string(m.Stanza)] = true, true
		}
		for _, seq := range acked {
			if !have[seq] {
				t.Fatalf("round %d: acknowledged seq %d lost (%d acked, %d present)", round, seq, len(acked), len(msgs))
			}
		}
		// Beyond the acknowledged, each worker may have one command committed
		// but not yet printed when the kill landed.
		if len(msgs) > total+workers*(round+1) {
			t.Fatalf("round %d: %d messages present, only %d acknowledged", round, len(msgs), total)
		}
		t.Logf("round %d: %d acknowledged, %d present, applied index %d", round, len(acked), len(msgs), n.AppliedIndex())
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashChild runs TestCrashChild on dir, kills it with SIGKILL after killAt
// acknowledgements, and returns every seq it acknowledged.
func crashChild(t *testing.T, dir string, killAt int) []uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill := func() { once.Do(func() { cmd.Process.Signal(syscall.SIGKILL) }) }
	defer kill()
	timer := time.AfterFunc(30*time.Second, kill)
	defer timer.Stop()

	var acked []uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		seq, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		acked = append(acked, v)
		if len(acked) == killAt {
			kill() // keep reading: lines written before the kill were acknowledged
		}
	}
	io.Copy(io.Discard, out)
	err = cmd.Wait()
	if len(acked) < killAt {
		t.Fatalf("child stopped after %d acks: %v\n%s", len(acked), err, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed: %v\n%s", err, stderr.String())
	}
	return acked
}
