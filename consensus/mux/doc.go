// Package mux is Herald's cluster port: one TCP listener whose connections
// are told apart by their first byte (the channel: 'R' Raft, 'F' the
// forwarding of operations to the leader, 'P' the peer channel) and
// authenticated, in both directions, by an HMAC-SHA256 challenge/response
// over the shared cluster secret before a byte reaches the channel's owner.
// The model is rqlite's tcp mux: one port, several protocols.
//
// The package knows connections, frames and message ids; it does not know
// what the messages mean. Package consensus gives the Raft channel to
// hashicorp/raft (RaftLayer), encodes what travels on the forwarding
// channel (Client, Serve) and runs the peer channel over Dial and the
// frames.
//
// # Invariants
//
//   - A connection reaches Raft, a Serve handler or the peer channel only
//     after the dialer proved it knows the secret (ErrAuth otherwise, and a
//     counter: AuthFailures). The port authenticates, it does not encrypt.
//   - At most 64 handshakes run at once; each is bounded by HandshakeTimeout.
//   - Frames are a uint32 length and at most MaxFrame bytes (ErrFrame).
//   - On the forwarding channel a connection carries numbered requests and
//     answers in any order; a connection has one reader and one writer, at
//     most Queue frames queued and Queue requests running on the server, so
//     a flood is pushed back into TCP, not memory. A Send that returns an
//     error did not send its request (ErrNotSent).
//   - Close (and Isolate, for tests of partitions) cuts every connection
//     the port made or accepted.
//
// Log lines keep the "consensus:" prefix they had before the port was split
// out of package consensus: operators and tests match them ("consensus:
// peer up"), and the port is part of the consensus subsystem to them.
//
// # Usage
//
//	cn, err := mux.Listen("10.0.0.1:7422", "", secret, logger)
//	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: cn.RaftLayer(), ...})
//	cn.Start(func(c net.Conn) { mux.Serve(c, handler, logger) }, servePeer)
//	client := mux.NewClient(func(ctx context.Context, addr string) (net.Conn, error) {
//		return cn.Dial(ctx, addr, mux.ChanForward)
//	})
//	p, err := client.Send(ctx, leaderAddr, payload)
//	answer := <-p.Reply()
package mux
