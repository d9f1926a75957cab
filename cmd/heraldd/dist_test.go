package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitKeys parses a systemd unit file into section.key -> values.
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not a key=value line: %q", path, line)
			}
			keys[section+"."+k] = append(keys[section+"."+k], v)
		}
	}
	return keys
}

// TestServiceUnitHasRequiredKeys parses dist/herald.service (no systemd
// needed) for what the daemon relies on: Type=notify readiness, the
// state and runtime directories, the descriptor limit and the hardening.
func TestServiceUnitHasRequiredKeys(t *testing.T) {
	keys := unitKeys(t, filepath.Join("dist", "herald.service"))
	want := map[string]string{
		"Service.Type":             "notify",
		"Service.NoNewPrivileges":  "yes",
		"Service.ProtectSystem":    "strict",
		"Service.PrivateTmp":       "yes",
		"Service.StateDirectory":   "herald",
		"Service.RuntimeDirectory": "herald",
		"Service.LimitNOFILE":      "",
		"Service.WatchdogSec":      "",
		"Service.ExecStart":        "",
		"Install.WantedBy":         "multi-user.target",
	}
	for k, v := range want {
		got, ok := keys[k]
		if !ok || (v != "" && got[len(got)-1] != v) {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
	if got := keys["Service.AmbientCapabilities"]; len(got) != 1 || got[0] != "" {
		t.Errorf("AmbientCapabilities = %q; the default ports need none", got)
	}
}

// TestServiceUnitSystemdAnalyzeVerify runs systemd-analyze verify on the
// unit (ExecStart pointed at this test binary, which exists); the key
// check above runs either way.
func TestServiceUnitSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; TestServiceUnitHasRequiredKeys checks the unit's keys instead")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("dist", "herald.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "herald.service")
	os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/heraldd", self)), 0o644)
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
