package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// openState opens the Pebble store in dir and checks its schema version. A
// store without a single key is new (fresh): Open writes the schema version
// into it. A store of another schema version, or one with data but no
// version, is refused with ErrSchema.
func openState(dir string, fs vfs.FS, log *slog.Logger) (db *pebble.DB, fresh bool, err error) {
	opts := &pebble.Options{Logger: pebbleLogger{log}}
	if fs != nil {
		opts.FS = fs
	}
	db, err = pebble.Open(dir, opts)
	if err != nil {
		return nil, false, fmt.Errorf("consensus: open state: %w", err)
	}
	fresh, err = checkSchema(db)
	if err != nil {
		return nil, false, errors.Join(fmt.Errorf("consensus: %s: %w", dir, err), db.Close())
	}
	return db, fresh, nil
}

func checkSchema(db *pebble.DB) (fresh bool, err error) {
	v, ok, err := get(db, schemaKey)
	switch {
	case err != nil:
		return false, err
	case ok && len(v) == 4 && binary.BigEndian.Uint32(v) == schemaVersion:
		return false, nil
	case ok && len(v) == 4:
		return false, fmt.Errorf("%w: store has schema %d, this binary %d", ErrSchema, binary.BigEndian.Uint32(v), schemaVersion)
	case ok:
		return false, fmt.Errorf("%w: schema key of %d bytes", ErrSchema, len(v))
	}
	it, err := db.NewIter(nil)
	if err != nil {
		return false, err
	}
	empty := !it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return false, err
	}
	if !empty {
		return false, fmt.Errorf("%w: store holds data but no schema version", ErrSchema)
	}
	return true, db.Set(schemaKey, be32(schemaVersion), pebble.Sync)
}

// get returns a copy of the value at k; ok is false when k is absent.
func get(db *pebble.DB, k []byte) (v []byte, ok bool, err error) {
	v, closer, err := db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = bytes.Clone(v)
	return v, true, closer.Close()
}

func getUint64(db *pebble.DB, k []byte) (uint64, bool, error) {
	v, ok, err := get(db, k)
	if err != nil || !ok {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("%w: %q holds %d bytes", ErrCorrupt, k, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// The reads below go to Pebble directly. On a single node they see every
// write whose Propose has returned, because Apply has committed it to Pebble
// before Raft answers the proposer. On a follower of a future cluster they may
// lag the leader by the replication delay, and while the follower installs a
// snapshot from the leader they may see part of the old or the new state.

// reading takes the read lock for one read; the returned func releases it.
func (n *Node) reading() (func(), error) {
	n.mu.RLock()
	if n.closed {
		n.mu.RUnlock()
		return nil, ErrClosed
	}
	return n.mu.RUnlock, nil
}

// Account returns the account name (a bare JID), or ErrNotFound.
func (n *Node) Account(name string) (Account, error) {
	if err := validName(name); err != nil {
		return Account{}, err
	}
	done, err := n.reading()
	if err != nil {
		return Account{}, err
	}
	defer done()
	v, ok, err := get(n.db, accountKey(name))
	if err != nil {
		return Account{}, err
	}
	if !ok {
		return Account{}, fmt.Errorf("%w: account %q", ErrNotFound, name)
	}
	return decodeAccount(name, v)
}

// Accounts returns the names of all accounts in domain, or of all accounts
// when domain is empty, sorted.
func (n *Node) Accounts(domain string) ([]string, error) {
	if strings.ContainsAny(domain, "\x00@") {
		return nil, fmt.Errorf("%w: domain %q", ErrInvalid, domain)
	}
	done, err := n.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	lo, hi := usersStart, usersEnd
	if domain != "" {
		lo = domainPrefix(domain)
		hi = prefixEnd(lo)
	}
	it, err := n.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	var names []string
	// The account record sorts first under each user prefix; after reading
	// it, skip the user's other keys (offline messages) with one seek.
	for valid := it.First(); valid; {
		name, kind, _, ok := parseUserKey(it.Key())
		if !ok {
			return nil, errors.Join(fmt.Errorf("%w: key %q", ErrCorrupt, it.Key()), it.Close())
		}
		if kind == kindAccount {
			names = append(names, name)
		}
		valid = it.SeekGE(prefixEnd(userPrefix(name)))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, err
	}
	if domain == "" {
		// Keys order users by domain first; callers want name order.
		slices.Sort(names)
	}
	return names, nil
}

// Offline returns user's stored offline messages in arrival (Seq) order, or
// ErrNotFound if the account does not exist.
func (n *Node) Offline(user string) ([]OfflineMessage, error) {
	if err := validName(user); err != nil {
		return nil, err
	}
	done, err := n.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	// One iterator over the user's prefix reads the account and the messages
	// from the same point in time.
	p := userPrefix(user)
	it, err := n.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	found := false
	msgs := []OfflineMessage{}
	for it.First(); it.Valid(); it.Next() {
		_, kind, rest, ok := parseUserKey(it.Key())
		switch {
		case !ok:
			err = fmt.Errorf("%w: key %q", ErrCorrupt, it.Key())
		case kind == kindAccount:
			found = true
		case kind == kindOffline && len(rest) == 8:
			var v []byte
			if v, err = it.ValueAndErr(); err == nil {
				var m OfflineMessage
				m, err = decodeOffline(binary.BigEndian.Uint64(rest), v)
				msgs = append(msgs, m)
			}
		}
		if err != nil {
			return nil, errors.Join(err, it.Close())
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: account %q", ErrNotFound, user)
	}
	return msgs, nil
}
