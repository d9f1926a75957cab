package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The Pebble store: opening it, its schema check, and point reads that
// Open, the snapshots and the reads share. The keys are in keys.go.

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

// get returns a copy of the value at k in db (the store, or a batch); ok is
// false when k is absent.
func get(db pebble.Reader, k []byte) (v []byte, ok bool, err error) {
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
