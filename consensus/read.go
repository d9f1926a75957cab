package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

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

// WaitApplied waits until this node's state includes the log entry at index,
// typically the Result.Index of a write made through another node, so that
// reads here see that write. On the node that made the write it returns at
// once. It fails with ErrTimeout when ctx ends first, and with ErrClosed.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		ch := n.fsm.watch()
		if n.fsm.appliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: index %d not applied (at %d): %w", ErrTimeout, index, n.fsm.appliedIndex(), ctx.Err())
		case <-n.done:
			return ErrClosed
		}
	}
}
