package ops

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// OfflineBackend reports offline message storage (XEP-0160): how much of
// an account's limit is used, and the node's counters of stored and
// refused messages. Backend includes it.
type OfflineBackend interface {
	// Offline returns user's stored offline messages against the limit.
	Offline(ctx context.Context, user string) (Offline, error)
	// OfflineStats returns this node's offline storage counters.
	OfflineStats(ctx context.Context) (OfflineStats, error)
}

// Offline is one account's offline storage.
type Offline struct {
	User  string `json:"user"`
	Count int    `json:"count"`
	// Limit is the most messages kept per account (limits.offline_per_user
	// of the node answering); a message past it is refused to its sender
	// with service-unavailable.
	Limit int `json:"limit"`
}

// OfflineStats counts, since this node started, the offline messages
// stored through it and those it refused to their senders: because the
// recipient's storage was full, or because the message was too large to be
// kept.
type OfflineStats struct {
	Limit           int    `json:"limit"`
	Stored          uint64 `json:"stored"`
	RefusedFull     uint64 `json:"refused_full"`
	RefusedTooLarge uint64 `json:"refused_too_large"`
}

// routeOffline adds the offline calls to the admin API:
//
//	GET /v1/offline               this node's counters
//	GET /v1/users/{jid}/offline   one account's count and limit
func (h *handler) routeOffline(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/offline", func(w http.ResponseWriter, r *http.Request) {
		st, err := h.b.OfflineStats(r.Context())
		h.reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/users/{jid}/offline", func(w http.ResponseWriter, r *http.Request) {
		o, err := h.b.Offline(r.Context(), r.PathValue("jid"))
		h.reply(w, o, err)
	})
}

// Offline returns an account's offline storage use.
func (c *Client) Offline(ctx context.Context, user string) (Offline, error) {
	var o Offline
	err := c.do(ctx, "GET", userPath(user, "offline"), nil, &o)
	return o, err
}

// OfflineStats returns the node's offline storage counters.
func (c *Client) OfflineStats(ctx context.Context) (OfflineStats, error) {
	var st OfflineStats
	err := c.do(ctx, "GET", "/v1/offline", nil, &st)
	return st, err
}

// writeOfflineMetrics adds the offline storage counters to the metrics.
func writeOfflineMetrics(ctx context.Context, w io.Writer, b Backend) {
	st, err := b.OfflineStats(ctx)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "# HELP herald_offline_limit Offline messages kept per account.\n# TYPE herald_offline_limit gauge\n")
	fmt.Fprintf(w, "herald_offline_limit %d\n", st.Limit)
	fmt.Fprintf(w, "# HELP herald_offline_stored_total Offline messages stored through this node.\n# TYPE herald_offline_stored_total counter\n")
	fmt.Fprintf(w, "herald_offline_stored_total %d\n", st.Stored)
	fmt.Fprintf(w, "# HELP herald_offline_refused_total Offline messages refused to their sender: the recipient's storage was full, or the message too large to keep.\n# TYPE herald_offline_refused_total counter\n")
	fmt.Fprintf(w, "herald_offline_refused_total{reason=\"full\"} %d\n", st.RefusedFull)
	fmt.Fprintf(w, "herald_offline_refused_total{reason=\"too_large\"} %d\n", st.RefusedTooLarge)
}
