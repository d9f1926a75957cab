package consensus

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/heraldxmpp/herald/consensus/mux"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// sampleEffect is a fixed roster effect; its encoding is frozen in
// testdata/forward/response-roster.golden.
var sampleEffect = roster.Effect{
	Before: roster.Item{JID: "romeo@example.net", Name: "Romeo", Groups: []string{"Friends"},
		State: roster.State{Sub: roster.To, PendingIn: true}},
	Found: true,
	After: roster.Item{JID: "romeo@example.net", Name: "Romeo", Groups: []string{"Friends", "Verona"},
		State: roster.State{Sub: roster.Both}},
	Push: true,
	Ver:  17,
	In: roster.InDecision{Next: roster.State{Sub: roster.Both}, Deliver: true, AutoReply: roster.Subscribed,
		HasAutoReply: true, Push: true, Presence: roster.SendAvailable, DropPending: true},
	Removal:     []roster.Kind{roster.Unsubscribe, roster.Unsubscribed},
	DropRequest: true,
}

// wireSamples are the forwarding channel's frames, frozen in
// testdata/forward/<name>.golden. Never change a released one; add new ones.
var wireSamples = []struct {
	name  string
	frame []byte
}{
	{"request-propose", reqFrame(7, request{op: opPropose, timeout: 1500 * time.Millisecond, cmd: Encode(samples[3])})},
	{"request-join", reqFrame(1, request{op: opJoin, relay: true, timeout: 10 * time.Second, id: "n4", addr: "10.0.0.4:7422"})},
	{"request-remove", reqFrame(300, request{op: opRemove, id: "n2"})},
	{"request-stepdown", reqFrame(2, request{op: opStepdown, timeout: time.Second})},
	{"response-seq", respFrame(7, Result{Index: 1042, Seq: 99}, nil)},
	{"response-roster", respFrame(8, Result{Index: 1043, Roster: &sampleEffect}, nil)},
	{"response-exists", respFrame(9, Result{Index: 1044}, fmt.Errorf("%w: account %q", ErrExists, "alice@localhost"))},
	{"response-set-error", respFrame(10, Result{Index: 1045}, &roster.SetError{Condition: stanza.NotAcceptable, Text: "the roster is full"})},
	{"response-not-leader", respFrame(11, Result{}, raftError(raft.ErrNotLeader))},
	{"response-no-quorum", respFrame(12, Result{}, fmt.Errorf("%w: no leader for 4s", ErrNoQuorum))},
	{"request-propose-keyed", reqFrame(8, request{op: opPropose, timeout: 1500 * time.Millisecond, cmd: Encode(samples[4]),
		origin: "n2", seq: 1_700_000_000_000_000_007, deadline: time.UnixMilli(1_700_000_001_500)})},
}

