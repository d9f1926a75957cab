package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/ops"
)

// TestReadyFlipsWhenServing: a real heraldd answers /ready with 503 and
// the failing check once it is built but before its listeners serve,
// and 200 on the metrics listener and on the admin socket once they do;
// /health is 200 throughout.
func TestReadyFlipsWhenServing(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Admin.Metrics = "127.0.0.1:0"
	d := buildConfigured(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := ops.Handler(&backend{d}, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
	var rd ops.Readiness
	if err := json.Unmarshal(rec.Body.Bytes(), &rd); err != nil {
		t.Fatalf("/ready body %q: %v", rec.Body, err)
	}
	if rec.Code != http.StatusServiceUnavailable || rd.Ready || !strings.Contains(strings.Join(rd.Failing(), ";"), "listeners: not serving") {
		t.Fatalf("before serve: /ready %d %+v; want 503 failing listeners", rec.Code, rd)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("before serve: /health %d", rec.Code)
	}

	if err := d.serve(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.node.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	base := "http://" + d.addrs["metrics"][0]
	for _, p := range []string{"/health", "/ready"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metrics listener %s: %d %s", p, resp.StatusCode, body)
		}
	}
	rd, err := ops.Dial(cfg.Admin.Socket).Ready(ctx)
	if err != nil || !rd.Ready || len(rd.Checks) != 3 {
		t.Fatalf("admin socket /ready: %+v %v", rd, err)
	}
}
