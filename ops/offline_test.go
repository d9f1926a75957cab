package ops

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

func (fakeBackend) OfflineStats(context.Context) (OfflineStats, error) {
	return OfflineStats{Limit: 1000, Stored: 12, RefusedFull: 3, RefusedTooLarge: 1}, nil
}

// The offline storage counters are among the metrics.
func TestOfflineMetrics(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(fakeBackend{}, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"herald_offline_limit 1000\n",
		"# TYPE herald_offline_stored_total counter\nherald_offline_stored_total 12\n",
		`herald_offline_refused_total{reason="full"} 3` + "\n",
		`herald_offline_refused_total{reason="too_large"} 1` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
