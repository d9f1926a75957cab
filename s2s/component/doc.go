// Package component is the server side of XEP-0114 external components:
// a local process (a gateway, a bot, a group chat server) connects over
// TCP, opens a jabber:component:accept stream to the domain it serves,
// proves it knows that domain's shared secret with a <handshake/>
// (XEP-0114 3), and from then on receives every stanza for that domain
// and sends stanzas from it.
//
// It is a transport, a sibling of c2s and s2s, and imports neither. Its
// streams are run by the same skeleton (xmlstream.Streams, Writer,
// ReadError) with the same restricted XML and size and depth limits.
//
// Invariants:
//   - A configured domain is registered with the router's Mux
//     (Endpoint, registered by the daemon) whether or not its component is connected, so it is
//     listed in the server's disco#items as the service the operator
//     configured; while it is not connected, stanzas to it bounce with
//     <service-unavailable/> (RFC 6120 10.4.3 style: the service exists
//     but cannot be reached now).
//   - At most one stream per domain. A second connection for a domain
//     whose component is connected is refused with <conflict/>: the
//     running component keeps its stanzas, and a misconfigured second
//     instance cannot take them over by knowing the secret alone.
//   - Stanzas from a component carry a 'from' in its domain (or a
//     subdomain of it is refused too); otherwise the stream ends with
//     <invalid-from/> (RFC 6120 4.9.3.9). They are routed as if from that
//     domain, to local users, remote domains or other components.
//   - The secret is compared in constant time.
//
// Usage:
//
//	srv := component.New(component.Config{Domains: map[string]string{"bot.example.org": secret}}, router)
//	for _, d := range srv.Domains() {
//		mux.Component(d, srv.Endpoint(d)) // before the router serves
//	}
//	go srv.Serve(ln)      // 127.0.0.1:5347 by default
//	defer srv.Shutdown(ctx)
package component
