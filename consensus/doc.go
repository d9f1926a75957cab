// Package consensus is Herald's replicated durable state: accounts and
// offline messages (later roster items and pending subscription requests) go
// through a Raft log (hashicorp/raft, raft-boltdb/v2 as log and stable store,
// raft.FileSnapshotStore) into a Pebble store, the FSM's state.
//
// Writes are commands: intents from a numbered, append-only catalogue
// (CommandType) carrying every input, the time included. Propose commits one
// and returns the FSM's typed Result or a domain error (ErrExists,
// ErrNotFound, ErrOfflineFull). Reads (Account, Accounts, Offline) go to
// Pebble directly.
//
// Today a Node is a single node that bootstraps itself on an in-memory Raft
// transport; the shape is that of a cluster member: the transport is
// pluggable, and leader forwarding will live in Propose. DESIGN.md says why
// the package is shaped as it is.
//
// # Invariants
//
//   - Apply is deterministic: it never reads the clock, draws random numbers
//     or does I/O other than one Pebble batch per Raft batch.
//   - That batch also records the applied log index, so the state and the
//     index move together; entries at or below it are skipped on replay.
//   - A command that fails changes nothing: each apply decides before it writes.
//   - Command encodings are frozen by testdata/commands/*.golden; command
//     numbers are never reused or renumbered.
//   - Every Pebble key is defined in keys.go; the schema version is checked at
//     Open (ErrSchema).
//   - Pebble commits with NoSync; the bolt log is fsync'd per commit and is
//     the durable record. Before Raft may compact its log, the FSM's Snapshot
//     syncs Pebble, so no entry whose effect could be lost leaves the log.
//   - Only Propose will ever ask who the leader is.
//
// # Usage
//
//	n, err := consensus.Open(consensus.Config{Dir: "/var/lib/herald", Logger: logger})
//	if err != nil { ... }
//	defer n.Close()
//	_, err = n.Propose(ctx, consensus.CreateAccount{Name: "alice@localhost", Secret: keys, Created: now.UnixNano()})
//	if errors.Is(err, consensus.ErrExists) { ... }
//	res, err := n.Propose(ctx, consensus.StoreOffline{User: "alice@localhost", From: from, Stanza: raw, At: now.UnixNano()})
//	msgs, err := n.Offline("alice@localhost") // later: deliver, then
//	_, err = n.Propose(ctx, consensus.DeleteOffline{User: "alice@localhost", UpTo: msgs[len(msgs)-1].Seq})
//
// Backup and restore: Node.Snapshot writes a consistent copy of the state to
// any io.Writer while the node runs; RestoreDir loads such a copy into a new
// data directory, which Open then starts as a new single-node cluster.
package consensus