func TestWireGolden(t *testing.T) {
	for _, s := range wireSamples {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join("testdata", "forward", s.name+".golden")
			if *update {
				writeFile(t, path, []byte(hex.EncodeToString(s.frame)+"\n"))
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestWireGolden -update once for a new frame)", err)
			}
			golden, err := hex.DecodeString(strings.TrimSpace(string(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s.frame, golden) {
				t.Errorf("encoding changed; released encodings are frozen\n got %x\nwant %x", s.frame, golden)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "forward", "*.golden"))
	if len(files) != len(wireSamples) {
		t.Errorf("%d golden files for %d samples", len(files), len(wireSamples))
	}
}

// Each sample frame decodes back to what was encoded.
func TestWireRoundTrip(t *testing.T) {
	id, req, err := splitReq(wireSamples[0].frame[4:])
	if err != nil || id != 7 || req.op != opPropose || req.timeout != 1500*time.Millisecond || !bytes.Equal(req.cmd, Encode(samples[3])) {
		t.Errorf("propose: %d %+v %v", id, req, err)
	}
	id, req, err = splitReq(wireSamples[1].frame[4:])
	if err != nil || id != 1 || req.op != opJoin || !req.relay || req.id != "n4" || req.addr != "10.0.0.4:7422" {
		t.Errorf("join: %d %+v %v", id, req, err)
	}
	id, req, err = splitReq(wireSamples[10].frame[4:])
	if err != nil || id != 8 || req.origin != "n2" || req.seq != 1_700_000_000_000_000_007 ||
		!req.deadline.Equal(time.UnixMilli(1_700_000_001_500)) || !bytes.Equal(req.cmd, Encode(samples[4])) {
		t.Errorf("keyed propose: %d %+v %v", id, req, err)
	}

	id, res, rerr, err := splitResp(wireSamples[5].frame[4:])
	if err != nil || rerr != nil || id != 8 || res.Index != 1043 || !reflect.DeepEqual(*res.Roster, sampleEffect) {
		t.Errorf("roster result: %d %+v %v %v", id, res, rerr, err)
	}
	_, res, rerr, _ = splitResp(wireSamples[6].frame[4:])
	if !errors.Is(rerr, ErrExists) || rerr.Error() != `consensus: already exists: account "alice@localhost"` || res.Index != 1044 {
		t.Errorf("exists: %+v %v", res, rerr)
	}
	_, _, rerr, _ = splitResp(wireSamples[7].frame[4:])
	var se *roster.SetError
	if !errors.As(rerr, &se) || se.Condition != stanza.NotAcceptable || se.Text != "the roster is full" {
		t.Errorf("set error: %#v", rerr)
	}
	_, _, rerr, _ = splitResp(wireSamples[8].frame[4:])
	if !notProposed(rerr) || !errors.Is(rerr, ErrNotLeader) {
		t.Errorf("not leader: %v is not a retry", rerr)
	}
	_, _, rerr, _ = splitResp(wireSamples[9].frame[4:])
	if !errors.Is(rerr, ErrNoQuorum) || !errors.Is(rerr, ErrNotLeader) || notProposed(rerr) {
		t.Errorf("no quorum: %v", rerr)
	}
}

// Every error a leader can answer with keeps its identity on the proposer.
func TestWireErrors(t *testing.T) {
	for _, tc := range []struct {
		err   error
		is    []error
		retry bool
	}{
		{fmt.Errorf("%w: x", ErrExists), []error{ErrExists}, false},
		{fmt.Errorf("%w: x", ErrNotFound), []error{ErrNotFound}, false},
		{fmt.Errorf("%w: x", ErrOfflineFull), []error{ErrOfflineFull}, false},
		{fmt.Errorf("%w: x", ErrPendingFull), []error{ErrPendingFull}, false},
		{fmt.Errorf("%w: x", ErrTooLarge), []error{ErrTooLarge}, false},
		{fmt.Errorf("%w: x", ErrInvalid), []error{ErrInvalid}, false},
		{fmt.Errorf("%w: x", ErrCorrupt), []error{ErrCorrupt}, false},
		{raftError(raft.ErrNotLeader), []error{ErrNotLeader}, true},
		{raftError(raft.ErrLeadershipTransferInProgress), []error{ErrNotLeader}, true},
		{raftError(raft.ErrLeadershipLost), []error{ErrNotLeader}, false},
		{raftError(raft.ErrRaftShutdown), []error{ErrNotLeader}, false}, // the leader closed: outcome unknown
		{fmt.Errorf("%w: x", ErrTimeout), []error{ErrTimeout}, false},
		{fmt.Errorf("%w: x", ErrNoQuorum), []error{ErrNoQuorum, ErrNotLeader}, false},
		{errors.New("disk on fire"), nil, false},
	} {
		_, _, rerr, err := splitResp(respFrame(1, Result{}, tc.err)[4:])
		if err != nil {
			t.Fatal(err)
		}
		if rerr == nil || !strings.Contains(rerr.Error(), tc.err.Error()) {
			t.Errorf("%v came back as %v", tc.err, rerr)
			continue
		}
		for _, is := range tc.is {
			if !errors.Is(rerr, is) {
				t.Errorf("%v came back as %v, not %v", tc.err, rerr, is)
			}
		}
		if notProposed(rerr) != tc.retry {
			t.Errorf("%v: retry %v, want %v", tc.err, notProposed(rerr), tc.retry)
		}
	}
}

// fill sets every field reachable from v to a non-zero value.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), n)
		fill(v.Index(1), n)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n % 200))
	default:
		panic(fmt.Sprintf("fill: %s needs a case (and the result encoding a field)", v.Type()))
	}
}

// A Result with every field set, down to the roster effect's, survives the
// wire: a field added to Result or roster.Effect fails here until the
// encoding carries it.
func TestResultCoversEffect(t *testing.T) {
	var r Result
	fill(reflect.ValueOf(&r).Elem(), new(int))
	d := decoder{b: appendResult(nil, r)}
	got := decodeResult(&d)
	if err := d.finish(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip lost a field:\n got %+v\nwant %+v\n effect got %+v\n effect want %+v", got, r, *got.Roster, *r.Roster)
	}
	d = decoder{b: appendResult(nil, Result{})}
	if got := decodeResult(&d); d.finish() != nil || !reflect.DeepEqual(got, Result{}) {
		t.Errorf("zero result came back as %+v", got)
	}
}

