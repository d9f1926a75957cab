// Package s2s is Herald's federation: server-to-server links between our
// domains and remote ones (RFC 6120 with XEP-0178, XEP-0220, XEP-0185,
// XEP-0344 and XEP-0368), and the SRV resolution that finds remote servers
// (resolve.go, with its own DNS client).
//
// An outbound link exists per (local domain, remote domain) pair. Send
// creates it on the first stanza for the pair; it resolves the remote
// domain, tries its targets in order, negotiates TLS (STARTTLS, or direct
// TLS with ALPN xmpp-server), authenticates our domain by SASL EXTERNAL
// when the peer offers it and our certificate names us, by Server Dialback
// otherwise, and then flushes the stanzas queued meanwhile, in order. An
// inbound stream is one a remote server opened to send to us: it must be
// for one of our domains, in jabber:server, over TLS; the remote domain
// authenticates by SASL EXTERNAL (offered when its certificate verifies
// for the 'from' of its header) or by dialback (accepted at once on such a
// certificate, XEP-0344, else verified by dialing back the authoritative
// server). Stanzas then go to the Router. We also answer db:verify as the
// authoritative server for our domains.
//
// See DESIGN.md for why it is shaped this way.
//
// # Invariants
//
//   - No stanza travels in the clear: a peer that does not offer STARTTLS
//     is not sent anything, and a peer that sends anything but <starttls/>
//     before TLS is cut off.
//   - Every stanza routed from an inbound stream has a 'from' whose domain
//     that stream authenticated and a 'to' in a local domain validated on
//     it; anything else ends the stream with <invalid-from/> or
//     <host-unknown/> (RFC 6120 8.1.1.1, 8.1.2.2). Nothing received is ever
//     relayed to a third domain. Routed stanzas are in jabber:client, the
//     namespace the rest of the server works in.
//   - Send never blocks: it queues, or bounces at once. A link holds at
//     most Config.MaxQueue stanzas; past it the sender gets
//     <resource-constraint/>.
//   - Every stanza given to Send is written to a peer, or bounced to its
//     sender (<remote-server-not-found/> when the remote domain has no
//     usable server, <remote-server-timeout/> when it may come back), or
//     dropped as RFC 6121 allows: broadcast presence, IQ results and
//     errors, errors. Subscription presence is bounced like the rest
//     (RFC 6121 3.1.2); after <remote-server-timeout/> (type wait) it is
//     also kept and retried for Config.SubscriptionRetry, without a
//     second error if that runs out. The exception is a connection that dies
//     under a write: what that write carried is lost, since server streams
//     have no acknowledgements (see DESIGN.md).
//   - A peer that misbehaves (bad XML, a stanza over Limits, too many
//     stanzas per second, a spoofed address) loses its own stream and
//     nothing else; stream errors carry no internal detail.
//   - One reader goroutine per connection; a writer goroutine only while
//     there is something to write (writer.go).
//
// # Usage
//
//	srv, err := s2s.New(s2s.Config{
//		Domains:        []string{"example.org"},
//		TLS:            tlsConfig,         // our certificate(s)
//		Resolver:       &s2s.Resolver{},   // DNS, /etc/resolv.conf
//		DialbackSecret: secret,            // the same on every node
//		Router:         router,            // *delivery.Router
//	})
//	go srv.Serve(ln5269, false)
//	go srv.Serve(ln5270, true)
//	srv.Send(st, from, to) // from the router, for a remote 'to'
//	srv.Links()            // for the admin API
//	srv.Shutdown(ctx)
package s2s
