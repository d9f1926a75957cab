package main

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/cmd/internal/config"
)

// A real component library (slixmpp's ComponentXMPP) on a real heraldd:
// messages both ways with a slixmpp client user, and an IQ the component
// answers.
func TestComponentSlixmpp(t *testing.T) {
	needSlixmpp(t)
	cfg := testConfig(t.TempDir())
	cfg.Components = []config.Component{{Domain: "echo.localhost", Secret: "component-secret"}}
	cfg.ComponentListen.Listen = "127.0.0.1:0"
	d := startConfigured(t, cfg)
	s := d.server()
	s.addUser(t, "alice@localhost", "alice-password-1")
	host, c2sPort, _ := net.SplitHostPort(s.c2s)
	_, compPort, _ := net.SplitHostPort(d.addrs["component"][0])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "testdata/slixcomponent.py", host, c2sPort, compPort, s.cafile,
		"alice@localhost", "alice-password-1", "echo.localhost", "component-secret").CombinedOutput()
	if err != nil {
		t.Fatalf("component scenario: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	// The admin API counts what crossed the stream: two messages and a
	// disco#info IQ in from the user, two messages and the IQ result out.
	list, err := s.client().Components(ctx)
	if err != nil || len(list) != 1 || list[0].Domain != "echo.localhost" || list[0].In < 3 || list[0].Out < 2 {
		t.Fatalf("components %+v, %v", list, err)
	}
	var m strings.Builder
	if err := s.client().Metrics(ctx, &m); err != nil || !strings.Contains(m.String(), `herald_component_connected{domain="echo.localhost"}`) ||
		!strings.Contains(m.String(), "herald_component_stanzas_in_total") {
		t.Fatalf("metrics (%v):\n%s", err, m.String())
	}
}

// Without a [[component]] no component listener opens.
func TestNoComponentNoListener(t *testing.T) {
	d := startInProcess(t)
	if d.components != nil || len(d.addrs["component"]) != 0 {
		t.Fatalf("a component listener opened without a component: %v", d.addrs["component"])
	}
}
