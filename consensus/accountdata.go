package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The account data services: private XML storage (XEP-0049) and the vCard
// (XEP-0054). Both keep serialized XML under the account, as given by the
// service, within a byte limit the command carries; both go with the
// account (DeleteAccount removes the user's whole span).

// Default limits, used when a command's Limit is zero.
const (
	// DefaultPrivateLimit bounds the private XML one account keeps, all
	// elements together (namespaces and names included).
	DefaultPrivateLimit = 64 << 10
	// DefaultVCardLimit bounds one account's serialized vCard, PHOTO
	// included.
	DefaultVCardLimit = 128 << 10
)

// ErrTooLarge is returned when a write would take an account's data past
// the limit the command carries. Nothing is written.
var ErrTooLarge = errors.New("consensus: account data over its limit")

// SetPrivate stores (or replaces) User's private XML element {Space}Local:
// XML is the element serialized. It fails with ErrNotFound if the account
// does not exist and with ErrTooLarge when the user's private XML would
// then hold more than Limit bytes (zero: DefaultPrivateLimit), counting
// every element's namespace, name and serialized form.
type SetPrivate struct {
	User  string
	Space string // the element's namespace
	Local string // the element's name
	XML   []byte
	Limit uint32
}

// SetVCard stores (or replaces) User's vCard, serialized. It fails with
// ErrNotFound if the account does not exist and with ErrTooLarge when XML
// is longer than Limit (zero: DefaultVCardLimit).
type SetVCard struct {
	User  string
	XML   []byte
	Limit uint32
}

// The catalogue rows of the account data commands.
var _ = register(
	row{TypeSetPrivate, "set-private", func(d *decoder) Command {
		return SetPrivate{User: d.string(), Space: d.string(), Local: d.string(), XML: d.bytes(), Limit: d.uint32()}
	}},
	row{TypeSetVCard, "set-vcard", func(d *decoder) Command {
		return SetVCard{User: d.string(), XML: d.bytes(), Limit: d.uint32()}
	}},
)

func (SetPrivate) Type() CommandType { return TypeSetPrivate }
func (SetVCard) Type() CommandType   { return TypeSetVCard }

func (c SetPrivate) encode(b []byte) []byte {
	b = appendString(b, c.User)
	b = appendString(b, c.Space)
	b = appendString(b, c.Local)
	b = appendString(b, string(c.XML))
	return binary.AppendUvarint(b, uint64(c.Limit))
}

func (c SetVCard) encode(b []byte) []byte {
	b = appendString(b, c.User)
	b = appendString(b, string(c.XML))
	return binary.AppendUvarint(b, uint64(c.Limit))
}

func (c SetPrivate) validate() error {
	if err := validName(c.User); err != nil {
		return err
	}
	for _, s := range []string{c.Space, c.Local} {
		if s == "" || strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return fmt.Errorf("%w: private element name {%s}%s", ErrInvalid, c.Space, c.Local)
		}
	}
	if len(c.XML) == 0 {
		return fmt.Errorf("%w: empty private element", ErrInvalid)
	}
	return nil
}

func (c SetVCard) validate() error {
	if err := validName(c.User); err != nil {
		return err
	}
	if len(c.XML) == 0 {
		return fmt.Errorf("%w: empty vCard", ErrInvalid)
	}
	return nil
}

// privateCost is what one private element counts against the limit.
func privateCost(space, local string, xml []byte) uint64 {
	return uint64(len(space) + len(local) + len(xml))
}

func limitOr(limit uint32, def uint64) uint64 {
	if limit == 0 {
		return def
	}
	return uint64(limit)
}

func (c SetPrivate) apply(t *tx) (Result, error) {
	if _, err := t.account(c.User); err != nil {
		return Result{}, err
	}
	total, err := t.privateSize(c.User)
	if err != nil {
		return Result{}, err
	}
	k := privateKey(c.User, c.Space, c.Local)
	old, ok, err := t.get(k)
	if err != nil {
		return Result{}, err
	}
	if ok {
		xml, err := decodeDocument(old)
		if err != nil {
			return Result{}, err
		}
		total -= min(total, privateCost(c.Space, c.Local, xml))
	}
	total += privateCost(c.Space, c.Local, c.XML)
	if limit := limitOr(c.Limit, DefaultPrivateLimit); total > limit {
		return Result{}, fmt.Errorf("%w: %q would keep %d bytes of private XML, the limit is %d", ErrTooLarge, c.User, total, limit)
	}
	if err := t.b.Set(k, encodeDocument(c.XML), nil); err != nil {
		return Result{}, err
	}
	return Result{}, t.b.Set(privateSizeKey(c.User), binary.AppendUvarint([]byte{valueVersion}, total), nil)
}

func (c SetVCard) apply(t *tx) (Result, error) {
	if _, err := t.account(c.User); err != nil {
		return Result{}, err
	}
	if limit := limitOr(c.Limit, DefaultVCardLimit); uint64(len(c.XML)) > limit {
		return Result{}, fmt.Errorf("%w: a vCard of %d bytes for %q, the limit is %d", ErrTooLarge, len(c.XML), c.User, limit)
	}
	return Result{}, t.b.Set(vcardKey(c.User), encodeDocument(c.XML), nil)
}

// privateSize returns the bytes the user's private XML counts.
func (t *tx) privateSize(user string) (uint64, error) {
	v, ok, err := t.get(privateSizeKey(user))
	if err != nil || !ok {
		return 0, err
	}
	d := decoder{b: v}
	if err := d.version(); err != nil {
		return 0, fmt.Errorf("%w: private size: %w", ErrCorrupt, err)
	}
	n := d.uvarint()
	if err := d.finish(); err != nil {
		return 0, fmt.Errorf("%w: private size: %w", ErrCorrupt, err)
	}
	return n, nil
}

// document record (private element, vCard): version | the XML as given
func encodeDocument(xml []byte) []byte {
	return append([]byte{valueVersion}, xml...)
}

func decodeDocument(v []byte) ([]byte, error) {
	d := decoder{b: v}
	if err := d.version(); err != nil {
		return nil, fmt.Errorf("%w: stored XML: %w", ErrCorrupt, err)
	}
	return d.b, nil
}

// Private returns the user's private XML element {space}local as stored;
// ok is false when there is none (or no such account).
func (n *Node) Private(user, space, local string) (xml []byte, ok bool, err error) {
	if err := validName(user); err != nil {
		return nil, false, err
	}
	return n.document(privateKey(user, space, local))
}

// VCard returns the user's vCard as stored; ok is false when there is
// none (or no such account).
func (n *Node) VCard(user string) (xml []byte, ok bool, err error) {
	if err := validName(user); err != nil {
		return nil, false, err
	}
	return n.document(vcardKey(user))
}

func (n *Node) document(k []byte) ([]byte, bool, error) {
	done, err := n.reading()
	if err != nil {
		return nil, false, err
	}
	defer done()
	v, ok, err := get(n.db, k)
	if err != nil || !ok {
		return nil, false, err
	}
	xml, err := decodeDocument(v)
	return xml, err == nil, err
}
