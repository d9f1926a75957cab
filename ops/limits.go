package ops

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"time"
)

// LimitsBackend is the part of a Backend that reports the connection
// gate and the failed-login guard. A Backend that does not implement it
// serves no /v1/bans and no limit metrics.
type LimitsBackend interface {
	// Limits returns the gate's counters.
	Limits(ctx context.Context) (Limits, error)
	// Bans lists the addresses banned and the accounts protected now.
	Bans(ctx context.Context) ([]Ban, error)
	// LiftBan ends the ban of an address or the protection of an
	// account (a bare JID); ErrNotFound when there is none.
	LiftBan(ctx context.Context, key string) error
}

// Limits are the connection gate's and the login guard's counters.
type Limits struct {
	Open          int               `json:"open"`
	Clients       int               `json:"clients"`
	Addresses     int               `json:"addresses"`
	MaxClients    int               `json:"max_clients"`
	FileLimit     uint64            `json:"file_limit"`
	AcceptErrors  uint64            `json:"accept_errors"`
	Refused       map[string]uint64 `json:"refused"`
	AuthFailures  uint64            `json:"auth_failures"`
	AuthSuccesses uint64            `json:"auth_successes"`
	AuthDelayed   uint64            `json:"auth_delayed"`
	AuthRefused   uint64            `json:"auth_refused"`
	AuthBans      uint64            `json:"auth_bans"`
	AuthProtected uint64            `json:"auth_protections"`
	AuthUntracked uint64            `json:"auth_untracked"`
	BannedNow     int               `json:"banned_now"`
	ProtectedNow  int               `json:"protected_now"`
}

// Ban is one banned address or protected account.
type Ban struct {
	Kind     string    `json:"kind"` // address or account
	Key      string    `json:"key"`
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"`
}

// limitRoutes registers the ban endpoints when b reports limits:
//
//	GET    /v1/limits
//	GET    /v1/bans
//	DELETE /v1/bans/{key}
func limitRoutes(mux *http.ServeMux, h *handler) {
	lb, ok := h.b.(LimitsBackend)
	if !ok {
		return
	}
	mux.HandleFunc("GET /v1/limits", func(w http.ResponseWriter, r *http.Request) {
		l, err := lb.Limits(r.Context())
		h.reply(w, l, err)
	})
	mux.HandleFunc("GET /v1/bans", func(w http.ResponseWriter, r *http.Request) {
		list, err := lb.Bans(r.Context())
		if list == nil {
			list = []Ban{}
		}
		h.reply(w, map[string][]Ban{"bans": list}, err)
	})
	mux.HandleFunc("DELETE /v1/bans/{key}", func(w http.ResponseWriter, r *http.Request) {
		h.reply(w, nil, lb.LiftBan(r.Context(), r.PathValue("key")))
	})
}

// writeLimitMetrics adds the gate's counters to the metrics of b.
func writeLimitMetrics(ctx context.Context, w io.Writer, b Backend) {
	lb, ok := b.(LimitsBackend)
	if !ok {
		return
	}
	l, err := lb.Limits(ctx)
	if err != nil {
		return
	}
	metric := func(kind, name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, kind, name, v)
	}
	metric("gauge", "herald_connections_open", "Connections held through the connection gate.", l.Open)
	metric("gauge", "herald_connections_clients", "Client connections held.", l.Clients)
	metric("gauge", "herald_connections_addresses", "Addresses the gate keeps per-address state for.", l.Addresses)
	metric("gauge", "herald_connections_max_clients", "Client connection ceiling (limits.max_connections).", l.MaxClients)
	metric("gauge", "herald_file_limit", "The process's file descriptor limit (soft RLIMIT_NOFILE).", l.FileLimit)
	metric("counter", "herald_accept_errors_total", "Accepts that failed temporarily (out of file descriptors...) and were retried.", l.AcceptErrors)
	fmt.Fprintf(w, "# HELP herald_connections_refused_total Connections refused by the gate, by reason.\n# TYPE herald_connections_refused_total counter\n")
	reasons := make([]string, 0, len(l.Refused))
	for r := range l.Refused {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "herald_connections_refused_total{reason=%s} %d\n", quote(r), l.Refused[r])
	}
	metric("counter", "herald_auth_failures_total", "Failed client authentications.", l.AuthFailures)
	metric("counter", "herald_auth_successes_total", "Successful client authentications through the gate.", l.AuthSuccesses)
	metric("counter", "herald_auth_delayed_total", "Authentication attempts answered late by the login guard.", l.AuthDelayed)
	metric("counter", "herald_auth_refused_total", "Authentication attempts refused by a ban or an account protection.", l.AuthRefused)
	metric("counter", "herald_auth_bans_total", "Addresses banned after failed logins.", l.AuthBans)
	metric("counter", "herald_auth_protections_total", "Accounts protected after failed logins.", l.AuthProtected)
	metric("counter", "herald_auth_untracked_total", "Failed logins not tracked because the guard's table was full.", l.AuthUntracked)
	metric("gauge", "herald_auth_banned", "Addresses banned now.", l.BannedNow)
	metric("gauge", "herald_auth_protected", "Accounts protected now.", l.ProtectedNow)
}

// Limits returns the connection gate's and the login guard's counters.
func (c *Client) Limits(ctx context.Context) (Limits, error) {
	var l Limits
	err := c.do(ctx, "GET", "/v1/limits", nil, &l)
	return l, err
}

// Bans lists the banned addresses and protected accounts.
func (c *Client) Bans(ctx context.Context) ([]Ban, error) {
	var out struct{ Bans []Ban }
	err := c.do(ctx, "GET", "/v1/bans", nil, &out)
	return out.Bans, err
}

// LiftBan ends the ban of an address or the protection of an account.
func (c *Client) LiftBan(ctx context.Context, key string) error {
	return c.do(ctx, "DELETE", "/v1/bans/"+url.PathEscape(key), nil, nil)
}
