package consensus

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Stored values start with a version byte so that a later schema can tell old
// records from new ones.
const valueVersion = 1

// version consumes a stored value's version byte.
func (d *decoder) version() error {
	if len(d.b) == 0 {
		return errShort
	}
	if d.b[0] != valueVersion {
		return fmt.Errorf("value version %d", d.b[0])
	}
	d.b = d.b[1:]
	return nil
}

// tx is the view a command's apply works on: an indexed Pebble batch, whose
// reads see the writes of the commands applied before it in the same batch.
type tx struct {
	b     *pebble.Batch
	index uint64 // the log index of the command being applied
}

// get returns a copy of the value at k; ok is false if k is absent.
func (t *tx) get(k []byte) (v []byte, ok bool, err error) { return get(t.b, k) }
