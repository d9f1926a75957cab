package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldxmpp/herald/roster"
)

// RosterOp is every change to a roster, a subscription state or a pending
// inbound request (RFC 6121 2-3): one command whose Apply runs the roster
// table (roster.Step) against the stored record, so that two concurrent
// stanzas for the same pair are decided one after the other and neither
// update is lost. It fails with ErrNotFound when User has no account,
// with ErrPendingFull at the pending-request cap, and with a
// *roster.SetError for a roster set the RFC refuses.
type RosterOp struct {
	Op      uint8 // roster.OpKind
	User    string
	Contact string // a bare JID; it need not be an account here
	Name    string
	Groups  []string
	Sub     uint8  // roster.Kind
	Stanza  []byte // the inbound subscribe to keep as the pending request
	At      int64  // unix nanoseconds, stamped by the proposer
	// Limits in force, carried in the command so that every replica
	// applies the same ones.
	MaxItems   uint32
	MaxPending uint32
}

// ErrPendingFull is returned when a user already holds MaxPending
// inbound subscription requests.
var ErrPendingFull = errors.New("consensus: too many pending subscription requests")

// The catalogue row of the roster command.
var _ = register(row{TypeRosterOp, "roster-op", func(d *decoder) Command { return decodeRosterOp(d) }})

func (RosterOp) Type() CommandType { return TypeRosterOp }

func (c RosterOp) validate() error {
	if err := validName(c.User); err != nil {
		return err
	}
	if c.Contact == "" || len(c.Contact) > maxNameLen {
		return fmt.Errorf("%w: roster contact %q", ErrInvalid, c.Contact)
	}
	if c.Op < uint8(roster.OpSet) || c.Op > uint8(roster.OpIn) {
		return fmt.Errorf("%w: roster operation %d", ErrInvalid, c.Op)
	}
	return nil
}

func (c RosterOp) encode(b []byte) []byte {
	b = append(b, c.Op)
	b = appendString(b, c.User)
	b = appendString(b, c.Contact)
	b = appendString(b, c.Name)
	b = binary.AppendUvarint(b, uint64(len(c.Groups)))
	for _, g := range c.Groups {
		b = appendString(b, g)
	}
	b = append(b, c.Sub)
	b = appendString(b, string(c.Stanza))
	b = binary.AppendVarint(b, c.At)
	b = binary.AppendUvarint(b, uint64(c.MaxItems))
	return binary.AppendUvarint(b, uint64(c.MaxPending))
}

func decodeRosterOp(d *decoder) RosterOp {
	c := RosterOp{Op: d.byte(), User: d.string(), Contact: d.string(), Name: d.string()}
	n := d.uvarint()
	if n > 1<<16 {
		d.fail(errors.New("too many groups"))
		return c
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		c.Groups = append(c.Groups, d.string())
	}
	c.Sub = d.byte()
	c.Stanza = d.bytes()
	c.At = d.varint()
	c.MaxItems = d.uint32()
	c.MaxPending = d.uint32()
	return c
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errShort
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// rosterCounts are a user's numbers of visible roster items and pending
// requests, kept so that limits are checked without a scan.
type rosterCounts struct {
	ver, items, pending uint64
}

func (c rosterCounts) encode() []byte {
	b := []byte{valueVersion}
	b = binary.AppendUvarint(b, c.ver)
	b = binary.AppendUvarint(b, c.items)
	return binary.AppendUvarint(b, c.pending)
}

func decodeCounts(v []byte) (rosterCounts, error) {
	d := decoder{b: v}
	if err := d.version(); err != nil {
		return rosterCounts{}, fmt.Errorf("%w: roster counts: %w", ErrCorrupt, err)
	}
	c := rosterCounts{ver: d.uvarint(), items: d.uvarint(), pending: d.uvarint()}
	if err := d.finish(); err != nil {
		return rosterCounts{}, fmt.Errorf("%w: roster counts: %w", ErrCorrupt, err)
	}
	return c, nil
}

// item record: version | name | groups | sub | flags
const (
	flagPendingOut = 1 << iota
	flagPendingIn
	flagApproved
	flagRequestOnly
)

func encodeItem(it roster.Item) []byte {
	b := []byte{valueVersion}
	b = appendString(b, it.Name)
	b = binary.AppendUvarint(b, uint64(len(it.Groups)))
	for _, g := range it.Groups {
		b = appendString(b, g)
	}
	var f byte
	if it.State.PendingOut {
		f |= flagPendingOut
	}
	if it.State.PendingIn {
		f |= flagPendingIn
	}
	if it.State.Approved {
		f |= flagApproved
	}
	if it.RequestOnly {
		f |= flagRequestOnly
	}
	return append(b, byte(it.State.Sub), f)
}

func decodeItem(contact string, v []byte) (roster.Item, error) {
	d := decoder{b: v}
	if err := d.version(); err != nil {
		return roster.Item{}, fmt.Errorf("%w: roster item %q: %w", ErrCorrupt, contact, err)
	}
	it := roster.Item{JID: contact, Name: d.string()}
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		it.Groups = append(it.Groups, d.string())
	}
	it.State.Sub = roster.Subscription(d.byte())
	f := d.byte()
	it.State.PendingOut = f&flagPendingOut != 0
	it.State.PendingIn = f&flagPendingIn != 0
	it.State.Approved = f&flagApproved != 0
	it.RequestOnly = f&flagRequestOnly != 0
	if err := d.finish(); err != nil {
		return roster.Item{}, fmt.Errorf("%w: roster item %q: %w", ErrCorrupt, contact, err)
	}
	return it, nil
}

// PendingRequest is a stored inbound subscription request.
type PendingRequest struct {
	From   string
	Stanza []byte
	At     int64
}

