// Package ops is Herald's admin API: the contract (Backend and its
// types), the HTTP handlers that serve it on a unix socket, and the Go
// client that heraldctl uses.
//
// Invariants: errors cross the socket as one of six sentinels
// (ErrNotFound, ErrExists, ErrBadRequest, ErrNoQuorum, ErrUnavailable,
// ErrRefused)
// plus a sentence an operator can act on; anything else is logged server-side and reported as
// an internal error, so internal detail never leaks. The socket is created
// mode 0600 by heraldd: whoever can open it is an administrator.
//
// The probes (health.go) are the exception to the sentinels: GET /ready
// answers 503 with the Readiness body, which the client reads as a result
// (not ready, and why), not as an error; HealthRoutes also mounts them on
// the metrics listener for load balancers.
//
// Usage:
//
//	srv := &http.Server{Handler: ops.Handler(backend, log)}
//	go srv.Serve(unixListener)
//	c := ops.Dial("/var/lib/herald/admin.sock")
//	err := c.CreateUser(ctx, "alice@example.org", "correct horse")
//	if errors.Is(err, ops.ErrExists) { ... }
package ops
