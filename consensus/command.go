package consensus

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/heraldxmpp/herald/roster"
)

// maxNameLen bounds an account name: a bare JID is at most 1023 octets of
// localpart, '@', and 1023 octets of domainpart (RFC 7622 3.2, 3.3).
const maxNameLen = 1023 + 1 + 1023

// Command is one intent in the replicated log. It carries every input Apply
// needs, including the time, so that applying it is a pure function of the
// current state: Apply never reads the clock, draws random numbers or does I/O
// beyond the Pebble batch.
//
// The set of commands is closed: the implementations are the types with a
// row in the catalogue (catalogue.go), defined in their services' files
// (account.go, roster.go).
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

// What became of a write that failed without a domain outcome: every such
// error of Propose is one of these two (errors.Is), besides ErrInvalid.
var (
	// ErrNotApplied: the write was not made and will not be (nothing was
	// proposed, or the leader refused it before proposing, for example past
	// its deadline). Trying again is safe.
	ErrNotApplied = errors.New("consensus: not applied")
	// ErrOutcomeUnknown: the write may have been applied or not; Propose
	// could not find out before its deadline. Read before trying again.
	ErrOutcomeUnknown = errors.New("consensus: outcome unknown")
)

// ErrUnknownCommand is a command type this binary does not know: written by
// a newer binary. It is also an ErrCorrupt (errors.Is). Propose refuses it
// and a node that meets one in its log stops applying (see feature.go).
var ErrUnknownCommand error = unknownCommand{}

type unknownCommand struct{}

func (unknownCommand) Error() string        { return "consensus: unknown command type" }
func (unknownCommand) Is(target error) bool { return target == ErrCorrupt }

// notApplied and unknownOutcome mark an error with its class, keeping the
// error itself (and its sentinels) for errors.Is.
func notApplied(err error) error { return classed{err, ErrNotApplied} }

func unknownOutcome(err error) error { return classed{err, ErrOutcomeUnknown} }

type classed struct{ err, class error }

func (e classed) Error() string   { return e.err.Error() }
func (e classed) Unwrap() []error { return []error{e.err, e.class} }
