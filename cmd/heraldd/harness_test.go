package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/cmd/internal/config"
	"github.com/heraldxmpp/herald/ops"
)

// TestMain lets the test binary act as heraldd itself, so the crash tests
// can SIGKILL a real server process and start it again on the same data.
func TestMain(m *testing.M) {
	if os.Getenv("HERALDD_TEST_CHILD") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// python is the interpreter that has Debian's python3-slixmpp.
const python = "/usr/bin/python3"

// needSlixmpp skips when slixmpp is missing, unless the run demands the
// real-client tests (CI sets HERALD_REQUIRE_SLIXMPP=1 after installing it).
func needSlixmpp(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import slixmpp").Run(); err != nil {
		if os.Getenv("HERALD_REQUIRE_SLIXMPP") != "" {
			t.Fatalf("slixmpp is required but %s cannot import it: %v", python, err)
		}
		t.Skip("python3-slixmpp is not installed (apt-get install python3-slixmpp); .ci/run installs it")
	}
}

// testConfig is a zero-config server moved onto loopback ports in dir.
func testConfig(dir string) config.Config {
	cfg := config.Config{DataDir: dir}
	cfg.C2S.Listen = []string{"127.0.0.1:0"}
	cfg.C2S.ListenTLS = []string{"127.0.0.1:0"}
	cfg.S2S.Listen = []string{"127.0.0.1:0"}
	cfg.S2S.ListenTLS = []string{}
	cfg.Defaults()
	return cfg
}

// startInProcess runs a zero-config daemon in this process for the test.
func startInProcess(t *testing.T) *daemon {
	t.Helper()
	return startConfigured(t, testConfig(t.TempDir()))
}

// startConfigured runs a daemon with cfg in this process for the test.
func startConfigured(t *testing.T, cfg config.Config) *daemon {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d := buildConfigured(t, cfg, log)
	if err := d.serve(); err != nil {
		t.Fatal(err)
	}
	return d
}

// buildConfigured builds a daemon with cfg (newDaemon) without serving
// it, and closes it when the test ends.
func buildConfigured(t *testing.T, cfg config.Config, log *slog.Logger) *daemon {
	t.Helper()
	d, err := newDaemon(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.close(ctx)
	})
	return d
}

// server is what a scenario needs to reach a running heraldd.
type server struct {
	c2s, c2sTLS string // host:port
	admin       string
	cafile      string
}

func (d *daemon) server() server {
	return server{
		c2s: d.addrs["c2s"][0], c2sTLS: d.addrs["c2s_tls"][0], admin: d.cfg.Admin.Socket,
		cafile: filepath.Join(d.cfg.DataDir, "tls", "selfsigned.crt"),
	}
}

func (s server) client() *ops.Client { return ops.Dial(s.admin) }

func (s server) addUser(t *testing.T, jid, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client().CreateUser(ctx, jid, password); err != nil {
		t.Fatalf("creating %s: %v", jid, err)
	}
}

// child is heraldd running as a separate process.
type child struct {
	cmd *exec.Cmd
	server
	stderr *logBuf // read while the process runs: locked
}

var runningLine = regexp.MustCompile(`c2s_starttls=(\S+) c2s_directtls=(\S+)`)

// startChild runs the test binary as heraldd on dir and waits until it
// says where it listens.
func startChild(t *testing.T, dir string) *child {
	t.Helper()
	return startChildWith(t, dir, "-data", dir, "-c2s", "127.0.0.1:0", "-c2s-tls", "127.0.0.1:0",
		"-s2s", "127.0.0.1:0", "-s2s-tls", "", "-log-level", "info")
}

// startChildWith runs heraldd with args; dir is its data directory.
func startChildWith(t *testing.T, dir string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HERALDD_TEST_CHILD=1")
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stderr: &logBuf{}}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			c.stderr.Write([]byte(line + "\n"))
			if m := runningLine.FindStringSubmatch(line); m != nil {
				found <- m
			}
		}
	}()
	select {
	case m := <-found:
		c.server = server{c2s: m[1], c2sTLS: m[2], admin: filepath.Join(dir, "admin.sock"),
			cafile: filepath.Join(dir, "tls", "selfsigned.crt")}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("heraldd did not start:\n%s", c.stderr)
	}
	t.Cleanup(func() { c.kill() })
	return c
}

// kill ends the process with SIGKILL: no shutdown code runs.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// clientSpec is one slixmpp client of a scenario.
type clientSpec struct {
	JID       string `json:"jid"`
	Password  string `json:"password"`
	Mech      string `json:"mech,omitempty"`
	TLS12     bool   `json:"tls12,omitempty"`
	DirectTLS bool   `json:"direct_tls,omitempty"`
	NoCB      bool   `json:"no_cb,omitempty"`
	// Avatar loads slixmpp's XEP-0153 plugin (the avatar hash in presence).
	Avatar bool `json:"avatar,omitempty"`
}

type step map[string]any

// result is one line the scenario runner printed.
type result map[string]any

func (r result) str(k string) string { s, _ := r[k].(string); return s }

// runSlixmpp runs a scenario with slixmpp against s and returns one
// result per step; it fails the test if any step failed.
func runSlixmpp(t *testing.T, s server, clients map[string]clientSpec, steps []step) []result {
	t.Helper()
	return runScript(t, "testdata/slixclient.py", s, clients, steps)
}

// runScript is runSlixmpp with another scenario runner of testdata;
// clients is a map of clientSpec, or of fedClient for clients of other
// servers than s.
func runScript(t *testing.T, script string, s server, clients any, steps []step) []result {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.c2s)
	_, tport, _ := net.SplitHostPort(s.c2sTLS)
	p, _ := strconv.Atoi(port)
	tp, _ := strconv.Atoi(tport)
	sc := map[string]any{"host": host, "port": p, "tls_port": tp, "cafile": s.cafile, "clients": clients, "steps": steps}
	b, _ := json.Marshal(sc)
	f := filepath.Join(t.TempDir(), "scenario.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var results []result
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var r result
		if jerr := json.Unmarshal([]byte(line), &r); jerr != nil {
			t.Fatalf("bad scenario output %q: %v", line, jerr)
		}
		results = append(results, r)
	}
	if err != nil || len(results) != len(steps) {
		t.Fatalf("slixmpp scenario failed (%v): %d of %d steps ran\nstdout:\n%s\nstderr:\n%s", err, len(results), len(steps), out, stderr.String())
	}
	return results
}
