package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/heraldxmpp/herald/cmd/internal/config"
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

// exampleConfig is the packaged, commented configuration.
var exampleConfig = filepath.Join("dist", "herald.example.toml")

// TestExampleConfigLoads: the example passes the strict loader (no
// unknown key, right types, valid values).
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := config.Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/herald" || cfg.Admin.Socket != "/run/herald/admin.sock" {
		t.Errorf("paths: data %q, admin %q; want those the unit's directories provide", cfg.DataDir, cfg.Admin.Socket)
	}
}

// TestExampleConfigNamesEveryKey: every key the config struct knows is in
// the example, set or commented out ("# key = value"), and the commented
// ones decode strictly too once uncommented; a key added to the struct
// and not to the example fails here.
func TestExampleConfigNamesEveryKey(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	commented := regexp.MustCompile(`(?m)^# ([a-z_]+ = .*|\[\[[a-z_]+\]\])$`)
	all := commented.ReplaceAllString(string(b), "$1")
	var c config.Config
	md, err := toml.Decode(all, &c)
	if err != nil {
		t.Fatalf("uncommented example: %v", err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		t.Fatalf("uncommented example has unknown keys %v", un)
	}
	have := map[string]bool{}
	for _, k := range md.Keys() {
		have[k.String()] = true
	}
	for _, k := range tomlKeys(reflect.TypeOf(config.Config{}), "") {
		if !have[k] {
			t.Errorf("key %s is not in %s", k, exampleConfig)
		}
	}
}

// tomlKeys lists the dotted keys of a config struct type.
func tomlKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(config.Duration{}) {
			keys = append(keys, tomlKeys(f.Type, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}
