package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// The forwarding channel's wire format (frozen by testdata/forward/*.golden).
// Each message is a frame of the mux (consensus/mux: a uint32 length, the
// uvarint id pairing a request with its answer, then the payload below):
//
//	request   op | flags (relay, force) | uvarint timeout (ms; 0: the leader's
//	          ApplyTimeout) | body
//	          opPropose  the encoded command (codec.go), to the end; with
//	                     flagKeyed first string origin | uvarint seq |
//	                     varint deadline (unix ms)
//	          opJoin     string server ID | string address
//	          opRemove   string server ID
//	          opStepdown nothing
//	          opLevel    nothing; answered by any member, with its feature
//	                     level (feature.go) as the result's Seq
//	response  code | result (below) | error
//	          codeOK     no error
//	          codeRoster string message | string condition | string text
//	          others     string message
//
// The result travels with an error too: a domain error is a committed entry,
// and its Result.Index is what WaitApplied takes.
//
// Strings are uvarint-length-prefixed, as in codec.go, and decoding is as
// strict (no trailing bytes, minimal varints, no unknown flags).
//
// A result is
//
//	version (1) | uvarint Index | uvarint Seq | uvarint Removed | 0, or 1 and an effect
//	effect  item Before | item After | flags Found Delete Push KeepRequest DropRequest
//	        | uvarint Ver | out | in | uvarint n | n roster kinds (Removal)
//	item    string JID | string Name | uvarint n | n strings (Groups) | state
//	        | flags RequestOnly Removed
//	state   subscription | flags PendingOut PendingIn Approved
//	out     state Next | presence | flags Route Push CreateItem DropPending
//	in      state Next | kind AutoReply | presence
//	        | flags Deliver HasAutoReply Push KeepPending DropPending
//
// Flags are one byte, the first named flag in the lowest bit. A new field
// of roster.Effect needs a new result version; TestResultCoversEffect fails
// until it has one.
const (
	opPropose  byte = 1
	opJoin     byte = 2
	opRemove   byte = 3
	opStepdown byte = 4
	opLevel    byte = 5

	// flagRelay asks a node that is not the leader to pass the request on
	// to the leader (one hop), for a node that is not a member yet and so
	// cannot know the leader (Config.Join).
	flagRelay byte = 1
	// flagForce makes a Join or Remove skip the live-majority check.
	flagForce byte = 2
	// flagKeyed marks a propose that carries its idempotency key and
	// deadline (leaders of feature level TypeKeyed and later).
	flagKeyed byte = 4

	resultVersion = 1
)

// Response codes: how an error crosses the forwarding channel. wireError and
// wireErr are the one place that translates between the two.
const (
	codeOK          byte = 0
	codeExists      byte = 1  // ErrExists
	codeNotFound    byte = 2  // ErrNotFound
	codeOfflineFull byte = 3  // ErrOfflineFull
	codePendingFull byte = 4  // ErrPendingFull
	codeRoster      byte = 5  // *roster.SetError
	codeInvalid     byte = 6  // ErrInvalid
	codeCorrupt     byte = 7  // ErrCorrupt
	codeNotLeader   byte = 8  // not the leader, nothing proposed: ask the leader
	codeLeaderLost  byte = 9  // ErrNotLeader, outcome unknown
	codeTimeout     byte = 10 // ErrTimeout, outcome unknown
	codeNoQuorum    byte = 11 // ErrNoQuorum
	codeInternal    byte = 12 // anything else
	codeIdentity    byte = 13 // ErrIdentity
	codeUnsafe      byte = 14 // ErrUnsafe
	codeUnsupported byte = 15 // ErrUnsupported: nothing proposed
	codeNotApplied  byte = 16 // ErrNotApplied: refused before proposing
	codeBlockFull   byte = 17 // ErrBlocklistFull
	codeTooLarge    byte = 18 // ErrTooLarge

	maxCode = codeTooLarge
)

// request is one forwarded operation.
type request struct {
	op      byte
	relay   bool
	force   bool // opJoin, opRemove
	timeout time.Duration
	// origin, seq and deadline (opPropose, flagKeyed): the write's
	// idempotency key (keyed.go) and the instant after which the leader
	// refuses it. Empty origin: an unkeyed request.
	origin   string
	seq      uint64
	deadline time.Time
	cmd      []byte // opPropose
	id       string // opJoin, opRemove: Raft server ID
	addr     string // opJoin
}

