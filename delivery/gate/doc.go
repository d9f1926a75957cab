// Package gate stands between every listener and the server behind it:
// it keeps the accept loop alive when the process runs out of file
// descriptors, bounds what one network address can make the server hold
// (connections before authentication, new connections per second), keeps
// a global ceiling on client connections below the file descriptor limit,
// and slows down, then refuses, repeated failed logins (auth.go).
//
// # Accept
//
// Listener.Accept never returns a temporary failure: EMFILE, ENFILE,
// ENOBUFS, ENOMEM, ECONNABORTED and timeouts are retried with a backoff
// that doubles from 5 ms to MaxAcceptDelay, as net/http's Server.Serve
// does. The first failure of a burst is logged, with the count of the
// burst once accepting works again; every failure is counted
// (Stats.AcceptErrors). A listener that is closed returns net.ErrClosed.
//
// # Connection limits
//
// Addresses are IPv4 addresses and IPv6 /64 prefixes (one host usually
// owns a whole /64). A connection is refused, by closing it at once, when
//
//   - it comes from an address that already holds UnauthPerAddr
//     connections that have not authenticated (Client listeners only; the
//     session calls Authenticated once the peer proved who it is);
//   - its address opened more than RatePerAddr connections per second
//     over a burst of RateBurst (a token bucket per address);
//   - the gate already holds MaxClients client connections (Client), or
//     MaxClients+Reserve connections of any class (Server): the reserve
//     keeps room for federation and the cluster when clients fill the
//     ceiling. Unlimited listeners (the admin socket, the cluster port)
//     are never refused.
//
// Exempt prefixes skip the per-address limits, never the ceiling. Each
// refusal is counted by reason. Per-address state exists only while the
// address holds a connection or refills its bucket, so its size is
// bounded by the number of open connections plus the addresses seen in
// the last RateBurst/RatePerAddr seconds.
//
// # Usage
//
//	g := gate.New(gate.Config{MaxClients: 10000, Log: log})
//	go srv.Serve(g.Listener(ln, gate.Client), false)
//	...
//	gate.Authenticated(rawConn) // in the session, after SASL success
package gate
