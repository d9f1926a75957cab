package consensus

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// Snapshot stream, used for Raft snapshots, Node.Snapshot backups and
// RestoreDir alike:
//
//	header   "HRLDSNAP" | uvarint streamVersion | uvarint schemaVersion
//	records  uvarint len(key) (> 0) | key | uvarint len(value) | value,
//	         in key order, every key in the keyspace (keys.go)
//	trailer  uvarint 0 | uvarint record count | CRC-32C (big-endian uint32)
//	         of every byte before it
//
// A reader rejects a different schema version, a truncated stream and a
// checksum mismatch before the restore is declared complete.
const (
	streamMagic   = "HRLDSNAP"
	streamVersion = 1

	maxStreamKey   = 64 << 10
	maxStreamValue = 64 << 20

	// restoreBatchBytes bounds the Pebble batches a restore writes.
	restoreBatchBytes = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// iterSource is a *pebble.DB or a *pebble.Snapshot.
type iterSource interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

// writeStream writes every key of src to w in the stream format.
func writeStream(w io.Writer, src iterSource) (err error) {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 256<<10)
	bw.WriteString(streamMagic)
	var scratch [2 * binary.MaxVarintLen64]byte
	bw.Write(binary.AppendUvarint(binary.AppendUvarint(scratch[:0], streamVersion), schemaVersion))

	it, err := src.NewIter(&pebble.IterOptions{LowerBound: keyspaceStart, UpperBound: keyspaceEnd})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}()
	var count uint64
	for it.First(); it.Valid(); it.Next() {
		if bytes.Equal(it.Key(), restoringKey) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		bw.Write(binary.AppendUvarint(scratch[:0], uint64(len(it.Key()))))
		bw.Write(it.Key())
		bw.Write(binary.AppendUvarint(scratch[:0], uint64(len(v))))
		if _, err := bw.Write(v); err != nil {
			return err
		}
		count++
	}
	if err := it.Error(); err != nil {
		return err
	}
	bw.Write(binary.AppendUvarint(binary.AppendUvarint(scratch[:0], 0), count))
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

// streamReader reads the stream format, checksumming as it goes.
type streamReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	buf []byte
}

func (s *streamReader) ReadByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err == nil {
		s.crc.Write([]byte{c})
	}
	return c, err
}

func (s *streamReader) uvarint() (uint64, error) {
	v, err := binary.ReadUvarint(s)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return v, err
}

// next reads n bytes; the slice is valid until the next call.
func (s *streamReader) next(n uint64) ([]byte, error) {
	if uint64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := io.ReadFull(s.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	s.crc.Write(b)
	return b, nil
}

// readStream checks r's header and calls fn for every record, then checks the
// trailer. fn must not retain its arguments.
func readStream(r io.Reader, fn func(k, v []byte) error) error {
	s := &streamReader{r: bufio.NewReaderSize(r, 256<<10), crc: crc32.New(castagnoli)}
	wrap := func(err error) error { return fmt.Errorf("%w: snapshot stream: %w", ErrCorrupt, err) }

	magic, err := s.next(uint64(len(streamMagic)))
	if err != nil || string(magic) != streamMagic {
		return wrap(errors.New("bad header"))
	}
	sv, err := s.uvarint()
	if err != nil {
		return wrap(err)
	}
	if sv != streamVersion {
		return wrap(fmt.Errorf("stream version %d", sv))
	}
	schema, err := s.uvarint()
	if err != nil {
		return wrap(err)
	}
	if schema != schemaVersion {
		return fmt.Errorf("%w: snapshot has schema %d, this binary %d", ErrSchema, schema, schemaVersion)
	}

	var count uint64
	for {
		kl, err := s.uvarint()
		if err != nil {
			return wrap(err)
		}
		if kl == 0 {
			break
		}
		if kl > maxStreamKey {
			return wrap(fmt.Errorf("key of %d bytes", kl))
		}
		k, err := s.next(kl)
		if err != nil {
			return wrap(err)
		}
		if k[0] == keyspaceStart[0] || k[0] >= keyspaceEnd[0] {
			return wrap(fmt.Errorf("key %q outside the keyspace", k))
		}
		k = bytes.Clone(k)
		vl, err := s.uvarint()
		if err != nil {
			return wrap(err)
		}
		if vl > maxStreamValue {
			return wrap(fmt.Errorf("value of %d bytes", vl))
		}
		v, err := s.next(vl)
		if err != nil {
			return wrap(err)
		}
		if err := fn(k, v); err != nil {
			return err
		}
		count++
	}
	want, err := s.uvarint()
	if err != nil {
		return wrap(err)
	}
	if want != count {
		return wrap(fmt.Errorf("%d records, trailer says %d", count, want))
	}
	sum := s.crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(s.r, tail[:]); err != nil {
		return wrap(fmt.Errorf("checksum: %w", err))
	}
	if binary.BigEndian.Uint32(tail[:]) != sum {
		return wrap(errors.New("checksum mismatch"))
	}
	if _, err := s.r.ReadByte(); err != io.EOF {
		return wrap(errors.New("data after the trailer"))
	}
	return nil
}

// restoreInto replaces db's whole keyspace with the stream r and records
// applied as the applied index.
//
// The stream's own applied index is dropped: it counts entries of the log the
// stream was taken from, which need not be this node's log (a backup restored
// into a new cluster, or Raft's user restore). The caller passes what it knows
// to be safe: the Raft snapshot's index when it has it, else zero. Zero means
// "skip nothing", which is right because Raft itself never hands the FSM an
// entry the snapshot already covers.
//
// The restore is marked in Pebble before the old state is wiped and unmarked
// in the final, synced batch. A process that dies in between leaves the
// marker, and Open redoes the restore from Raft's latest snapshot instead of
// serving half a state.
func restoreInto(db *pebble.DB, r io.Reader, applied uint64) error {
	b := db.NewBatch()
	defer func() { _ = b.Close() }()
	b.DeleteRange(keyspaceStart, keyspaceEnd, nil)
	b.Set(schemaKey, be32(schemaVersion), nil)
	b.Set(restoringKey, nil, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("consensus: restore: wipe: %w", err)
	}
	_ = b.Close()
	b = db.NewBatch()

	err := readStream(r, func(k, v []byte) error {
		switch {
		case bytes.Equal(k, appliedKey), bytes.Equal(k, schemaKey), bytes.Equal(k, restoringKey):
			return nil
		}
		if err := b.Set(k, v, nil); err != nil {
			return err
		}
		if b.Len() < restoreBatchBytes {
			return nil
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		_ = b.Close()
		b = db.NewBatch()
		return nil
	})
	if err != nil {
		return fmt.Errorf("consensus: restore: %w", err)
	}
	b.Set(appliedKey, be64(applied), nil)
	b.Delete(restoringKey, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("consensus: restore: %w", err)
	}
	return nil
}

// Snapshot writes a consistent, point-in-time copy of the whole state to w in
// the snapshot stream format, for online backup. It does not block writers.
// RestoreDir loads such a stream into a new data directory.
func (n *Node) Snapshot(w io.Writer) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return ErrClosed
	}
	s := n.db.NewSnapshot()
	defer s.Close()
	return writeStream(w, s)
}