func encodeRequest(stanza []byte, at int64) []byte {
	b := []byte{valueVersion}
	b = appendString(b, string(stanza))
	return binary.AppendVarint(b, at)
}

func decodeRequest(from string, v []byte) (PendingRequest, error) {
	d := decoder{b: v}
	if err := d.version(); err != nil {
		return PendingRequest{}, fmt.Errorf("%w: pending request: %w", ErrCorrupt, err)
	}
	r := PendingRequest{From: from, Stanza: d.bytes(), At: d.varint()}
	if err := d.finish(); err != nil {
		return PendingRequest{}, fmt.Errorf("%w: pending request: %w", ErrCorrupt, err)
	}
	return r, nil
}

func (t *tx) rosterCounts(user string) (rosterCounts, error) {
	v, ok, err := t.get(rosterCountsKey(user))
	if err != nil || !ok {
		return rosterCounts{}, err
	}
	return decodeCounts(v)
}

func (c RosterOp) apply(t *tx) (Result, error) {
	if _, err := t.account(c.User); err != nil {
		return Result{}, err
	}
	counts, err := t.rosterCounts(c.User)
	if err != nil {
		return Result{}, err
	}
	ik := rosterItemKey(c.User, c.Contact)
	var cur roster.Item
	v, found, err := t.get(ik)
	if err != nil {
		return Result{}, err
	}
	if found {
		if cur, err = decodeItem(c.Contact, v); err != nil {
			return Result{}, err
		}
	}
	op := roster.Op{Kind: roster.OpKind(c.Op), User: c.User, Contact: c.Contact,
		Name: c.Name, Groups: c.Groups, Sub: roster.Kind(c.Sub)}
	lim := roster.Limits{MaxItems: int(c.MaxItems)}
	eff, serr := roster.Step(op, cur, found, counts.ver, int(counts.items), lim)
	if serr != nil {
		return Result{}, serr
	}
	rk := rosterRequestKey(c.User, c.Contact)
	_, hasReq, err := t.get(rk)
	if err != nil {
		return Result{}, err
	}
	maxPending := uint64(c.MaxPending)
	if eff.KeepRequest && !hasReq && maxPending > 0 && counts.pending >= maxPending {
		return Result{}, fmt.Errorf("%w: %q holds %d", ErrPendingFull, c.User, counts.pending)
	}
	// Decided: write everything in this batch.
	wasVisible := found && !cur.RequestOnly
	isVisible := !eff.Delete && !eff.After.RequestOnly
	switch {
	case wasVisible && !isVisible:
		counts.items--
	case !wasVisible && isVisible:
		counts.items++
	}
	if eff.Delete {
		if found {
			if err := t.b.Delete(ik, nil); err != nil {
				return Result{}, err
			}
		}
	} else if err := t.b.Set(ik, encodeItem(eff.After), nil); err != nil {
		return Result{}, err
	}
	switch {
	case eff.KeepRequest && !hasReq:
		// RFC 6121 3.1.3: the first request is kept with its extensions.
		if err := t.b.Set(rk, encodeRequest(c.Stanza, c.At), nil); err != nil {
			return Result{}, err
		}
		counts.pending++
	case eff.DropRequest && hasReq:
		if err := t.b.Delete(rk, nil); err != nil {
			return Result{}, err
		}
		counts.pending--
	}
	counts.ver = eff.Ver
	if err := t.b.Set(rosterCountsKey(c.User), counts.encode(), nil); err != nil {
		return Result{}, err
	}
	return Result{Roster: &eff}, nil
}

// Roster returns the user's roster records (visible items and bare
// pending-request records, see roster.Item.RequestOnly) and the roster
// version.
func (n *Node) Roster(user string) ([]roster.Item, uint64, error) {
	if err := validName(user); err != nil {
		return nil, 0, err
	}
	done, err := n.reading()
	if err != nil {
		return nil, 0, err
	}
	defer done()
	var ver uint64
	if v, ok, err := get(n.db, rosterCountsKey(user)); err != nil {
		return nil, 0, err
	} else if ok {
		c, err := decodeCounts(v)
		if err != nil {
			return nil, 0, err
		}
		ver = c.ver
	}
	var items []roster.Item
	err = n.scan(rosterItemPrefix(user), func(contact string, v []byte) error {
		it, err := decodeItem(contact, v)
		items = append(items, it)
		return err
	})
	return items, ver, err
}

// RosterItem returns one record of the user's roster.
func (n *Node) RosterItem(user, contact string) (roster.Item, bool, error) {
	if err := validName(user); err != nil {
		return roster.Item{}, false, err
	}
	done, err := n.reading()
	if err != nil {
		return roster.Item{}, false, err
	}
	defer done()
	v, ok, err := get(n.db, rosterItemKey(user, contact))
	if err != nil || !ok {
		return roster.Item{}, false, err
	}
	it, err := decodeItem(contact, v)
	return it, err == nil, err
}

// PendingRequests returns the user's stored inbound subscription
// requests, ordered by contact.
func (n *Node) PendingRequests(user string) ([]PendingRequest, error) {
	if err := validName(user); err != nil {
		return nil, err
	}
	done, err := n.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	var out []PendingRequest
	err = n.scan(rosterRequestPrefix(user), func(from string, v []byte) error {
		r, err := decodeRequest(from, v)
		out = append(out, r)
		return err
	})
	return out, err
}

// scan calls fn for every key under prefix with the rest of the key.
func (n *Node) scan(prefix []byte, fn func(rest string, v []byte) error) error {
	it, err := n.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(string(it.Key()[len(prefix):]), v)
		}
		if err != nil {
			return errors.Join(err, it.Close())
		}
	}
	return errors.Join(it.Error(), it.Close())
}
