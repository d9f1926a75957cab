package consensus

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The account and offline-message service: its commands, their catalogue
// rows, the records they store and what applying each does.

// DefaultOfflineLimit is the offline-message cap per user used when neither
// Config.OfflineLimit nor StoreOffline.Limit says otherwise.
const DefaultOfflineLimit = 1000

// CreateAccount creates an account. It fails with ErrExists if Name is taken.
type CreateAccount struct {
	Name    string // bare JID, e.g. alice@localhost
	Secret  []byte // opaque credentials blob (SCRAM salted keys, never plaintext)
	Created int64  // unix nanoseconds, stamped by the proposer
}

// SetSecret replaces an account's credentials. It fails with ErrNotFound if
// the account does not exist.
type SetSecret struct {
	Name   string
	Secret []byte
}

// DeleteAccount removes an account and every key held under that user
// (offline messages, and later roster data). It fails with ErrNotFound if the
// account does not exist.
type DeleteAccount struct {
	Name string
}

// StoreOffline stores a message for later delivery to User. It fails with
// ErrNotFound if the account does not exist and with ErrOfflineFull when User
// already holds Limit messages. On success Result.Seq is the message's
// sequence number: per user, starting at 1, strictly increasing.
type StoreOffline struct {
	User   string // bare JID of the recipient
	From   string // JID of the sender, as the router saw it
	Stanza []byte // serialized XML, stored as given
	At     int64  // unix nanoseconds, stamped by the proposer
	// Limit is the cap in force for this command. Zero means "the node's
	// Config.OfflineLimit": Propose fills it in, so that every replica applies
	// the same cap whatever its local configuration. A zero reaching Apply
	// means DefaultOfflineLimit.
	Limit uint32
}

// DeleteOffline removes User's offline messages with Seq <= UpTo, typically
// after they were delivered. Result.Removed counts them. It fails with
// ErrNotFound if the account does not exist.
type DeleteOffline struct {
	User string
	UpTo uint64
}

// The catalogue rows of the account and offline-message commands.
var _ = register(
	row{TypeCreateAccount, "create-account", func(d *decoder) Command {
		return CreateAccount{Name: d.string(), Secret: d.bytes(), Created: d.varint()}
	}},
	row{TypeSetSecret, "set-secret", func(d *decoder) Command {
		return SetSecret{Name: d.string(), Secret: d.bytes()}
	}},
	row{TypeDeleteAccount, "delete-account", func(d *decoder) Command {
		return DeleteAccount{Name: d.string()}
	}},
	row{TypeStoreOffline, "store-offline", func(d *decoder) Command {
		return StoreOffline{User: d.string(), From: d.string(), Stanza: d.bytes(), At: d.varint(), Limit: d.uint32()}
	}},
	row{TypeDeleteOffline, "delete-offline", func(d *decoder) Command {
		return DeleteOffline{User: d.string(), UpTo: d.uvarint()}
	}},
)

func (c CreateAccount) encode(b []byte) []byte {
	b = appendString(b, c.Name)
	b = appendString(b, string(c.Secret))
	return binary.AppendVarint(b, c.Created)
}

func (c SetSecret) encode(b []byte) []byte {
	return appendString(appendString(b, c.Name), string(c.Secret))
}

func (c DeleteAccount) encode(b []byte) []byte { return appendString(b, c.Name) }

func (c StoreOffline) encode(b []byte) []byte {
	b = appendString(b, c.User)
	b = appendString(b, c.From)
	b = appendString(b, string(c.Stanza))
	b = binary.AppendVarint(b, c.At)
	return binary.AppendUvarint(b, uint64(c.Limit))
}

func (c DeleteOffline) encode(b []byte) []byte {
	return binary.AppendUvarint(appendString(b, c.User), c.UpTo)
}

func (CreateAccount) Type() CommandType { return TypeCreateAccount }
func (SetSecret) Type() CommandType     { return TypeSetSecret }
func (DeleteAccount) Type() CommandType { return TypeDeleteAccount }
func (StoreOffline) Type() CommandType  { return TypeStoreOffline }
func (DeleteOffline) Type() CommandType { return TypeDeleteOffline }

func (c CreateAccount) validate() error { return validName(c.Name) }
func (c SetSecret) validate() error     { return validName(c.Name) }
func (c DeleteAccount) validate() error { return validName(c.Name) }
func (c DeleteOffline) validate() error { return validName(c.User) }

func (c StoreOffline) validate() error {
	if err := validName(c.User); err != nil {
		return err
	}
	if len(c.Stanza) == 0 {
		return fmt.Errorf("%w: empty stanza", ErrInvalid)
	}
	return nil
}

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
