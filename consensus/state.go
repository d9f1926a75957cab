package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// Account is a stored account.
type Account struct {
	Name    string // bare JID, e.g. alice@localhost
	Secret  []byte // opaque credentials blob supplied by the caller
	Created int64  // unix nanoseconds, from the CreateAccount command
}

// OfflineMessage is a message stored for a user who was not online.
type OfflineMessage struct {
	Seq    uint64 // per-user sequence number, strictly increasing
	From   string
	Stanza []byte // serialized XML, as given
	At     int64  // unix nanoseconds, from the StoreOffline command
}

// Stored values start with a version byte so that a later schema can tell old
// records from new ones.
const valueVersion = 1

// account record: version | uvarint len, secret | varint created
func encodeAccount(a Account) []byte {
	b := []byte{valueVersion}
	b = appendString(b, string(a.Secret))
	return binary.AppendVarint(b, a.Created)
}

func decodeAccount(name string, v []byte) (Account, error) {
	d := decoder{b: v}
	if err := d.version(); err != nil {
		return Account{}, fmt.Errorf("%w: account %q: %w", ErrCorrupt, name, err)
	}
	a := Account{Name: name, Secret: d.bytes(), Created: d.varint()}
	if err := d.finish(); err != nil {
		return Account{}, fmt.Errorf("%w: account %q: %w", ErrCorrupt, name, err)
	}
	return a, nil
}

// offline message: version | uvarint len, from | uvarint len, stanza | varint at
func encodeOffline(m OfflineMessage) []byte {
	b := make([]byte, 0, 1+len(m.From)+len(m.Stanza)+16)
	b = append(b, valueVersion)
	b = appendString(b, m.From)
	b = appendString(b, string(m.Stanza))
	return binary.AppendVarint(b, m.At)
}

func decodeOffline(seq uint64, v []byte) (OfflineMessage, error) {
	d := decoder{b: v}
	if err := d.version(); err != nil {
		return OfflineMessage{}, fmt.Errorf("%w: offline message %d: %w", ErrCorrupt, seq, err)
	}
	m := OfflineMessage{Seq: seq, From: d.string(), Stanza: d.bytes(), At: d.varint()}
	if err := d.finish(); err != nil {
		return OfflineMessage{}, fmt.Errorf("%w: offline message %d: %w", ErrCorrupt, seq, err)
	}
	return m, nil
}

// offlineCounter tracks a user's offline queue. Messages are only deleted as
// a prefix (DeleteOffline), so the live messages are exactly the seqs in
// (deleted, last], and their number is last-deleted without a scan.
type offlineCounter struct {
	last    uint64 // last seq assigned; 0 before the first message
	deleted uint64 // every seq <= deleted is gone
}

// counter: version | uvarint last | uvarint deleted
func (c offlineCounter) encode() []byte {
	b := []byte{valueVersion}
	b = binary.AppendUvarint(b, c.last)
	return binary.AppendUvarint(b, c.deleted)
}

func decodeCounter(v []byte) (offlineCounter, error) {
	d := decoder{b: v}
	if err := d.version(); err != nil {
		return offlineCounter{}, fmt.Errorf("%w: offline counter: %w", ErrCorrupt, err)
	}
	c := offlineCounter{last: d.uvarint(), deleted: d.uvarint()}
	if err := d.finish(); err != nil {
		return offlineCounter{}, fmt.Errorf("%w: offline counter: %w", ErrCorrupt, err)
	}
	if c.deleted > c.last {
		return offlineCounter{}, fmt.Errorf("%w: offline counter deleted %d > last %d", ErrCorrupt, c.deleted, c.last)
	}
	return c, nil
}

// version consumes a stored value's version byte.
func (d *decoder) version() error {
	if len(d.b) == 0 {
		return errShort
	}
	if d.b[0] != valueVersion {
		return fmt.Errorf("value version %d", d.b[0])
	}
	d.b = d.b[1:]
	return nil
}

