// Package consensus is Herald's replicated durable state: accounts, offline
// messages, roster items and versions, pending subscription requests and
// blocklists (XEP-0191) go through a Raft log (hashicorp/raft,
// raft-boltdb/v2 as log and stable store, raft.FileSnapshotStore) into a
// Pebble store, the FSM's state.
//
// Writes are commands: intents from a numbered, append-only catalogue
// (CommandType) carrying every input, the time included. Propose commits one
// and returns the FSM's typed Result or a domain error (ErrExists,
// ErrNotFound, ErrOfflineFull, ErrPendingFull, ErrBlocklistFull,
// *roster.SetError). Reads (Account, Accounts, Offline, Roster, Blocklist,
// Blocked...) go to the local Pebble directly.
//
// Without Config.ClusterAddr a Node is a single node that bootstraps itself
// on an in-memory Raft transport. With it, the Node is a cluster member:
//
//   - One TCP port (the cluster port, package consensus/mux) carries Raft's
//     traffic, a forwarding channel and a peer channel, told apart by the
//     connection's first byte. Every connection
//     starts with an HMAC-SHA256 challenge/response in both directions over
//     the shared Config.Secret; a peer that fails it is closed before a byte
//     reaches Raft (ErrAuth). The port is authenticated, not encrypted: keep
//     it on a private network.
//   - Propose on a follower forwards the encoded command to the leader, which
//     runs it as its own Propose and answers with the Result or the error
//     (identity kept for errors.Is/As); the follower returns once it has
//     applied the entry too. Join, Remove and Stepdown go the same way. When
//     no leader can be reached within a bounded wait (2 × (HeartbeatTimeout +
//     ElectionTimeout)) they fail with ErrNoQuorum, never hang.
//   - A node with Config.Bootstrap forms a new cluster; a node with
//     Config.Join asks a member to add it as a voter. WaitApplied lets a
//     node wait for a write made elsewhere (its Result.Index) before reading;
//     Status reports the membership and, on the leader, each follower's
//     progress.
//   - At every start a node presents its data directory's identity to the
//     cluster (a NodeIdentity entry, identity.go); once it has applied that
//     entry it has caught up (CaughtUp, WaitCaughtUp: everything committed
//     before it started is in its state). A node ID that comes back with
//     another identity is refused (ErrIdentity) until Remove forgets it.
//   - Join and Remove refuse a configuration without a live majority
//     (ErrUnsafe) unless forced (ForceJoin, ForceRemove).
//
// DESIGN.md says why the package is shaped as it is.
//
// # Invariants
//
//   - Apply is deterministic: it never reads the clock, draws random numbers
//     or does I/O other than one Pebble batch per Raft batch.
//   - That batch also records the applied log index, so the state and the
//     index move together; entries at or below it are skipped on replay.
//   - A command that fails changes nothing: each apply decides before it writes,
//     and a command whose apply panics has its writes dropped from the batch.
//   - The catalogue (catalogue.go) is one table: a numbered list of types and
//     one row (number, name, decoder) per type, registered by the command's
//     own file.
//   - A node never skips a command type it does not know: it halts at it
//     (ErrUnknownCommand) until restarted on a release that knows it. The
//     leader refuses, before proposing, a type above some member's feature
//     level (ErrUnsupported; feature.go).
//   - Command encodings are frozen by testdata/commands/*.golden; command
//     numbers are never reused or renumbered.
//   - Every Pebble key is defined in keys.go; the schema version is checked at
//     Open (ErrSchema).
//   - Pebble commits with NoSync; the bolt log is fsync'd per commit and is
//     the durable record. Before Raft may compact its log, the FSM's Snapshot
//     syncs Pebble, so no entry whose effect could be lost leaves the log.
//   - Only Node.lead (forward.go) decides where an operation runs: Propose,
//     Join, Remove and Stepdown go through it. A request is sent again to a
//     new leader when it is known not to have been proposed, or when it is a
//     keyed write (keyed.go: an idempotency key whose outcome Apply keeps),
//     so one Propose never applies a command twice. A forwarded write
//     carries its deadline; the leader refuses it once past. Every failed
//     write is ErrNotApplied or ErrOutcomeUnknown.
//   - The cluster port hands a connection to Raft, the forwarding server or
//     the peer channel only after the dialer proved it knows the secret.
//   - The peer channel (mux.Peers, started by SetPeerHandler) carries opaque
//     node-to-node messages outside Raft (the delivery layer's session
//     tables): SendPeer never blocks, messages to one peer keep their order,
//     PeerUp reports every (re)connection and PeerDown a peer gone for
//     longer than a short grace or out of the configuration.
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
// A cluster (every node gets the same Secret; node IDs are stable names):
//
//	n1, err := consensus.Open(consensus.Config{Dir: d1, NodeID: "n1", ClusterAddr: "10.0.0.1:7422",
//		Secret: secret, Bootstrap: true})
//	n2, err := consensus.Open(consensus.Config{Dir: d2, NodeID: "n2", ClusterAddr: "10.0.0.2:7422",
//		Secret: secret, Join: []string{"10.0.0.1:7422"}})
//	res, err := n2.Propose(ctx, cmd)           // forwarded to the leader; applied on n2 when it returns
//	err = n3.WaitApplied(ctx, res.Index)       // n3 now sees the write too
//	if errors.Is(err, consensus.ErrNoQuorum) { ... } // no majority: the write was not made
//
// Backup and restore: Node.Snapshot writes a consistent copy of the state to
// any io.Writer while the node runs; RestoreDir loads such a copy into a new
// data directory, which Open then starts as a new single-node cluster; a
// cluster node needs Config.Bootstrap for that (ErrRestored otherwise), and
// the bootstrap hands the restored state to Raft as a snapshot, so that the
// nodes that join it later receive it.
package consensus
