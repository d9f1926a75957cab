package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Wire format of a command (frozen by testdata/commands/*.golden):
//
//	byte 0      encoding version, currently 1
//	bytes 1..2  CommandType, big-endian uint16
//	fields      in declaration order:
//	            string, []byte  uvarint length, then the octets
//	            int64           zig-zag varint (binary.AppendVarint)
//	            uint64, uint32  uvarint
//
// Decoding is strict, so that every accepted input has exactly one encoding:
// unknown versions and types, truncated or trailing bytes, and non-minimal
// varints are errors. Decode never panics.
const encodingVersion = 1

// Encode returns the wire form of c (a command or a pointer to one).
func Encode(c Command) []byte {
	c = deref(c)
	b := make([]byte, 0, 64)
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(c.Type()))
	return c.encode(b)
}

// Decode parses the wire form of a command. A command type this binary does
// not know is ErrUnknownCommand (also an ErrCorrupt).
func Decode(b []byte) (Command, error) {
	if len(b) < 3 {
		return nil, fmt.Errorf("%w: command of %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != encodingVersion {
		return nil, fmt.Errorf("%w: command encoding version %d", ErrCorrupt, b[0])
	}
	t := CommandType(binary.BigEndian.Uint16(b[1:3]))
	r, ok := catalogue[t]
	if !ok {
		return nil, fmt.Errorf("%w: type %d", ErrUnknownCommand, uint16(t))
	}
	d := decoder{b: b[3:]}
	c := r.decode(&d)
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, t, err)
	}
	return c, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShort = errors.New("truncated")

// decoder reads fields front to back; the first error sticks and later reads
// return zero values, so a decode is a straight line with one check at the end.
// It is shared by the command and the stored-value encodings.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		if n < 0 {
			d.err = errors.New("varint overflows 64 bits")
		}
		return 0
	}
	if n != uvarintLen(v) {
		d.err = errors.New("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	// Zig-zag, as binary.Varint does; decoding through uvarint keeps the
	// minimal-length check in one place.
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) uint32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 && d.err == nil {
		d.err = errors.New("value overflows 32 bits")
		return 0
	}
	return uint32(v)
}

// raw returns the next length-prefixed field, aliasing the input.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.raw()) }

// bytes returns a copy of the next field; empty fields decode as nil.
func (d *decoder) bytes() []byte {
	v := d.raw()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// finish reports the sticky error, or an error if input is left over.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