func (r request) String() string {
	switch r.op {
	case opPropose:
		if len(r.cmd) >= 3 {
			return CommandType(binary.BigEndian.Uint16(r.cmd[1:3])).String()
		}
		return "propose"
	case opJoin:
		return "join " + r.id + " " + r.addr
	case opRemove:
		return "remove " + r.id
	case opStepdown:
		return "stepdown"
	case opLevel:
		return "level"
	}
	return fmt.Sprintf("op %d", r.op)
}

// encodeFwdRequest returns the payload of a request (the mux adds the id).
func encodeFwdRequest(r request) []byte {
	b := make([]byte, 0, 32+len(r.cmd))
	var f byte
	if r.relay {
		f |= flagRelay
	}
	if r.force {
		f |= flagForce
	}
	keyed := r.op == opPropose && r.origin != ""
	if keyed {
		f |= flagKeyed
	}
	b = append(b, r.op, f)
	b = binary.AppendUvarint(b, uint64(max(r.timeout, 0)/time.Millisecond))
	switch r.op {
	case opPropose:
		if keyed {
			b = appendString(b, r.origin)
			b = binary.AppendUvarint(b, r.seq)
			b = binary.AppendVarint(b, r.deadline.UnixMilli())
		}
		b = append(b, r.cmd...)
	case opJoin:
		b = appendString(appendString(b, r.id), r.addr)
	case opRemove:
		b = appendString(b, r.id)
	}
	return b
}

// decodeFwdRequest parses a request payload.
func decodeFwdRequest(p []byte) (request, error) {
	d := decoder{b: p}
	r := request{op: d.byte()}
	f := d.byte()
	if f&^(flagRelay|flagForce|flagKeyed) != 0 || (f&flagKeyed != 0 && r.op != opPropose) {
		d.fail(fmt.Errorf("unknown request flags %#x", f))
	}
	r.relay, r.force = f&flagRelay != 0, f&flagForce != 0
	if r.force && r.op != opJoin && r.op != opRemove {
		d.fail(fmt.Errorf("flag force on operation %d", r.op))
	}
	ms := d.uvarint()
	if ms > uint64(24*time.Hour/time.Millisecond) {
		d.fail(fmt.Errorf("timeout of %d ms", ms))
	}
	r.timeout = time.Duration(ms) * time.Millisecond
	switch r.op {
	case opPropose:
		if f&flagKeyed != 0 {
			r.origin, r.seq = d.string(), d.uvarint()
			r.deadline = time.UnixMilli(d.varint())
			if r.origin == "" {
				d.fail(errors.New("keyed request without an origin"))
			}
		}
		if d.err == nil {
			r.cmd, d.b = append([]byte(nil), d.b...), nil
		}
	case opJoin:
		r.id, r.addr = d.string(), d.string()
	case opRemove:
		r.id = d.string()
	case opStepdown, opLevel:
	default:
		d.fail(fmt.Errorf("unknown operation %d", r.op))
	}
	if err := d.finish(); err != nil {
		return r, fmt.Errorf("%w: forwarded request: %w", ErrCorrupt, err)
	}
	return r, nil
}

// encodeFwdResponse returns the payload answering a request with res or err.
func encodeFwdResponse(res Result, err error) []byte {
	b := make([]byte, 0, 48)
	if err == nil {
		return appendResult(append(b, codeOK), res)
	}
	code, msg, se := wireError(err)
	b = appendResult(append(b, code), res)
	b = appendString(b, msg)
	if code == codeRoster {
		b = appendString(appendString(b, string(se.Condition)), se.Text)
	}
	return b
}

