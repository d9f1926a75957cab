package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Keyed commands: at most once, whatever the retries.
//
// Propose gives every write an idempotency key, the proposing node's ID and
// a sequence number that only grows (it starts at the clock's nanoseconds
// when the node opens), and the leader proposes the command wrapped in a
// Keyed. Apply keeps each key's outcome in the replicated state, so a
// Keyed whose key was applied before changes nothing and answers with the
// first outcome (its Result, Index included, or its domain error). Propose
// can therefore send a write again, to whoever leads, after losing track of
// it (the connection dropped, the leader changed), until its deadline: the
// write is applied at most once and the caller learns its outcome.
//
// The window is bounded per origin: the outcomes of the keyedWindow highest
// seqs are kept. A Keyed older than that is refused with ErrKeyExpired,
// which says the outcome is unknown (it may have been applied and
// forgotten). A node that restarts starts far above its old seqs and so
// drops all of them, which is right: its old Proposes ended with it.

// keyedWindow is how many keyed outcomes are kept per origin.
const keyedWindow = 4096

// ErrKeyExpired is a retried write whose key left the window of kept
// outcomes: it may or may not have been applied before. It is also an
// ErrOutcomeUnknown.
var ErrKeyExpired error = keyExpired{}

type keyExpired struct{}

func (keyExpired) Error() string        { return "consensus: idempotency key older than the kept window" }
func (keyExpired) Is(target error) bool { return target == ErrOutcomeUnknown }

// Keyed wraps a command with its idempotency key (see above). The leader
// makes it from a Propose; callers do not build it.
type Keyed struct {
	Origin string // the proposing node's ID
	Seq    uint64 // per origin, unique
	Cmd    Command
}

var _ = register(row{TypeKeyed, "keyed", func(d *decoder) Command {
	k := Keyed{Origin: d.string(), Seq: d.uvarint()}
	inner := d.raw()
	if d.err != nil {
		return k
	}
	if len(inner) >= 3 && CommandType(binary.BigEndian.Uint16(inner[1:3])) == TypeKeyed {
		// Refused here, not only by validate: decoding nests, and a peer
		// must not make it recurse without bound.
		d.fail(errors.New("keyed command inside a keyed command"))
		return k
	}
	c, err := Decode(inner)
	if err != nil {
		d.fail(err)
		return k
	}
	k.Cmd = c
	return k
}})

func (Keyed) Type() CommandType { return TypeKeyed }

func (c Keyed) encode(b []byte) []byte {
	b = appendString(b, c.Origin)
	b = binary.AppendUvarint(b, c.Seq)
	return appendString(b, string(Encode(c.Cmd)))
}

// encodeKeyed is Encode(Keyed{origin, seq, cmd}) for a command already
// encoded (the leader wraps what a follower forwarded without decoding it
// twice).
func encodeKeyed(origin string, seq uint64, cmd []byte) []byte {
	b := make([]byte, 0, 16+len(origin)+len(cmd))
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(TypeKeyed))
	b = appendString(b, origin)
	b = binary.AppendUvarint(b, seq)
	return appendString(b, string(cmd))
}

func (c Keyed) validate() error {
	switch {
	case c.Origin == "" || len(c.Origin) > maxNameLen || strings.IndexByte(c.Origin, 0) >= 0:
		return fmt.Errorf("%w: key origin %q", ErrInvalid, c.Origin)
	case c.Cmd == nil:
		return fmt.Errorf("%w: keyed command without a command", ErrInvalid)
	case c.Cmd.Type() == TypeKeyed:
		return fmt.Errorf("%w: keyed command inside a keyed command", ErrInvalid)
	}
	return c.Cmd.validate()
}

func (c Keyed) apply(t *tx) (Result, error) {
	k := keyedKey(c.Origin, c.Seq)
	if v, ok, err := t.get(k); err != nil {
		return Result{}, err
	} else if ok {
		res, rerr, err := decodeFwdResponse(v)
		if err != nil {
			return Result{}, err
		}
		return res, rerr
	}
	var top uint64
	if v, ok, err := t.get(keyedMaxKey(c.Origin)); err != nil {
		return Result{}, err
	} else if ok && len(v) == 8 {
		top = binary.BigEndian.Uint64(v)
	}
	if top >= keyedWindow && c.Seq <= top-keyedWindow {
		return Result{}, fmt.Errorf("%w: %s seq %d, kept from %d", ErrKeyExpired, c.Origin, c.Seq, top-keyedWindow+1)
	}
	res, err := c.Cmd.apply(t)
	if err != nil && !isDomain(err) {
		return res, err
	}
	res.Index = t.index
	if err := t.b.Set(k, encodeFwdResponse(res, err), nil); err != nil {
		return Result{}, err
	}
	if c.Seq > top {
		if err := t.b.Set(keyedMaxKey(c.Origin), be64(c.Seq), nil); err != nil {
			return Result{}, err
		}
		if c.Seq >= keyedWindow {
			// The next seq in line drops one outcome; a jump (concurrent
			// proposals, a restart) drops every outcome it leaves behind.
			var err error
			if c.Seq == top+1 {
				err = t.b.Delete(keyedKey(c.Origin, c.Seq-keyedWindow), nil)
			} else {
				err = t.b.DeleteRange(keyedKey(c.Origin, 0), keyedKey(c.Origin, c.Seq-keyedWindow+1), nil)
			}
			if err != nil {
				return Result{}, err
			}
		}
	}
	return res, err
}
