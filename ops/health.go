package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// Check is one condition readiness depends on.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Readiness says whether the node should be given traffic: it is ready
// only when every check passes.
type Readiness struct {
	Ready  bool    `json:"ready"`
	Checks []Check `json:"checks"`
}

// NewReadiness is the readiness of checks: ready when all pass.
func NewReadiness(checks ...Check) Readiness {
	r := Readiness{Ready: true, Checks: checks}
	for _, c := range checks {
		r.Ready = r.Ready && c.OK
	}
	return r
}

// Failing lists the checks that do not pass, as "name: detail".
func (r Readiness) Failing() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, strings.TrimSuffix(c.Name+": "+c.Detail, ": "))
		}
	}
	return out
}

// Readier reports readiness; Backend includes it.
type Readier interface {
	Readiness(ctx context.Context) Readiness
}

// HealthRoutes mounts the probes on mux:
//
//	GET /health  200 while the process serves HTTP at all
//	GET /ready   200 when r is ready, else 503; the body (JSON) names the
//	             failing checks either way
//
// They go on the admin socket and on the metrics listener, where a load
// balancer or an orchestrator can reach them.
func HealthRoutes(mux *http.ServeMux, r Readier) {
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, req *http.Request) {
		rd := r.Readiness(req.Context())
		w.Header().Set("Content-Type", "application/json")
		if !rd.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(rd)
	})
}