// decodeFwdResponse parses a response payload into the request's outcome.
func decodeFwdResponse(p []byte) (res Result, rerr error, err error) {
	d := decoder{b: p}
	code := d.byte()
	if code > maxCode && d.err == nil {
		d.fail(fmt.Errorf("unknown response code %d", code))
	}
	res = decodeResult(&d)
	switch {
	case d.err != nil, code == codeOK:
	case code == codeRoster:
		msg := d.string()
		se := &roster.SetError{Condition: stanza.Condition(d.string()), Text: d.string()}
		rerr = wireErr(code, msg, se)
	default:
		rerr = wireErr(code, d.string(), nil)
	}
	if err := d.finish(); err != nil {
		return Result{}, nil, fmt.Errorf("%w: forwarded response: %w", ErrCorrupt, err)
	}
	return res, rerr, nil
}

// wireError is how err crosses the forwarding channel: a code the proposer
// turns back into the same sentinel, and the message. Checks go from the
// most to the least specific.
func wireError(err error) (code byte, msg string, se *roster.SetError) {
	msg = err.Error()
	switch {
	case errors.As(err, &se):
		return codeRoster, msg, se
	case errors.Is(err, ErrNoQuorum):
		return codeNoQuorum, msg, nil
	case errors.Is(err, ErrUnsupported):
		return codeUnsupported, msg, nil
	case notProposed(err):
		return codeNotLeader, msg, nil
	case errors.Is(err, ErrNotApplied):
		return codeNotApplied, msg, nil
	case errors.Is(err, ErrClosed):
		// The leader shut down with the command in flight: the proposer's
		// node is not closed, it lost its leader.
		return codeLeaderLost, "consensus: not the leader: the leader shut down (" + msg + ")", nil
	case errors.Is(err, ErrNotLeader):
		return codeLeaderLost, msg, nil
	case errors.Is(err, ErrTimeout):
		return codeTimeout, msg, nil
	case errors.Is(err, ErrExists):
		return codeExists, msg, nil
	case errors.Is(err, ErrNotFound):
		return codeNotFound, msg, nil
	case errors.Is(err, ErrOfflineFull):
		return codeOfflineFull, msg, nil
	case errors.Is(err, ErrPendingFull):
		return codePendingFull, msg, nil
	case errors.Is(err, ErrBlocklistFull):
		return codeBlockFull, msg, nil
	case errors.Is(err, ErrTooLarge):
		return codeTooLarge, msg, nil
	case errors.Is(err, ErrInvalid):
		return codeInvalid, msg, nil
	case errors.Is(err, ErrCorrupt):
		return codeCorrupt, msg, nil
	case errors.Is(err, ErrIdentity):
		return codeIdentity, msg, nil
	case errors.Is(err, ErrUnsafe):
		return codeUnsafe, msg, nil
	}
	return codeInternal, msg, nil
}

// wireErr is the error a proposer returns for a response code: the message
// as the leader wrote it, and errors.Is/As as on the leader.
func wireErr(code byte, msg string, se *roster.SetError) error {
	var kind error
	switch code {
	case codeRoster:
		return se
	case codeExists:
		kind = ErrExists
	case codeNotFound:
		kind = ErrNotFound
	case codeOfflineFull:
		kind = ErrOfflineFull
	case codePendingFull:
		kind = ErrPendingFull
	case codeBlockFull:
		kind = ErrBlocklistFull
	case codeTooLarge:
		kind = ErrTooLarge
	case codeInvalid:
		kind = ErrInvalid
	case codeCorrupt:
		kind = ErrCorrupt
	case codeIdentity:
		kind = ErrIdentity
	case codeUnsafe:
		kind = ErrUnsafe
	case codeNotLeader:
		return &remoteError{msg: msg, kind: errRetry{errors.Join(ErrNotLeader, raft.ErrNotLeader, ErrNotApplied)}}
	case codeLeaderLost:
		kind = errors.Join(ErrNotLeader, ErrOutcomeUnknown)
	case codeTimeout:
		kind = errors.Join(ErrTimeout, ErrOutcomeUnknown)
	case codeNotApplied:
		kind = ErrNotApplied
	case codeNoQuorum:
		kind = ErrNoQuorum
	case codeUnsupported:
		kind = ErrUnsupported
	}
	return &remoteError{msg: msg, kind: kind}
}

