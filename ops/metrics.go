package ops

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Metrics serves the Prometheus text exposition format, built from what
// the admin API already reports (status, cluster, s2s links): one view of
// the server, whichever way it is read. Mount it on the admin socket and,
// if wanted, on a TCP address a scraper can reach.
func Metrics(b Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, r, b)
	})
}

func writeMetrics(w io.Writer, r *http.Request, b Backend) {
	ctx := r.Context()
	gauge := func(name, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
	}
	counter := func(name, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	}
	if st, err := b.Status(ctx); err == nil {
		gauge("herald_sessions", "Client resources bound on this node.")
		fmt.Fprintf(w, "herald_sessions %d\n", st.Sessions)
		gauge("herald_info", "Version of this node, as a label.")
		fmt.Fprintf(w, "herald_info{version=%s} 1\n", quote(st.Version))
		counter("herald_c2s_auth_attempts_total", "SASL <auth/> elements received from clients.")
		fmt.Fprintf(w, "herald_c2s_auth_attempts_total %d\n", st.Auth.Attempts)
		counter("herald_c2s_auth_results_total", "Ends of client SASL attempts: success; failure (wrong password, unknown user, "+
			"malformed or aborted; too many close the stream); mismatch (mechanism or channel binding refused, no credential checked).")
		fmt.Fprintf(w, "herald_c2s_auth_results_total{result=\"success\"} %d\n", st.Auth.Successes)
		fmt.Fprintf(w, "herald_c2s_auth_results_total{result=\"failure\"} %d\n", st.Auth.Failures)
		fmt.Fprintf(w, "herald_c2s_auth_results_total{result=\"mismatch\"} %d\n", st.Auth.Mismatches)
		for _, m := range st.Metrics {
			if m.Counter {
				counter(m.Name, m.Help)
			} else {
				gauge(m.Name, m.Help)
			}
			fmt.Fprintf(w, "%s %d\n", m.Name, m.Value)
		}
	}
	if c, err := b.Cluster(ctx); err == nil {
		gauge("herald_raft_term", "Current Raft term.")
		fmt.Fprintf(w, "herald_raft_term %d\n", c.Term)
		gauge("herald_raft_commit_index", "Raft commit index known to this node.")
		fmt.Fprintf(w, "herald_raft_commit_index %d\n", c.CommitIndex)
		gauge("herald_raft_applied_index", "Last Raft index this node has applied, of any kind; equals the commit index when caught up.")
		fmt.Fprintf(w, "herald_raft_applied_index %d\n", c.AppliedIndex)
		gauge("herald_state_applied_index", "Last Raft index whose command is in this node's state (Raft's own entries never are).")
		fmt.Fprintf(w, "herald_state_applied_index %d\n", c.StateIndex)
		gauge("herald_caught_up", "1 once this node has applied what the cluster had committed when it started.")
		fmt.Fprintf(w, "herald_caught_up %d\n", b2i(c.CaughtUp))
		gauge("herald_raft_leader", "1 when this node is the leader.")
		fmt.Fprintf(w, "herald_raft_leader %d\n", b2i(c.LeaderID != "" && c.LeaderID == c.ID))
		gauge("herald_raft_has_leader", "1 when this node knows a leader (the cluster has quorum).")
		fmt.Fprintf(w, "herald_raft_has_leader %d\n", b2i(c.LeaderID != ""))
		gauge("herald_cluster_members", "Servers in the cluster configuration.")
		fmt.Fprintf(w, "herald_cluster_members %d\n", len(c.Members))
		gauge("herald_cluster_follower_lag", "Entries a follower's log lagged the leader's at last contact (leader only).")
		for _, m := range c.Members {
			if m.Known {
				fmt.Fprintf(w, "herald_cluster_follower_lag{member=%s} %d\n", quote(m.ID), m.Lag)
			}
		}
	}
	writeOfflineMetrics(ctx, w, b)
	writeLimitMetrics(ctx, w, b)
	writeComponentMetrics(ctx, w, b)
	links, err := b.Links(ctx)
	if err != nil {
		return
	}
	sort.Slice(links, func(i, j int) bool {
		a, c := links[i], links[j]
		return a.Direction+a.Local+a.Remote < c.Direction+c.Local+c.Remote
	})
	label := func(l Link) string {
		return fmt.Sprintf("local=%s,remote=%s,direction=%s", quote(l.Local), quote(l.Remote), quote(l.Direction))
	}
	gauge("herald_s2s_link_ready", "1 when a federation link is up and authenticated; auth is cert or dialback.")
	for _, l := range links {
		fmt.Fprintf(w, "herald_s2s_link_ready{%s,auth=%s} %d\n", label(l), quote(l.Auth), b2i(l.State == "ready"))
	}
	counter("herald_s2s_stanzas_in_total", "Stanzas received on a federation link.")
	for _, l := range links {
		fmt.Fprintf(w, "herald_s2s_stanzas_in_total{%s} %d\n", label(l), l.In)
	}
	counter("herald_s2s_stanzas_out_total", "Stanzas sent on a federation link.")
	for _, l := range links {
		fmt.Fprintf(w, "herald_s2s_stanzas_out_total{%s} %d\n", label(l), l.Out)
	}
	gauge("herald_s2s_queued", "Stanzas waiting on an outbound federation link.")
	gauge("herald_s2s_setup_failures", "Failed setups of an outbound link since it last worked.")
	for _, l := range links {
		if l.Direction == "out" {
			fmt.Fprintf(w, "herald_s2s_queued{%s} %d\n", label(l), l.Queued)
			fmt.Fprintf(w, "herald_s2s_setup_failures{%s} %d\n", label(l), l.Failures)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// quote escapes a label value (backslash, double quote, newline).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
