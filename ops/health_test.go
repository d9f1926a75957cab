package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

type fixedReadiness Readiness

func (f fixedReadiness) Readiness(context.Context) Readiness { return Readiness(f) }

// TestReadyStatusFollowsChecks: one failing check makes /ready 503 and
// names it; all passing makes it 200; /health is 200 either way.
func TestReadyStatusFollowsChecks(t *testing.T) {
	for _, c := range []struct {
		rd   Readiness
		code int
		fail []string
	}{
		{NewReadiness(Check{Name: "leader", OK: true}, Check{Name: "listeners", OK: true}), http.StatusOK, nil},
		{NewReadiness(Check{Name: "leader", OK: true}, Check{Name: "caught_up", Detail: "applied 1 of commit 5"}),
			http.StatusServiceUnavailable, []string{"caught_up: applied 1 of commit 5"}},
		{NewReadiness(Check{Name: "leader"}), http.StatusServiceUnavailable, []string{"leader"}},
	} {
		mux := http.NewServeMux()
		HealthRoutes(mux, fixedReadiness(c.rd))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
		var got Readiness
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != c.code || got.Ready != (c.code == http.StatusOK) {
			t.Errorf("%+v: /ready %d %q %v; want %d", c.rd, rec.Code, rec.Body, err, c.code)
		}
		if f := got.Failing(); len(f) != len(c.fail) || (len(f) > 0 && f[0] != c.fail[0]) {
			t.Errorf("failing %q; want %q", f, c.fail)
		}
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("/health %d", rec.Code)
		}
	}
}
