package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// The blocking service (XEP-0191): each account's list of blocked JIDs,
// one key per JID under the user (keys.go, kind 'b'), so DeleteAccount
// removes the list with the account and a check is a point read.

// DefaultBlocklistLimit is the cap on an account's blocked JIDs used when
// BlockOp.Max is zero.
const DefaultBlocklistLimit = 1000

// maxBlockItems bounds the JIDs one BlockOp may carry, whatever its Max.
const maxBlockItems = 1 << 16

// ErrBlocklistFull is returned when a block would take the account past
// BlockOp.Max blocked JIDs. Nothing is blocked then.
var ErrBlocklistFull = errors.New("consensus: blocklist full")

// BlockOp blocks JIDs for User, or unblocks them (Unblock), or unblocks
// every JID (Unblock with no JIDs), XEP-0191 3.3-3.5. JIDs are canonical
// JID strings (full, bare, domain or domain/resource). Blocking a JID
// already blocked, or unblocking one that is not, changes nothing. It
// fails with ErrNotFound when User has no account and with
// ErrBlocklistFull when the list would exceed Max.
type BlockOp struct {
	User    string
	Unblock bool
	JIDs    []string
	// Max is the cap in force, carried so that every replica applies the
	// same one; zero means DefaultBlocklistLimit.
	Max uint32
}

// The catalogue row of the blocking command.
var _ = register(row{TypeBlockOp, "block-op", func(d *decoder) Command {
	c := BlockOp{User: d.string(), Unblock: d.byte() != 0}
	n := d.uvarint()
	if n > maxBlockItems {
		d.fail(errors.New("too many blocked JIDs"))
		return c
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		c.JIDs = append(c.JIDs, d.string())
	}
	c.Max = d.uint32()
	return c
}})

func (BlockOp) Type() CommandType { return TypeBlockOp }

func (c BlockOp) encode(b []byte) []byte {
	b = appendString(b, c.User)
	var un byte
	if c.Unblock {
		un = 1
	}
	b = append(b, un)
	b = binary.AppendUvarint(b, uint64(len(c.JIDs)))
	for _, j := range c.JIDs {
		b = appendString(b, j)
	}
	return binary.AppendUvarint(b, uint64(c.Max))
}

func (c BlockOp) validate() error {
	if err := validName(c.User); err != nil {
		return err
	}
	if !c.Unblock && len(c.JIDs) == 0 {
		return fmt.Errorf("%w: a block names at least one JID", ErrInvalid)
	}
	if len(c.JIDs) > maxBlockItems {
		return fmt.Errorf("%w: %d JIDs in one block command", ErrInvalid, len(c.JIDs))
	}
	for _, j := range c.JIDs {
		if j == "" || len(j) > 3*1023+2 {
			return fmt.Errorf("%w: blocked JID %q", ErrInvalid, j)
		}
	}
	return nil
}

func (c BlockOp) apply(t *tx) (Result, error) {
	if _, err := t.account(c.User); err != nil {
		return Result{}, err
	}
	if c.Unblock && len(c.JIDs) == 0 {
		p := blockPrefix(c.User)
		return Result{}, t.b.DeleteRange(p, prefixEnd(p), nil)
	}
	if c.Unblock {
		for _, j := range c.JIDs {
			if err := t.b.Delete(blockKey(c.User, j), nil); err != nil {
				return Result{}, err
			}
		}
		return Result{}, nil
	}
	limit := uint64(c.Max)
	if limit == 0 {
		limit = DefaultBlocklistLimit
	}
	n, err := t.count(blockPrefix(c.User))
	if err != nil {
		return Result{}, err
	}
	var fresh []string
	for _, j := range c.JIDs {
		_, ok, err := t.get(blockKey(c.User, j))
		if err != nil {
			return Result{}, err
		}
		if !ok && !slices.Contains(fresh, j) {
			fresh = append(fresh, j)
		}
	}
	if n+uint64(len(fresh)) > limit {
		return Result{}, fmt.Errorf("%w: %q blocks %d JIDs, %d more asked, at most %d", ErrBlocklistFull, c.User, n, len(fresh), limit)
	}
	for _, j := range fresh {
		if err := t.b.Set(blockKey(c.User, j), []byte{valueVersion}, nil); err != nil {
			return Result{}, err
		}
	}
	return Result{}, nil
}

// count returns the number of keys under prefix, as the batch sees them.
func (t *tx) count(prefix []byte) (uint64, error) {
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	var n uint64
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, errors.Join(it.Error(), it.Close())
}

// Blocklist returns the JIDs user blocks, in key order.
func (n *Node) Blocklist(user string) ([]string, error) {
	if err := validName(user); err != nil {
		return nil, err
	}
	done, err := n.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	var out []string
	err = n.scan(blockPrefix(user), func(j string, _ []byte) error {
		out = append(out, j)
		return nil
	})
	return out, err
}

// Blocked reports whether user blocks any of jids. It is the check on the
// routing path, so it costs one seek for a user who blocks nobody (the
// usual case) and one seek per JID otherwise, on one iterator.
func (n *Node) Blocked(user string, jids ...string) (bool, error) {
	if err := validName(user); err != nil {
		return false, err
	}
	done, err := n.reading()
	if err != nil {
		return false, err
	}
	defer done()
	prefix := blockPrefix(user)
	it, err := n.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return false, err
	}
	found := false
	if it.First() {
		key := prefix
		for _, j := range jids {
			key = append(key[:len(prefix)], j...)
			if it.SeekGE(key) && bytes.Equal(it.Key(), key) {
				found = true
				break
			}
		}
	}
	return found, errors.Join(it.Error(), it.Close())
}