// tx is the view a command's apply works on: an indexed Pebble batch, whose
// reads see the writes of the commands applied before it in the same batch.
type tx struct {
	b *pebble.Batch
}

// get returns a copy of the value at k; ok is false if k is absent.
func (t *tx) get(k []byte) (v []byte, ok bool, err error) {
	v, closer, err := t.b.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = bytes.Clone(v)
	return v, true, closer.Close()
}

func (t *tx) account(name string) (Account, error) {
	v, ok, err := t.get(accountKey(name))
	if err != nil {
		return Account{}, err
	}
	if !ok {
		return Account{}, fmt.Errorf("%w: account %q", ErrNotFound, name)
	}
	return decodeAccount(name, v)
}

func (t *tx) counter(user string) (offlineCounter, error) {
	v, ok, err := t.get(counterKey(user))
	if err != nil || !ok {
		return offlineCounter{}, err
	}
	return decodeCounter(v)
}

func (c CreateAccount) apply(t *tx) (Result, error) {
	k := accountKey(c.Name)
	_, ok, err := t.get(k)
	if err != nil {
		return Result{}, err
	}
	if ok {
		return Result{}, fmt.Errorf("%w: account %q", ErrExists, c.Name)
	}
	return Result{}, t.b.Set(k, encodeAccount(Account{Secret: c.Secret, Created: c.Created}), nil)
}

func (c SetSecret) apply(t *tx) (Result, error) {
	a, err := t.account(c.Name)
	if err != nil {
		return Result{}, err
	}
	a.Secret = c.Secret
	return Result{}, t.b.Set(accountKey(c.Name), encodeAccount(a), nil)
}

func (c DeleteAccount) apply(t *tx) (Result, error) {
	if _, err := t.account(c.Name); err != nil {
		return Result{}, err
	}
	p := userPrefix(c.Name)
	return Result{}, t.b.DeleteRange(p, prefixEnd(p), nil)
}

func (c StoreOffline) apply(t *tx) (Result, error) {
	if _, err := t.account(c.User); err != nil {
		return Result{}, err
	}
	ctr, err := t.counter(c.User)
	if err != nil {
		return Result{}, err
	}
	limit := uint64(c.Limit)
	if limit == 0 {
		limit = DefaultOfflineLimit
	}
	if ctr.last-ctr.deleted >= limit {
		return Result{}, fmt.Errorf("%w: %q holds %d messages", ErrOfflineFull, c.User, ctr.last-ctr.deleted)
	}
	if ctr.last == math.MaxUint64 {
		return Result{}, fmt.Errorf("%w: %q offline sequence exhausted", ErrOfflineFull, c.User)
	}
	ctr.last++
	msg := OfflineMessage{From: c.From, Stanza: c.Stanza, At: c.At}
	if err := t.b.Set(offlineKey(c.User, ctr.last), encodeOffline(msg), nil); err != nil {
		return Result{}, err
	}
	return Result{Seq: ctr.last}, t.b.Set(counterKey(c.User), ctr.encode(), nil)
}

func (c DeleteOffline) apply(t *tx) (Result, error) {
	if _, err := t.account(c.User); err != nil {
		return Result{}, err
	}
	ctr, err := t.counter(c.User)
	if err != nil {
		return Result{}, err
	}
	upTo := min(c.UpTo, ctr.last)
	if upTo <= ctr.deleted {
		return Result{}, nil
	}
	start := offlineKey(c.User, ctr.deleted+1)
	end := prefixEnd(userKey(c.User, kindOffline))
	if upTo < math.MaxUint64 {
		end = offlineKey(c.User, upTo+1)
	}
	if err := t.b.DeleteRange(start, end, nil); err != nil {
		return Result{}, err
	}
	removed := upTo - ctr.deleted
	ctr.deleted = upTo
	return Result{Removed: removed}, t.b.Set(counterKey(c.User), ctr.encode(), nil)
}
