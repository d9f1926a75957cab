package consensus

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/commands golden files and the FuzzDecodeCommand seeds")

// samples holds one fixed command per catalogue entry, in catalogue order.
// Its encodings are frozen in testdata/commands; never change a sample whose
// golden file has been released, add new ones.
var samples = []Command{
	CreateAccount{Name: "alice@localhost", Secret: []byte("v=1,s=QSXCR+Q6sek8bf92,i=4096\x00\xff"), Created: ts},
	SetSecret{Name: "alice@localhost", Secret: []byte("v=1,s=c2FsdA==,i=8192")},
	DeleteAccount{Name: "alice@localhost"},
	StoreOffline{
		User:   "alice@localhost",
		From:   "bob@example.org/phone",
		Stanza: []byte(`<message from="bob@example.org/phone" to="alice@localhost" type="chat"><body>hi</body></message>`),
		At:     ts + 1,
		Limit:  1000,
	},
	DeleteOffline{User: "alice@localhost", UpTo: 300},
	RosterOp{
		Op: 4, User: "alice@localhost", Contact: "bob@example.org", Name: "Bob",
		Groups: []string{"Friends", "Work"}, Sub: 1,
		Stanza:   []byte(`<presence from="bob@example.org" to="alice@localhost" type="subscribe"><nick xmlns="http://jabber.org/protocol/nick">Bob</nick></presence>`),
		At:       ts + 2,
		MaxItems: 1000, MaxPending: 100,
	},
	NodeIdentity{Node: "n2", Identity: "T4XQKZ7B2VJ5M3NPLW6YDRHC4A"},
	Keyed{Origin: "n1", Seq: 1_700_000_000_000_000_001, Cmd: DeleteOffline{User: "alice@localhost", UpTo: 300}},
	BlockOp{User: "alice@localhost", JIDs: []string{"mallory@example.org", "spam.example/bot"}, Max: 1000},
	SetPrivate{
		User: "alice@localhost", Space: "storage:bookmarks", Local: "storage",
		XML:   []byte(`<storage xmlns="storage:bookmarks"><conference jid="council@chat.example.org" autojoin="true"/></storage>`),
		Limit: 65536,
	},
	SetVCard{
		User:  "alice@localhost",
		XML:   []byte(`<vCard xmlns="vcard-temp"><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>`),
		Limit: 131072,
	},
}

func goldenPath(c Command) string {
	return filepath.Join("testdata", "commands", fmt.Sprintf("%d-%s.golden", c.Type(), c.Type()))
}

func TestGoldenEncodings(t *testing.T) {
	var prev CommandType
	for i, c := range samples {
		if got := c.Type(); got <= prev || reservedTypes[got] {
			t.Fatalf("samples[%d] is %s (%d), after %d: samples follow the catalogue", i, got, got, prev)
		}
		prev = c.Type()
		t.Run(c.Type().String(), func(t *testing.T) {
			path := goldenPath(c)
			enc := Encode(c)
			if *update {
				writeFile(t, path, []byte(hex.EncodeToString(enc)+"\n"))
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenEncodings -update once for a new command)", err)
			}
			golden, err := hex.DecodeString(strings.TrimSpace(string(raw)))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !bytes.Equal(enc, golden) {
				t.Errorf("encoding changed; released encodings are frozen\n got %x\nwant %x", enc, golden)
			}
			back, err := Decode(golden)
			if err != nil {
				t.Fatalf("Decode(golden): %v", err)
			}
			if !reflect.DeepEqual(back, c) {
				t.Errorf("Decode(golden) = %#v, want %#v", back, c)
			}
		})
	}
	// Every golden file belongs to a sample: a file without one is a command
	// whose sample was dropped, which would unfreeze its encoding.
	files, _ := filepath.Glob(filepath.Join("testdata", "commands", "*.golden"))
	if len(files) != len(samples) {
		t.Errorf("%d golden files for %d samples", len(files), len(samples))
	}
}

