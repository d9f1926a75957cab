package ops

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeBackend answers the three calls the metrics are built from; the
// embedded nil Backend makes any other call panic, which the test would
// show.
type fakeBackend struct{ Backend }

func (fakeBackend) Status(context.Context) (Status, error) {
	return Status{Version: "1.2", Sessions: 7, Auth: AuthCounts{Attempts: 9, Successes: 3, Failures: 2, Mismatches: 4},
		Metrics: []Metric{
			{Name: "herald_thing", Help: "Things.", Value: 3},
			{Name: "herald_refused_total", Help: "Refusals.", Counter: true, Value: 9},
		}}, nil
}

func (fakeBackend) Cluster(context.Context) (Cluster, error) {
	return Cluster{ID: "n1", LeaderID: "n1", Term: 4, CommitIndex: 90, AppliedIndex: 89, StateIndex: 88, CaughtUp: true,
		Members: []Member{{ID: "n1", Leader: true}, {ID: "n2", Known: true, Lag: 3}}}, nil
}

func (fakeBackend) Links(context.Context) ([]Link, error) {
	return []Link{
		{Local: "a.test", Remote: `b"q.test`, Direction: "out", State: "ready", Auth: "cert", Out: 12, Queued: 2},
		{Local: "a.test", Remote: "c.test", Direction: "in", State: "negotiating", In: 5},
	}, nil
}

func TestMetrics(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(fakeBackend{}, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"herald_sessions 7\n",
		"herald_c2s_auth_attempts_total 9\n",
		`herald_c2s_auth_results_total{result="success"} 3` + "\n",
		`herald_c2s_auth_results_total{result="failure"} 2` + "\n",
		`herald_c2s_auth_results_total{result="mismatch"} 4` + "\n",
		`herald_info{version="1.2"} 1` + "\n",
		"herald_raft_applied_index 89\n",
		"herald_state_applied_index 88\n",
		"herald_caught_up 1\n",
		"herald_raft_leader 1\n",
		"herald_raft_has_leader 1\n",
		"herald_cluster_members 2\n",
		`herald_cluster_follower_lag{member="n2"} 3` + "\n",
		`herald_s2s_link_ready{local="a.test",remote="b\"q.test",direction="out",auth="cert"} 1` + "\n",
		`herald_s2s_link_ready{local="a.test",remote="c.test",direction="in",auth=""} 0` + "\n",
		`herald_s2s_stanzas_out_total{local="a.test",remote="b\"q.test",direction="out"} 12` + "\n",
		`herald_s2s_queued{local="a.test",remote="b\"q.test",direction="out"} 2` + "\n",
		"# TYPE herald_s2s_stanzas_in_total counter\n",
		"# TYPE herald_thing gauge\nherald_thing 3\n",
		"# HELP herald_refused_total Refusals.\n# TYPE herald_refused_total counter\nherald_refused_total 9\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}
