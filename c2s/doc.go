// Package c2s is the client side of the server: it accepts client
// connections (STARTTLS on one listener, direct TLS as XEP-0368 on
// another), negotiates each stream (RFC 6120 4 to 7: TLS, SASL through
// c2s/sasl, resource binding) and then carries the stanzas of the bound
// resource to and from the delivery router. Messages stored for an account
// while it had no available resource are replayed to the first resource
// that sends initial presence (XEP-0160, stamped as XEP-0203 says).
//
// # States
//
// A session moves one way through its states; the stream is restarted
// (RFC 6120 4.3.3) after TLS and after SASL, never after binding:
//
//	stateTLS   STARTTLS required (skipped with direct TLS or AllowPlaintext)
//	stateAuth  SASL: SCRAM-SHA-256/-1 with and without -PLUS, PLAIN over TLS
//	stateBind  authenticated: bind a resource (RFC 6120 7)
//	stateReady a connected resource: stanzas flow, the session is a
//	           delivery.Sink in the registry
//
// Anything out of place in a state is the stream error RFC 6120 names for
// it; the stream then ends (4.9.1.1). A read error becomes what the client
// is owed through xmlstream.ReadError, the one translation c2s and s2s
// share.
//
// # Invariants
//
//   - One reader goroutine per session owns the session's fields. It
//     negotiates, and once a resource is bound hands the reading to a fresh
//     goroutine and exits, so the large stack the TLS handshake and SCRAM
//     grew is not kept by an idle session.
//   - Before binding only the reader writes, directly. From binding on,
//     everything goes through the session's xmlstream.Writer, whose writer
//     goroutine exists only while there is something to write; an idle
//     session pins no writer goroutine and, as the decoder returns its
//     read buffer to a pool between stanzas, no buffers.
//   - Nothing waits for a client: a delivery is serialized into the
//     session's queue at once. A client with more than Config.MaxQueue
//     bytes waiting, or whose write blocks for Config.WriteTimeout, is
//     disconnected (writer.go says what is dropped).
//   - A stored message leaves storage (OfflineQueue.Ack) only once it was
//     written to the client's connection and the connection was not cut
//     (write timeout, queue full) after it. Replay goes in batches of at most MaxQueue/4 bytes, one
//     after the other, so it never fills the queue by itself; one resource
//     of an account replays at a time. A client cut off mid-replay gets
//     the rest at its next login; a message of the batch in flight may
//     then arrive twice, none is lost.
//   - Every stanza's 'from' is stamped by the server (RFC 6120 8.1.2.1).
//
// # Stream Management (XEP-0198)
//
// sm.go offers urn:xmpp:sm:3 after SASL. Once a bound client sends
// <enable/>, every stanza queued to it (routed stanzas and replayed
// offline messages alike) is counted under one lock with its place in
// the writer's queue, so h counts exactly the stanzas queued after
// <enabled/>; stanzas from the client are counted once handled, and <r/>
// is answered with that count. An <a/> acknowledging more than was sent
// ends the stream (XEP-0198 5). Resumption is not offered yet: <enabled/>
// carries no id, and unacknowledged stanzas are not yet stored or
// bounced when the session ends.
//
// Resumption on another cluster node would need the small resumption
// state (the SM id, the account and resource, the counts, and the
// unacknowledged stanzas or their offline-store sequence numbers) either
// replicated (through Raft, like offline messages, at a cost per ack) or
// handed over on demand over the cluster link: the node receiving
// <resume previd/> asks the node that owns the id (encoded in the id) for
// the hibernated session, which the owner detaches and sends across, and
// the registry entry moves with it. The owner dying loses the handover;
// the unacked messages must then already be in offline storage.
//
// # Usage
//
// cmd/heraldd builds the Config and wires the collaborators:
//
//	srv, err := c2s.New(c2s.Config{
//		Domains:     []string{"example.org"},
//		TLS:         tlsConfig,
//		Credentials: accounts.Lookup,
//		Router:      router,
//		Offline:     store,    // c2s.OfflineQueue
//		Presence:    rosters,  // c2s.Presence
//	})
//	go srv.Serve(ln, false)     // STARTTLS listener
//	go srv.Serve(tlsLn, true)   // direct TLS listener
//	...
//	srv.Kick(bare, xmlstream.NewError(xmlstream.NotAuthorized, "account deleted"))
//	srv.Shutdown(ctx)           // <system-shutdown/> to every client
package c2s
