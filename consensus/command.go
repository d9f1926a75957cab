package consensus

import (
	"errors"

	"fmt"
	"github.com/heraldxmpp/herald/roster"
	"strings"
	"unicode/utf8"
)

// CommandType numbers a command in the catalogue. The catalogue is append-only:
// a number, once released, keeps its meaning and its encoding forever, because
// Raft logs and snapshots written by older binaries are replayed by newer ones.
// Retire a command by leaving its number unused; never renumber.
type CommandType uint16

// The command catalogue. Encodings are frozen by testdata/commands/*.golden.
const (
	TypeCreateAccount CommandType = 1
	TypeSetSecret     CommandType = 2
	TypeDeleteAccount CommandType = 3
	TypeStoreOffline  CommandType = 4
	TypeDeleteOffline CommandType = 5
	// TypeRosterOp = 6 is declared in roster.go.
	// TypeNodeIdentity = 7 is declared in identity.go.
)

// String returns the catalogue name of t, as used in the golden file names.
func (t CommandType) String() string {
	switch t {
	case TypeCreateAccount:
		return "create-account"
	case TypeSetSecret:
		return "set-secret"
	case TypeDeleteAccount:
		return "delete-account"
	case TypeStoreOffline:
		return "store-offline"
	case TypeDeleteOffline:
		return "delete-offline"
	case TypeRosterOp:
		return "roster-op"
	case TypeNodeIdentity:
		return "node-identity"
	}
	return fmt.Sprintf("command-%d", uint16(t))
}

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
// The set of commands is closed: the implementations are the types below.
type Command interface {
	// Type returns the command's number in the catalogue.
	Type() CommandType
	// validate checks the inputs without looking at state. It runs in Propose
	// (to fail fast) and again in Apply (the log is not trusted blindly).
	validate() error
	// apply computes the new state into tx. It must not write before it has
	// decided to succeed, so that a failing command leaves the batch untouched.
	apply(tx *tx) (Result, error)
}

// deref turns a pointer to a command into the command value; the method sets
// make *CreateAccount a Command too. A nil pointer yields nil.
func deref(c Command) Command {
	switch p := c.(type) {
	case *CreateAccount:
		if p != nil {
			return *p
		}
	case *SetSecret:
		if p != nil {
			return *p
		}
	case *DeleteAccount:
		if p != nil {
			return *p
		}
	case *StoreOffline:
		if p != nil {
			return *p
		}
	case *DeleteOffline:
		if p != nil {
			return *p
		}
	case *RosterOp:
		if p != nil {
			return *p
		}
	case *NodeIdentity:
		if p != nil {
			return *p
		}
	default:
		return c
	}
	return nil
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
