package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/heraldxmpp/herald/ops"
)

// memBackend is an admin backend holding accounts in memory; heraldd's
// real backend is exercised by cmd/heraldd's tests through the same API.
type memBackend struct {
	mu    sync.Mutex
	users map[string]string
}

func (m *memBackend) Status(context.Context) (ops.Status, error) {
	return ops.Status{Version: "test", Domains: []string{"localhost"}, Sessions: 2,
		Listen: map[string]string{"c2s": "127.0.0.1:5222"}, Raft: map[string]string{"state": "Leader"}}, nil
}

func (m *memBackend) ListUsers(_ context.Context, domain string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for u := range m.users {
		if domain == "" || strings.HasSuffix(u, "@"+domain) {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *memBackend) CreateUser(_ context.Context, jid, pw string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !strings.Contains(jid, "@") {
		return fmt.Errorf("%w: %q is not an account address", ops.ErrBadRequest, jid)
	}
	if len(pw) < 8 {
		return fmt.Errorf("%w: the password is too short", ops.ErrBadRequest)
	}
	if _, ok := m.users[jid]; ok {
		return fmt.Errorf("%w: the user %s already exists", ops.ErrExists, jid)
	}
	m.users[jid] = pw
	return nil
}

func (m *memBackend) SetPassword(_ context.Context, jid, pw string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[jid]; !ok {
		return fmt.Errorf("%w: there is no user %s", ops.ErrNotFound, jid)
	}
	m.users[jid] = pw
	return nil
}

func (m *memBackend) DeleteUser(_ context.Context, jid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[jid]; !ok {
		return fmt.Errorf("%w: there is no user %s", ops.ErrNotFound, jid)
	}
	delete(m.users, jid)
	return nil
}

func (m *memBackend) Sessions(context.Context) ([]ops.Session, error) {
	return []ops.Session{{JID: "b@localhost/x", Available: true, Priority: 5}, {JID: "a@localhost/y"}}, nil
}

func serve(t *testing.T) (string, *memBackend) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	b := &memBackend{users: map[string]string{}}
	srv := &http.Server{Handler: ops.Handler(b, nil)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock, b
}

type outcome struct {
	code           int
	stdout, stderr string
}

func ctl(stdin string, args ...string) outcome {
	var o, e bytes.Buffer
	code := run(args, strings.NewReader(stdin), &o, &e)
	return outcome{code, o.String(), e.String()}
}

func TestUserCommands(t *testing.T) {
	sock, b := serve(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("from-a-file\n"), 0o600)
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   string // substring of stdout
		err   string // substring of stderr
	}{
		{"add from stdin", "secret-one\n", []string{"user", "add", "alice@localhost"}, 0, "created alice@localhost", ""},
		{"add from file", "", []string{"user", "add", "--password-file", pwFile, "bob@localhost"}, 0, "created bob@localhost", ""},
		{"add duplicate", "secret-one\n", []string{"user", "add", "alice@localhost"}, 1, "", "already exists"},
		{"add weak", "short\n", []string{"user", "add", "carol@localhost"}, 1, "", "too short"},
		{"add bad jid", "secret-one\n", []string{"user", "add", "carol"}, 1, "", "not an account address"},
		{"add missing file", "", []string{"user", "add", "--password-file", "/nonexistent/pw", "x@localhost"}, 2, "", "password file"},
		{"add no jid", "", []string{"user", "add"}, 2, "", "usage: heraldctl user add"},
		{"list", "", []string{"user", "list"}, 0, "alice@localhost\nbob@localhost\n", ""},
		{"passwd", "new-secret\n", []string{"user", "passwd", "alice@localhost"}, 0, "password changed", ""},
		{"passwd unknown", "new-secret\n", []string{"user", "passwd", "nobody@localhost"}, 1, "", "no user nobody@localhost"},
		{"delete", "", []string{"user", "delete", "bob@localhost"}, 0, "deleted bob@localhost", ""},
		{"delete unknown", "", []string{"user", "delete", "bob@localhost"}, 1, "", "no user bob@localhost"},
		{"sessions", "", []string{"session", "list"}, 0, "a@localhost/y\tconnected\nb@localhost/x\tavailable priority=5\n", ""},
		{"status", "", []string{"status"}, 0, "raft      state", ""},
		{"unknown command", "", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown subcommand", "", []string{"user", "frob"}, 2, "", `unknown user subcommand "frob"`},
	}
	for _, c := range cases {
		o := ctl(c.stdin, append([]string{"--socket", sock}, c.args...)...)
		if o.code != c.code || !strings.Contains(o.stdout, c.out) || !strings.Contains(o.stderr, c.err) {
			t.Errorf("%s: exit %d stdout %q stderr %q; want exit %d, stdout with %q, stderr with %q",
				c.name, o.code, o.stdout, o.stderr, c.code, c.out, c.err)
		}
	}
	if b.users["alice@localhost"] != "new-secret" || b.users["bob@localhost"] != "" {
		t.Errorf("backend state: %v", b.users)
	}
}

func TestNoServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	o := ctl("", "--socket", sock, "user", "list")
	if o.code != 1 || !strings.Contains(o.stderr, "cannot reach the server's admin socket") {
		t.Fatalf("exit %d stderr %q", o.code, o.stderr)
	}
}

// heraldctl reads the same config file as heraldd to find the socket, and
// refuses a config with an unknown key, naming it.
func TestConfigFile(t *testing.T) {
	sock, _ := serve(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(fmt.Sprintf("[admin]\nsocket = %q\n", sock)), 0o600)
	if o := ctl("", "--config", good, "user", "list"); o.code != 0 {
		t.Fatalf("with config: exit %d stderr %q", o.code, o.stderr)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("domains = [\"x\"]\n[c2s]\nlisten_tsl = [\"[::]:5223\"]\n"), 0o600)
	o := ctl("", "--config", bad, "user", "list")
	if o.code != 2 || !strings.Contains(o.stderr, "c2s.listen_tsl") {
		t.Fatalf("bad config: exit %d stderr %q", o.code, o.stderr)
	}
}