// remoteError is an error the leader returned for a forwarded request.
type remoteError struct {
	msg  string
	kind error // the sentinel; nil for codeInternal
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// appendResult appends the encoding of r.
func appendResult(b []byte, r Result) []byte {
	b = append(b, resultVersion)
	b = binary.AppendUvarint(b, r.Index)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, r.Removed)
	if r.Roster == nil {
		return append(b, 0)
	}
	e := r.Roster
	b = append(b, 1)
	b = appendItem(b, e.Before)
	b = appendItem(b, e.After)
	b = append(b, flags(e.Found, e.Delete, e.Push, e.KeepRequest, e.DropRequest))
	b = binary.AppendUvarint(b, e.Ver)
	b = appendState(b, e.Out.Next)
	b = append(b, byte(e.Out.Presence), flags(e.Out.Route, e.Out.Push, e.Out.CreateItem, e.Out.DropPending))
	b = appendState(b, e.In.Next)
	b = append(b, byte(e.In.AutoReply), byte(e.In.Presence),
		flags(e.In.Deliver, e.In.HasAutoReply, e.In.Push, e.In.KeepPending, e.In.DropPending))
	b = binary.AppendUvarint(b, uint64(len(e.Removal)))
	for _, k := range e.Removal {
		b = append(b, byte(k))
	}
	return b
}

func decodeResult(d *decoder) Result {
	if v := d.byte(); v != resultVersion && d.err == nil {
		d.fail(fmt.Errorf("result version %d", v))
	}
	r := Result{Index: d.uvarint(), Seq: d.uvarint(), Removed: d.uvarint()}
	switch has := d.byte(); {
	case d.err != nil || has == 0:
		return r
	case has != 1:
		d.fail(fmt.Errorf("roster marker %d", has))
		return r
	}
	e := &roster.Effect{Before: decodeItemWire(d), After: decodeItemWire(d)}
	d.flags(&e.Found, &e.Delete, &e.Push, &e.KeepRequest, &e.DropRequest)
	e.Ver = d.uvarint()
	e.Out.Next = decodeState(d)
	e.Out.Presence = roster.PresenceAction(d.byte())
	d.flags(&e.Out.Route, &e.Out.Push, &e.Out.CreateItem, &e.Out.DropPending)
	e.In.Next = decodeState(d)
	e.In.AutoReply = roster.Kind(d.byte())
	e.In.Presence = roster.PresenceAction(d.byte())
	d.flags(&e.In.Deliver, &e.In.HasAutoReply, &e.In.Push, &e.In.KeepPending, &e.In.DropPending)
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		e.Removal = append(e.Removal, roster.Kind(d.byte()))
	}
	r.Roster = e
	return r
}

func appendItem(b []byte, it roster.Item) []byte {
	b = appendString(b, it.JID)
	b = appendString(b, it.Name)
	b = binary.AppendUvarint(b, uint64(len(it.Groups)))
	for _, g := range it.Groups {
		b = appendString(b, g)
	}
	b = appendState(b, it.State)
	return append(b, flags(it.RequestOnly, it.Removed))
}

func decodeItemWire(d *decoder) roster.Item {
	it := roster.Item{JID: d.string(), Name: d.string()}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		it.Groups = append(it.Groups, d.string())
	}
	it.State = decodeState(d)
	d.flags(&it.RequestOnly, &it.Removed)
	return it
}

func appendState(b []byte, s roster.State) []byte {
	return append(b, byte(s.Sub), flags(s.PendingOut, s.PendingIn, s.Approved))
}

func decodeState(d *decoder) roster.State {
	s := roster.State{Sub: roster.Subscription(d.byte())}
	d.flags(&s.PendingOut, &s.PendingIn, &s.Approved)
	return s
}

// flags packs up to eight booleans into a byte, the first in the lowest bit.
func flags(bs ...bool) byte {
	var f byte
	for i, b := range bs {
		if b {
			f |= 1 << i
		}
	}
	return f
}

// flags reads a byte of len(ps) flags; higher bits must be clear.
func (d *decoder) flags(ps ...*bool) {
	f := d.byte()
	if f>>len(ps) != 0 && d.err == nil {
		d.fail(fmt.Errorf("unknown flags %#x", f))
	}
	for i, p := range ps {
		*p = f&(1<<i) != 0
	}
}