// RestoreDir prepares a new data directory from a stream written by
// Node.Snapshot, before Open. dir must not hold a Raft log or state already
// (an interrupted RestoreDir may be rerun). The restored node starts a new
// Raft history: its applied index is reset to zero, the node identities of
// the old cluster are forgotten, and Open with Bootstrap (implied for a
// single node) bootstraps a fresh single-node cluster on top of the restored
// state and hands that state to Raft as a snapshot (seedLog), so that the
// nodes joining it later receive it.
func RestoreDir(dir string, r io.Reader) error {
	raftDir, stateDir := filepath.Join(dir, "raft"), filepath.Join(dir, "state")
	if ents, err := os.ReadDir(raftDir); err == nil && len(ents) > 0 {
		return fmt.Errorf("consensus: restore: %s already holds a raft log", raftDir)
	}
	db, fresh, err := openState(stateDir, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if !fresh {
		_, restoring, err := get(db, restoringKey)
		if err == nil && !restoring {
			err = fmt.Errorf("consensus: restore: %s already holds state", stateDir)
		}
		if err != nil {
			return errors.Join(err, db.Close())
		}
	}
	err = restoreInto(db, r, 0)
	if err == nil {
		// The restored state starts a new cluster: its nodes present
		// their identities afresh (identity.go).
		err = forgetIdentities(db)
	}
	return errors.Join(err, db.Close())
}

// checkRestored refuses to start a cluster node whose state holds data but
// whose Raft log is empty (a directory RestoreDir filled) when it is told
// neither to bootstrap nor to join: no leader would ever add it, and Open
// would only time out waiting for one.
func (n *Node) checkRestored(raftState bool) error {
	cfg := n.cfg
	if raftState || cfg.ClusterAddr == "" || cfg.Bootstrap || len(cfg.Join) > 0 {
		return nil
	}
	data, err := n.holdsData()
	if err != nil || !data {
		return err
	}
	return fmt.Errorf("%w: %s holds state but no Raft log: "+
		"bootstrap this node to form a new cluster holding that state, "+
		"or empty the directory to join an existing cluster", ErrRestored, cfg.Dir)
}

// ErrRestored is returned by Open for a restored directory that is told
// neither to bootstrap nor to join (see checkRestored).
var ErrRestored = errors.New("consensus: restored state needs a bootstrap")

// holdsData reports whether the state holds any account.
func (n *Node) holdsData() (bool, error) {
	it, err := n.db.NewIter(&pebble.IterOptions{LowerBound: usersStart, UpperBound: usersEnd})
	if err != nil {
		return false, err
	}
	data := it.First()
	return data, errors.Join(it.Error(), it.Close())
}

// seedLog runs on a node that has just bootstrapped a new Raft history on
// a restored state: the state is in Pebble but in no log entry and no Raft
// snapshot, so a node joining later would get an empty log and none of it.
// It hands the state to Raft as a user snapshot (raft.Restore), which puts
// it in the snapshot store and leaves a hole in the log, so that every
// joining node is sent the snapshot first.
func (n *Node) seedLog() error {
	f, err := os.CreateTemp(filepath.Join(n.cfg.Dir, "raft"), "seed-*")
	if err != nil {
		return fmt.Errorf("consensus: seed the log: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := n.Snapshot(f); err != nil {
		return fmt.Errorf("consensus: seed the log: %w", err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("consensus: seed the log: %w", err)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: size}
	if err := n.raft.Restore(meta, f, n.cfg.ApplyTimeout); err != nil {
		return fmt.Errorf("consensus: seed the log with the restored state: %w", err)
	}
	n.log.Info("consensus: restored state handed to Raft as a snapshot; joining nodes receive it", "bytes", size)
	return nil
}
