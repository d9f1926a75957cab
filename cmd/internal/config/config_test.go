package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, text string) (Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "herald.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		return c, err
	}
	c.Defaults()
	return c, c.Validate()
}

func TestConnectionLimitDefaults(t *testing.T) {
	c, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if l.UnauthenticatedPerIP != 32 || l.ConnectRatePerIP != 10 || l.ConnectBurstPerIP != 40 ||
		l.AuthDelayAfter != 3 || l.AuthBanAfter != 10 || l.AuthAccountAfter != 20 ||
		l.AuthBanTime.Minutes() != 15 || l.AuthWindow.Minutes() != 15 || l.MaxConnections != 0 || len(l.Exempt) != 0 {
		t.Fatalf("defaults %+v", l)
	}
}

func TestConnectionLimitKeys(t *testing.T) {
	c, err := load(t, `[limits]
max_connections = 5000
exempt = ["127.0.0.0/8", "::1", "2001:db8::/32"]
auth_ban_time = "1h"
`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Limits.ExemptPrefixes()
	if err != nil || len(p) != 3 || p[1].String() != "::1/128" || c.Limits.AuthBanTime.Hours() != 1 || c.Limits.MaxConnections != 5000 {
		t.Fatalf("prefixes %v err %v limits %+v", p, err, c.Limits)
	}
	for text, want := range map[string]string{
		"[limits]\nexempt = [\"localhost\"]":    "limits.exempt",
		"[limits]\nunauthenticated_per_ip = -1": "limits.unauthenticated_per_ip",
		"[limits]\nconnections_per_ip = 3":      "unknown key limits.connections_per_ip",
		"[limits]\nauth_ban_time = \"forever\"": "auth_ban_time",
	} {
		if _, err := load(t, text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want one naming %s", text, err, want)
		}
	}
}

func TestComponentKeys(t *testing.T) {
	c, err := load(t, `domains = ["example.org"]
[[component]]
domain = "bot.example.org"
secret = "s"
[[component]]
domain = "gw.example.org"
secret_file = "gw.secret"
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Components) != 2 || c.ComponentListen.Listen != "127.0.0.1:5347" || !filepath.IsAbs(c.Components[1].SecretFile) {
		t.Fatalf("components %+v listen %q", c.Components, c.ComponentListen.Listen)
	}
	for text, want := range map[string]string{
		"domains = [\"example.org\"]\n[[component]]\nsecret = \"s\"":                                                                                        "needs a domain",
		"domains = [\"example.org\"]\n[[component]]\ndomain = \"a.example.org\"":                                                                            "exactly one of secret",
		"domains = [\"example.org\"]\n[[component]]\ndomain = \"a.example.org\"\nsecret = \"s\"\nsecret_file = \"f\"":                                       "exactly one of secret",
		"domains = [\"example.org\"]\n[[component]]\ndomain = \"a.other.org\"\nsecret = \"s\"":                                                              "subdomain",
		"domains = [\"example.org\"]\n[[component]]\ndomain = \"a.example.org\"\nsecret = \"s\"\n[[component]]\ndomain = \"a.example.org\"\nsecret = \"t\"": "twice",
	} {
		if _, err := load(t, text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want one naming %s", text, err, want)
		}
	}
}

func TestSMRequestAfter(t *testing.T) {
	c, err := load(t, "")
	if err != nil || c.C2S.SMRequestAfter != 5 {
		t.Fatalf("default %d err %v, want 5", c.C2S.SMRequestAfter, err)
	}
	if c, err = load(t, "[c2s]\nsm_request_after = 20"); err != nil || c.C2S.SMRequestAfter != 20 {
		t.Fatalf("set %d err %v, want 20", c.C2S.SMRequestAfter, err)
	}
	if _, err = load(t, "[c2s]\nsm_request_after = -1"); err == nil || !strings.Contains(err.Error(), "c2s.sm_request_after") {
		t.Fatalf("negative: err %v", err)
	}
}
