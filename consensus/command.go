package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/heraldxmpp/herald/roster"
)

// DefaultOfflineLimit is the offline-message cap per user used when neither
// Config.OfflineLimit nor StoreOffline.Limit says otherwise.
const DefaultOfflineLimit = 1000

// maxNameLen bounds an account name: a bare JID is at most 1023 octets of
// localpart, '@', and 1023 octets of domainpart (RFC 7622 3.2, 3.3).
const maxNameLen = 1023 + 1 + 1023

// Command is one intent in the replicated log. It carries every input Apply
// needs, including the time, so that applying it is a pure function of the
// current state: Apply never reads the clock, draws random numbers or does I/O
// beyond the Pebble batch.
//
// The set of commands is closed: the implementations are the types with a
// row in the catalogue (catalogue.go); this file holds the account and
// offline-message commands.
type Command interface {
	// Type returns the command's number in the catalogue.
	Type() CommandType
	// validate checks the inputs without looking at state. It runs in Propose
	// (to fail fast) and again in Apply (the log is not trusted blindly).
	validate() error
	// apply computes the new state into tx. It must not write before it has
	// decided to succeed, so that a failing command leaves the batch untouched.
	apply(tx *tx) (Result, error)
	// encode appends the command's fields (after the type) to b, in the
	// order its row's decode reads them.
	encode(b []byte) []byte
}

// Result is the FSM's outcome of one applied command.
type Result struct {
	// Index is the Raft log index the command was applied at.
	Index uint64
	// Seq is the sequence number assigned by StoreOffline.
	Seq uint64
	// Removed is how many messages DeleteOffline removed.
	Removed uint64
	// Roster is what a RosterOp decided (the roster table's effect).
	Roster *roster.Effect
}

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

// validName checks that name can be an account key: a bare JID
// "local@domain" with both parts non-empty, valid UTF-8 and no NUL byte (NUL
// terminates the parts in the keyspace; XML cannot carry it anyway). Names are
// expected in canonical form already (delivery/jid); this is not a JID parser.
func validName(name string) error {
	local, domain, ok := strings.Cut(name, "@")
	switch {
	case !ok || local == "" || domain == "" || strings.Contains(domain, "@"):
		return fmt.Errorf("%w: account name %q is not local@domain", ErrInvalid, name)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: account name longer than %d octets", ErrInvalid, maxNameLen)
	case strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name):
		return fmt.Errorf("%w: account name %q has a NUL or invalid UTF-8", ErrInvalid, name)
	}
	return nil
}

// Errors returned by Propose and the reads. Domain errors come from Apply and
// mean the command was committed but changed nothing.
var (
	ErrExists      = errors.New("consensus: already exists")
	ErrNotFound    = errors.New("consensus: not found")
	ErrOfflineFull = errors.New("consensus: offline message store full")
	ErrInvalid     = errors.New("consensus: invalid command")
	ErrCorrupt     = errors.New("consensus: corrupt data")

	ErrNotLeader = errors.New("consensus: not the leader")
	ErrTimeout   = errors.New("consensus: timeout")
	ErrClosed    = errors.New("consensus: node closed")
	ErrSchema    = errors.New("consensus: schema version mismatch")
)

// ErrUnknownCommand is a command type this binary does not know: written by
// a newer binary. It is also an ErrCorrupt (errors.Is). Propose refuses it
// and a node that meets one in its log stops applying (see feature.go).
var ErrUnknownCommand error = unknownCommand{}

type unknownCommand struct{}

func (unknownCommand) Error() string        { return "consensus: unknown command type" }
func (unknownCommand) Is(target error) bool { return target == ErrCorrupt }