// fuzzGarbage are hand-made malformed inputs for the fuzz corpus.
var fuzzGarbage = map[string][]byte{
	"empty":           {},
	"version-only":    {1},
	"bad-version":     {2, 0, 1, 0},
	"unknown-type":    {1, 0xff, 0xff},
	"type-zero":       {1, 0, 0},
	"huge-length":     {1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	"varint-overflow": {1, 0, 5, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	"non-minimal":     {1, 0, 3, 0x81, 0x00, 'a'},
	"trailing":        append(Encode(DeleteAccount{Name: "a@b"}), 0),
	"truncated":       Encode(samples[3])[:20],
}

func TestDecodeRejects(t *testing.T) {
	for name, b := range fuzzGarbage {
		if c, err := Decode(b); err == nil || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode(%x) = %#v, %v; want ErrCorrupt", name, b, c, err)
		}
	}
	// Every strict prefix of a valid encoding is rejected.
	for _, c := range samples {
		enc := Encode(c)
		for i := range enc {
			if _, err := Decode(enc[:i]); err == nil {
				t.Errorf("%s: prefix of %d bytes decoded", c.Type(), i)
			}
		}
	}
}

func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeCommand")
	seeds := map[string][]byte{}
	for _, c := range samples {
		seeds[fmt.Sprintf("%d-%s", c.Type(), c.Type())] = Encode(c)
	}
	for name, b := range fuzzGarbage {
		seeds[name] = b
	}
	for name, b := range seeds {
		path := filepath.Join(dir, name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if *update {
			writeFile(t, path, []byte(want))
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("fuzz seed %s missing or stale (run go test -run TestFuzzSeeds -update): %v", path, err)
		}
	}
}

// FuzzDecodeCommand checks that Decode never panics, that it rejects with
// ErrCorrupt, and that what it accepts re-encodes to the same bytes (one
// encoding per command).
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range samples {
		f.Add(Encode(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if enc := Encode(c); !bytes.Equal(enc, b) {
			t.Fatalf("Decode(%x) = %#v re-encodes to %x", b, c, enc)
		}
		_ = c.validate() // must not panic either
	})
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"alice@localhost", "a@b", "δ@例え.jp"} {
		if err := validName(name); err != nil {
			t.Errorf("validName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "localhost", "@localhost", "alice@", "a@b@c", "a\x00b@c", "a@\xff", strings.Repeat("a", 2048) + "@b"} {
		if err := validName(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("validName(%q) = %v, want ErrInvalid", name, err)
		}
	}
}

func TestKeys(t *testing.T) {
	// Disjoint spans for names that are prefixes of each other.
	a, a2 := userPrefix("alice@x"), userPrefix("alice2@x")
	if bytes.HasPrefix(a2, a) || bytes.Compare(prefixEnd(a), a2) > 0 {
		t.Errorf("span of alice@x overlaps alice2@x: %q %q", a, a2)
	}
	// Offline keys sort by seq across byte boundaries.
	if bytes.Compare(offlineKey("a@b", 255), offlineKey("a@b", 256)) >= 0 {
		t.Error("offline keys out of seq order")
	}
	// Every key lies inside the wiped span and inside its user prefix.
	for _, k := range [][]byte{schemaKey, appliedKey, restoringKey, accountKey("a@b"), counterKey("a@b"), offlineKey("a@b", 1)} {
		if bytes.Compare(k, keyspaceStart) < 0 || bytes.Compare(k, keyspaceEnd) >= 0 {
			t.Errorf("key %q outside the keyspace", k)
		}
	}
	name, kind, rest, ok := parseUserKey(offlineKey("bob@example.org", 7))
	if !ok || name != "bob@example.org" || kind != kindOffline || len(rest) != 8 {
		t.Errorf("parseUserKey = %q %c %x %v", name, kind, rest, ok)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// testTypeBase is where the command types registered by tests start, far
// past any released number.
const testTypeBase CommandType = 60000

// reservedTypes are numbers the list may skip while a command that holds
// them is merged separately; a number leaves this set when its command
// arrives. Empty: the list has no gaps.
var reservedTypes = map[CommandType]bool{}

// TestCatalogue holds the catalogue to its rules: released types are the
// numbered list 1..n without gaps (but reservedTypes), each with a sample (and so a golden
// file), and every row round-trips through its own name.
func TestCatalogue(t *testing.T) {
	var released []CommandType
	for _, typ := range Types() {
		if typ < testTypeBase {
			released = append(released, typ)
		}
	}
	if len(released) != len(samples) {
		t.Fatalf("%d released command types, %d samples: every type needs a sample and a golden file", len(released), len(samples))
	}
	next := CommandType(1)
	for i, typ := range released {
		for reservedTypes[next] {
			next++
		}
		if typ != next {
			t.Errorf("command type %d at position %d: the list is numbered without gaps, want %d", typ, i+1, next)
		}
		next = typ + 1
		if samples[i].Type() != typ {
			t.Errorf("samples[%d] is %s, want %s", i, samples[i].Type(), typ)
		}
		if strings.HasPrefix(typ.String(), "command-") {
			t.Errorf("type %d has no name", typ)
		}
	}
	if got := CommandType(1234).String(); got != "command-1234" {
		t.Errorf("unknown type String = %q", got)
	}
	if _, err := Decode([]byte{1, 0x04, 0xd2}); !errors.Is(err, ErrUnknownCommand) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("Decode of an unknown type: %v, want ErrUnknownCommand and ErrCorrupt", err)
	}
	for _, bad := range [][]row{
		{{typ: TypeCreateAccount, name: "again", decode: catalogue[TypeCreateAccount].decode}},
		{{typ: testTypeBase - 1, name: "create-account", decode: catalogue[TypeCreateAccount].decode}},
		{{typ: testTypeBase - 1, name: "no-decoder"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("register(%d %q) did not panic", bad[0].typ, bad[0].name)
				}
			}()
			register(bad...)
		}()
	}
	if p := deref(&DeleteAccount{Name: "a@b"}); p != (DeleteAccount{Name: "a@b"}) {
		t.Errorf("deref(pointer) = %#v", p)
	}
	if p := deref((*DeleteAccount)(nil)); p != nil {
		t.Errorf("deref(nil pointer) = %#v", p)
	}
}
