package consensus

import (
	"fmt"
	"reflect"
	"slices"
)

// CommandType numbers a command in the catalogue. The catalogue is append-only:
// a number, once released, keeps its meaning and its encoding forever, because
// Raft logs and snapshots written by older binaries are replayed by newer ones.
// Retire a command by leaving its number unused; never renumber.
type CommandType uint16

// The numbered list of command types, in order of release. Append only: a new
// service takes the next number here and adds its row (name, decode) to the
// catalogue from its own file with register. Encodings are frozen by
// testdata/commands/*.golden.
const (
	TypeCreateAccount CommandType = 1  // account.go
	TypeSetSecret     CommandType = 2  // account.go
	TypeDeleteAccount CommandType = 3  // account.go
	TypeStoreOffline  CommandType = 4  // account.go
	TypeDeleteOffline CommandType = 5  // account.go
	TypeRosterOp      CommandType = 6  // roster.go
	TypeNodeIdentity  CommandType = 7  // identity.go
	TypeKeyed         CommandType = 8  // keyed.go
	TypeBlockOp       CommandType = 9  // blocking.go
	TypeSetPrivate    CommandType = 10 // accountdata.go
	TypeSetVCard      CommandType = 11 // accountdata.go
)

// baseLevel is the feature level every Herald binary with a cluster port
// has known: the types of the catalogue as it stood before feature levels
// existed. A voter that does not state its level is taken to be at it.
const baseLevel = TypeRosterOp

// row is one entry of the catalogue: a command type's number, its name (as
// in the golden file names and the logs) and its decoder. Encoding, checking
// and applying are the command's own methods (Command), so the row and the
// type together are everything the package knows about a command.
type row struct {
	typ  CommandType
	name string
	// decode reads the fields after the type; the caller checks d.finish.
	decode func(d *decoder) Command
}

// catalogue maps every known command type to its row. It is filled at
// package initialisation by register and read-only afterwards.
var catalogue = map[CommandType]row{}

// register adds rows to the catalogue. It panics on a reused number or name:
// two commands sharing either is a programming error that must not start.
// It returns nothing useful so that a file can call it as
//
//	var _ = register(row{...}, ...)
func register(rows ...row) struct{} {
	for _, r := range rows {
		if r.typ == 0 || r.name == "" || r.decode == nil {
			panic(fmt.Sprintf("consensus: incomplete catalogue row %d %q", r.typ, r.name))
		}
		if old, ok := catalogue[r.typ]; ok {
			panic(fmt.Sprintf("consensus: command type %d registered twice (%s, %s)", r.typ, old.name, r.name))
		}
		for _, old := range catalogue {
			if old.name == r.name {
				panic(fmt.Sprintf("consensus: command name %q registered twice (%d, %d)", r.name, old.typ, r.typ))
			}
		}
		catalogue[r.typ] = r
	}
	return struct{}{}
}

// Types returns every command type of the catalogue, in order.
func Types() []CommandType {
	ts := make([]CommandType, 0, len(catalogue))
	for t := range catalogue {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// Level returns this binary's feature level: the highest command type it
// knows. Propose refuses a command type above the level of any voter (see
// feature.go).
func Level() CommandType {
	return slices.Max(Types())
}

// String returns the catalogue name of t, as used in the golden file names.
func (t CommandType) String() string {
	if r, ok := catalogue[t]; ok {
		return r.name
	}
	return fmt.Sprintf("command-%d", uint16(t))
}

// deref turns a pointer to a command into the command value; the method sets
// make *CreateAccount a Command too. A nil pointer yields nil.
func deref(c Command) Command {
	v := reflect.ValueOf(c)
	if !v.IsValid() {
		return nil
	}
	if v.Kind() != reflect.Pointer {
		return c
	}
	if v.IsNil() {
		return nil
	}
	if e, ok := v.Elem().Interface().(Command); ok {
		return e
	}
	return c
}