func TestWireRejects(t *testing.T) {
	for name, p := range map[string][]byte{
		"empty":           {},
		"unknown op":      {1, 9, 0, 0},
		"unknown flag":    {1, opStepdown, 2, 0},
		"trailing":        {1, opStepdown, 0, 0, 0},
		"huge timeout":    {1, opStepdown, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"truncated join":  {1, opJoin, 0, 0, 5, 'a'},
		"non-minimal id":  {0x81, 0x00, opStepdown, 0, 0},
		"truncated frame": wireSamples[1].frame[4:10],
	} {
		if _, _, err := splitReq(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("request %s: %v, want ErrCorrupt", name, err)
		}
	}
	ok := wireSamples[5].frame[4:]
	for name, p := range map[string][]byte{
		"empty":          {},
		"unknown code":   {1, 99, 1, 0, 0, 0, 0},
		"bad version":    {1, 0, 2, 0, 0, 0, 0},
		"roster marker":  {1, 0, 1, 0, 0, 0, 2},
		"trailing":       append(bytes.Clone(ok), 0),
		"truncated":      ok[:len(ok)-1],
		"unknown flags":  {1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0xf0},
		"no message":     {1, codeExists, 1, 0, 0, 0, 0},
		"removal length": append(bytes.Clone(ok[:len(ok)-3]), 0x7f),
	} {
		if _, _, _, err := splitResp(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("response %s: %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := mux.ReadFrame(bytes.NewReader([]byte{0xff, 0, 0, 0}), nil); !errors.Is(err, mux.ErrFrame) {
		t.Errorf("oversized frame: %v", err)
	}
}

func TestWireFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeForward")
	for _, s := range wireSamples {
		path := filepath.Join(dir, s.name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.frame[4:])
		if *update {
			writeFile(t, path, []byte(want))
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("fuzz seed %s missing or stale (run go test -run TestWireFuzzSeeds -update): %v", path, err)
		}
	}
}

// FuzzDecodeForward feeds any payload to both decoders: they never panic,
// reject with ErrCorrupt, and what they accept re-encodes to the same bytes.
func FuzzDecodeForward(f *testing.F) {
	for _, s := range wireSamples {
		f.Add(s.frame[4:])
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if id, req, err := splitReq(p); err == nil {
			if enc := reqFrame(id, req)[4:]; !bytes.Equal(enc, p) {
				t.Fatalf("request %x re-encodes to %x", p, enc)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		id, res, rerr, err := splitResp(p)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatal(err)
			}
			return
		}
		var se *roster.SetError
		if errors.As(rerr, &se) {
			return // the message is rebuilt from the condition and text
		}
		if enc := respFrame(id, res, rerr)[4:]; !bytes.Equal(enc, p) {
			t.Fatalf("response %x re-encodes to %x", p, enc)
		}
	})
}

// reqFrame, respFrame, splitReq and splitResp frame and unframe the
// payloads as the mux does (one uvarint id before the payload).
func reqFrame(id uint64, r request) []byte { return mux.Message(id, encodeFwdRequest(r)) }

func respFrame(id uint64, res Result, err error) []byte {
	return mux.Message(id, encodeFwdResponse(res, err))
}

// splitID takes the id off a message; a missing or non-minimal one is
// refused, so that the fuzz target's re-encoding holds.
func splitID(p []byte) (uint64, []byte, error) {
	id, n := binary.Uvarint(p)
	if n <= 0 || n != uvarintLen(id) {
		return 0, nil, fmt.Errorf("%w: message id", ErrCorrupt)
	}
	return id, p[n:], nil
}

func splitReq(p []byte) (uint64, request, error) {
	id, p, err := splitID(p)
	if err != nil {
		return 0, request{}, err
	}
	r, err := decodeFwdRequest(p)
	return id, r, err
}

func splitResp(p []byte) (uint64, Result, error, error) {
	id, p, err := splitID(p)
	if err != nil {
		return 0, Result{}, nil, err
	}
	res, rerr, err := decodeFwdResponse(p)
	return id, res, rerr, err
}
