package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/ops"
)

// memBackend is an admin backend holding accounts, rosters and pending
// requests in memory; heraldd's real backend is exercised by cmd/heraldd's
// tests through the same API.
type memBackend struct {
	mu      sync.Mutex
	users   map[string]string
	rosters map[string][]ops.RosterItem
	pending map[string][]ops.Pending
	// notReady makes Readiness fail its caught_up check.
	notReady bool
}

func (m *memBackend) Status(context.Context) (ops.Status, error) {
	return ops.Status{Version: "test", Domains: []string{"localhost"}, Sessions: 2,
		Listen: map[string]string{"c2s": "127.0.0.1:5222"}, Raft: map[string]string{"state": "Leader"}}, nil
}

// Readiness fails one check while notReady is set.
func (m *memBackend) Readiness(context.Context) ops.Readiness {
	m.mu.Lock()
	defer m.mu.Unlock()
	return ops.NewReadiness(ops.Check{Name: "leader", OK: true},
		ops.Check{Name: "caught_up", OK: !m.notReady, Detail: "applied 3 of commit 9"})
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

// known fails like heraldd's backend for an unknown account.
func (m *memBackend) known(user string) error {
	if _, ok := m.users[user]; !ok {
		return fmt.Errorf("%w: there is no user %s", ops.ErrNotFound, user)
	}
	return nil
}

func (m *memBackend) Roster(_ context.Context, user string) (ops.Roster, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.known(user); err != nil {
		return ops.Roster{}, err
	}
	return ops.Roster{Ver: fmt.Sprint(len(m.rosters[user])), Items: m.rosters[user]}, nil
}

func (m *memBackend) SetRosterItem(_ context.Context, user, contact, name string, groups []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.known(user); err != nil {
		return err
	}
	if strings.Contains(contact, "/") {
		return fmt.Errorf("%w: the contact %q has a resource; contacts are bare JIDs (user@domain)", ops.ErrBadRequest, contact)
	}
	for i, it := range m.rosters[user] {
		if it.JID == contact {
			m.rosters[user][i].Name, m.rosters[user][i].Groups = name, groups
			return nil
		}
	}
	m.rosters[user] = append(m.rosters[user], ops.RosterItem{JID: contact, Name: name, Groups: groups, Subscription: "none"})
	return nil
}

func (m *memBackend) RemoveRosterItem(_ context.Context, user, contact string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.known(user); err != nil {
		return err
	}
	for i, it := range m.rosters[user] {
		if it.JID == contact {
			m.rosters[user] = append(m.rosters[user][:i], m.rosters[user][i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %s has no roster item for %s", ops.ErrNotFound, user, contact)
}

func (m *memBackend) Pending(_ context.Context, user string) ([]ops.Pending, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.known(user); err != nil {
		return nil, err
	}
	return m.pending[user], nil
}

func (m *memBackend) ApproveRequest(_ context.Context, user, contact string) error {
	return m.answer(user, contact, true)
}

func (m *memBackend) DenyRequest(_ context.Context, user, contact string) error {
	return m.answer(user, contact, false)
}

func (m *memBackend) answer(user, contact string, approve bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.known(user); err != nil {
		return err
	}
	for i, p := range m.pending[user] {
		if p.From == contact {
			m.pending[user] = append(m.pending[user][:i], m.pending[user][i+1:]...)
			if approve {
				m.rosters[user] = append(m.rosters[user], ops.RosterItem{JID: contact, Subscription: "from"})
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %s has no pending subscription request from %s", ops.ErrNotFound, user, contact)
}

func serve(t *testing.T) (string, *memBackend) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	b := &memBackend{users: map[string]string{}, rosters: map[string][]ops.RosterItem{}, pending: map[string][]ops.Pending{}}
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

func TestRosterCommands(t *testing.T) {
	sock, b := serve(t)
	b.users["alice@localhost"] = "x"
	b.rosters["alice@localhost"] = []ops.RosterItem{
		{JID: "bob@localhost", Name: "Bob", Groups: []string{"Friends", "Work"}, Subscription: "both"},
		{JID: "carol@localhost", Subscription: "none", Ask: true, Approved: true},
		{JID: "dave@localhost", Name: "Dave\tthe \"Tab\"", Groups: []string{"a,b"}, Subscription: "from"},
	}
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	b.pending["alice@localhost"] = []ops.Pending{
		{From: "erin@localhost", At: at, Stanza: "<presence from='erin@localhost' to='alice@localhost' type='subscribe'><status>hi\nthere</status></presence>"},
		{From: "frank@example.org", At: at.Add(time.Hour), Stanza: "<presence type='subscribe'/>"},
	}
	cases := []struct {
		name string
		args []string
		code int
		out  string // stdout, exactly
		err  string // substring of stderr
	}{
		{"roster list", []string{"roster", "list", "alice@localhost"}, 0,
			"bob@localhost\tboth\t-\tBob\tFriends,Work\n" +
				"carol@localhost\tnone\task,approved\t\t\n" +
				"dave@localhost\tfrom\t-\t\"Dave\\tthe \\\"Tab\\\"\"\t\"a,b\"\n", ""},
		{"roster list unknown user", []string{"roster", "list", "nobody@localhost"}, 1, "", "no user nobody@localhost"},
		{"roster list no user", []string{"roster", "list"}, 2, "", "usage: heraldctl roster list USER"},
		{"roster add", []string{"roster", "add", "alice@localhost", "gina@localhost", "--name", "Gina", "--group", "G1", "--group", "G2"}, 0,
			"saved gina@localhost in the roster of alice@localhost\n", ""},
		{"roster add flags first", []string{"roster", "add", "--name", "Bobby", "alice@localhost", "bob@localhost"}, 0,
			"saved bob@localhost in the roster of alice@localhost\n", ""},
		{"roster add full jid", []string{"roster", "add", "alice@localhost", "gina@localhost/phone"}, 1, "", "contacts are bare JIDs"},
		{"roster add unknown user", []string{"roster", "add", "nobody@localhost", "gina@localhost"}, 1, "", "no user nobody@localhost"},
		{"roster add one arg", []string{"roster", "add", "alice@localhost"}, 2, "", "usage: heraldctl roster add USER CONTACT"},
		{"roster add bad flag", []string{"roster", "add", "alice@localhost", "bob@localhost", "--nick", "x"}, 2, "", "-nick"},
		{"roster remove", []string{"roster", "remove", "alice@localhost", "carol@localhost"}, 0,
			"removed carol@localhost from the roster of alice@localhost\n", ""},
		{"roster remove absent", []string{"roster", "remove", "alice@localhost", "carol@localhost"}, 1, "", "no roster item for carol@localhost"},
		{"roster remove usage", []string{"roster", "remove", "alice@localhost"}, 2, "", "usage: heraldctl roster remove USER CONTACT"},
		{"roster no subcommand", []string{"roster"}, 2, "", "roster needs a subcommand"},
		{"roster unknown subcommand", []string{"roster", "frob"}, 2, "", `unknown roster subcommand "frob"`},
		{"pending list", []string{"pending", "list", "alice@localhost"}, 0,
			"erin@localhost\t2025-03-04T05:06:07Z\t<presence from='erin@localhost' to='alice@localhost' type='subscribe'><status>hi&#10;there</status></presence>\n" +
				"frank@example.org\t2025-03-04T06:06:07Z\t<presence type='subscribe'/>\n", ""},
		{"pending list unknown user", []string{"pending", "list", "nobody@localhost"}, 1, "", "no user nobody@localhost"},
		{"pending list usage", []string{"pending", "list"}, 2, "", "usage: heraldctl pending list USER"},
		{"pending approve", []string{"pending", "approve", "alice@localhost", "erin@localhost"}, 0,
			"approved the subscription request from erin@localhost to alice@localhost\n", ""},
		{"pending approve again", []string{"pending", "approve", "alice@localhost", "erin@localhost"}, 1, "", "no pending subscription request from erin@localhost"},
		{"pending deny", []string{"pending", "deny", "alice@localhost", "frank@example.org"}, 0,
			"denied the subscription request from frank@example.org to alice@localhost\n", ""},
		{"pending deny nothing", []string{"pending", "deny", "alice@localhost", "frank@example.org"}, 1, "", "no pending subscription request"},
		{"pending deny usage", []string{"pending", "deny", "alice@localhost"}, 2, "", "usage: heraldctl pending deny USER CONTACT"},
		{"pending list empty", []string{"pending", "list", "alice@localhost"}, 0, "", ""},
		{"pending unknown subcommand", []string{"pending", "accept"}, 2, "", `unknown pending subcommand "accept"`},
	}
	for _, c := range cases {
		o := ctl("", append([]string{"--socket", sock}, c.args...)...)
		if o.code != c.code || o.stdout != c.out || !strings.Contains(o.stderr, c.err) {
			t.Errorf("%s: exit %d stdout %q stderr %q; want exit %d, stdout %q, stderr with %q",
				c.name, o.code, o.stdout, o.stderr, c.code, c.out, c.err)
		}
	}
	got := fmt.Sprint(b.rosters["alice@localhost"])
	want := "[{bob@localhost Bobby [] both false false} {dave@localhost Dave\tthe \"Tab\" [a,b] from false false} " +
		"{gina@localhost Gina [G1 G2] none false false} {erin@localhost  [] from false false}]"
	if got != want {
		t.Errorf("roster after the commands:\n%s\nwant\n%s", got, want)
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

func (m *memBackend) Links(context.Context) ([]ops.Link, error) {
	return []ops.Link{{Local: "localhost", Remote: "example.org", Direction: "out", State: "ready", Auth: "dialback",
		In: 3, Out: 5, Since: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}}, nil
}

func (m *memBackend) Resolve(_ context.Context, domain string) ([]ops.Target, error) {
	if domain == "nowhere.example" {
		return nil, fmt.Errorf("%w: nowhere.example offers no XMPP server service", ops.ErrNotFound)
	}
	return []ops.Target{{Host: "xmpp." + domain, Port: 5223, DirectTLS: true}, {Host: "xmpp." + domain, Port: 5269}}, nil
}

func TestS2SCommands(t *testing.T) {
	sock, _ := serve(t)
	cases := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"s2s", "links"}, 0, "out\tlocalhost\texample.org\tready\tdialback\tin=3\tout=5\tqueued=0\tfailures=0\tsince=2026-11-23T10:00:00Z\n", ""},
		{[]string{"s2s", "resolve", "example.org"}, 0, "xmpp.example.org:5223\tdirect-tls\nxmpp.example.org:5269\tstarttls\n", ""},
		{[]string{"s2s", "resolve", "nowhere.example"}, 1, "", "offers no XMPP server service"},
		{[]string{"s2s"}, 2, "", "usage: heraldctl s2s"},
	}
	for _, c := range cases {
		o := ctl("", append([]string{"--socket", sock}, c.args...)...)
		if o.code != c.code || o.stdout != c.out && c.out != "" || !strings.Contains(o.stderr, c.err) {
			t.Errorf("%v: exit %d stdout %q stderr %q; want %d %q %q", c.args, o.code, o.stdout, o.stderr, c.code, c.out, c.err)
		}
	}
}

func (m *memBackend) Cluster(context.Context) (ops.Cluster, error) {
	return ops.Cluster{ID: "n1", Addr: "10.0.0.1:7422", State: "Leader", LeaderID: "n1", LeaderAddr: "10.0.0.1:7422",
		Term: 3, LastIndex: 9, CommitIndex: 9, AppliedIndex: 9, StateIndex: 8, CaughtUp: true, Members: []ops.Member{
			{ID: "n1", Addr: "10.0.0.1:7422", Suffrage: "Voter", Leader: true},
			{ID: "n2", Addr: "10.0.0.2:7422", Suffrage: "Voter", Known: true, LastContactMS: 12, Lag: 1},
		}}, nil
}

func (m *memBackend) JoinNode(_ context.Context, id, addr string, force bool) error {
	if id == "" || addr == "" {
		return fmt.Errorf("%w: a node id and its cluster address are both needed", ops.ErrBadRequest)
	}
	return nil
}

func (m *memBackend) RemoveNode(_ context.Context, id string, force bool) error {
	if id != "n2" {
		return fmt.Errorf("%w: no member %s", ops.ErrNotFound, id)
	}
	if !force {
		return fmt.Errorf("%w: remove n2 would leave 1 live voters of 2, no majority", ops.ErrRefused)
	}
	return nil
}

func (m *memBackend) Stepdown(context.Context) error { return nil }

func (m *memBackend) Snapshot(_ context.Context, w io.Writer) error {
	_, err := w.Write([]byte("snapshot-bytes"))
	return err
}

func TestClusterCommands(t *testing.T) {
	sock, _ := serve(t)
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"cluster", "status"}, 0, "member    n2\t10.0.0.2:7422\tVoter\tlast contact 12ms, lag 1\n", ""},
		{[]string{"cluster", "join", "n3", "10.0.0.3:7422"}, 0, "n3 (10.0.0.3:7422) is a member", ""},
		{[]string{"cluster", "status"}, 0, "indexes   last 9, commit 9, applied 9 (raft), state 8\ncaught up yes\n", ""},
		{[]string{"cluster", "remove", "n2"}, 1, "", "would leave 1 live voters of 2, no majority"},
		{[]string{"cluster", "remove", "--force", "n2"}, 0, "n2 removed", ""},
		{[]string{"cluster", "remove", "n2", "--force"}, 0, "n2 removed", ""},
		{[]string{"cluster", "remove", "n9"}, 1, "", "no member n9"},
		{[]string{"cluster", "stepdown"}, 0, "leadership handed over", ""},
		{[]string{"cluster"}, 2, "", "usage: heraldctl cluster"},
		{[]string{"snapshot", "save", filepath.Join(dir, "snap")}, 0, "saved a snapshot of 14 bytes", ""},
		{[]string{"snapshot", "save", "/nonexistent/dir/snap"}, 1, "", "no such file"},
	}
	for _, c := range cases {
		o := ctl("", append([]string{"--socket", sock}, c.args...)...)
		if o.code != c.code || !strings.Contains(o.stdout, c.out) || !strings.Contains(o.stderr, c.err) {
			t.Errorf("%v: exit %d stdout %q stderr %q; want %d %q %q", c.args, o.code, o.stdout, o.stderr, c.code, c.out, c.err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "snap")); err != nil || string(b) != "snapshot-bytes" {
		t.Fatalf("snapshot file: %q, %v", b, err)
	}
}

func TestMetricsCommand(t *testing.T) {
	sock, _ := serve(t)
	o := ctl("", "--socket", sock, "metrics")
	if o.code != 0 || !strings.Contains(o.stdout, "herald_sessions 2\n") || !strings.Contains(o.stdout, "herald_raft_leader 1\n") {
		t.Fatalf("exit %d stdout %q stderr %q", o.code, o.stdout, o.stderr)
	}
}
