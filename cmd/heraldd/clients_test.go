package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/c2s"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
	"github.com/heraldxmpp/herald/ops"
)

// Standard client software against a real server: each logs in on its first
// password attempt, sends and receives. Which attempts the server saw comes
// from its own SASL counters (c2s.Server.AuthStats).

const clientPassword = "correct horse battery"

// needClient skips when a client program is missing, unless the run demands
// the real-client tests (CI sets HERALD_REQUIRE_CLIENTS=1 after installing
// them).
func needClient(t *testing.T, what, install string, probe func() error) {
	t.Helper()
	if err := probe(); err != nil {
		if os.Getenv("HERALD_REQUIRE_CLIENTS") != "" {
			t.Fatalf("%s is required but not usable: %v", what, err)
		}
		t.Skipf("%s is not usable (%v): %s; .ci/run installs it", what, err, install)
	}
}

func lookPath(name string) func() error {
	return func() error { _, err := exec.LookPath(name); return err }
}

// authDelta is what the server counted since before.
func (d *daemon) authDelta(before c2s.AuthStats) c2s.AuthStats {
	now := d.c2s.AuthStats()
	return c2s.AuthStats{
		Attempts: now.Attempts - before.Attempts, Successes: now.Successes - before.Successes,
		Failures: now.Failures - before.Failures, Mismatches: now.Mismatches - before.Mismatches,
	}
}

// firstAttempt is n logins, each with one <auth/> that succeeded.
func firstAttempt(n uint64) c2s.AuthStats {
	return c2s.AuthStats{Attempts: n, Successes: n}
}

// available reports whether full is bound and has sent available presence.
func (d *daemon) available(full string) bool {
	j := jid.MustParse(full)
	r, ok := d.router.Registry.Get(j)
	return ok && r.Available
}

// offlineBodies returns the bodies of user's stored offline messages.
func (d *daemon) offlineBodies(t *testing.T, user string) []string {
	t.Helper()
	msgs, err := d.node.Offline(user)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range msgs {
		el, err := delivery.ReadStored(m.Stanza, d.store.stored)
		if err != nil {
			t.Fatal(err)
		}
		if b := el.Child(stanza.NSClient, "body"); b != nil {
			bodies = append(bodies, b.Text())
		}
	}
	return bodies
}

// lines collects a process's output lines on a channel.
func lines(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

func expectLine(t *testing.T, ch <-chan string, substr string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("output ended before a line with %q", substr)
			}
			if strings.Contains(l, substr) {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q", substr)
		}
	}
}

// go-sendxmpp (mattn/go-xmpp) sends an XML declaration at every stream
// restart and a newline after <auth/>. It sends over STARTTLS with the
// self-signed certificate (--no-tls-verify) to an account that is offline,
// which receives the stored message when it listens (over direct TLS), and
// a live one after. Every login is one <auth/> that succeeds.
func TestGoSendxmpp(t *testing.T) {
	needClient(t, "go-sendxmpp", "apt-get install go-sendxmpp", lookPath("go-sendxmpp"))
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "alice@localhost", clientPassword)
	s.addUser(t, "bob@localhost", clientPassword)
	home := t.TempDir() // no configuration file of the machine's user
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gs := func(user string, args ...string) *exec.Cmd {
		args = append([]string{"--no-tls-verify", "-u", user, "-p", clientPassword}, args...)
		cmd := exec.CommandContext(ctx, "go-sendxmpp", args...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		return cmd
	}
	send := func(body string, args ...string) {
		t.Helper()
		before := d.c2s.AuthStats()
		cmd := gs("alice@localhost", append(args, "bob@localhost")...)
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go-sendxmpp %v: %v\n%s", args, err, out)
		}
		if got := d.authDelta(before); got != firstAttempt(1) {
			t.Errorf("sending counted %+v, want %+v", got, firstAttempt(1))
		}
	}

	send("while you were out", "-j", s.c2s)
	if got := d.offlineBodies(t, "bob@localhost"); len(got) != 1 || got[0] != "while you were out" {
		t.Fatalf("bob's offline store holds %q", got)
	}

	before := d.c2s.AuthStats()
	listen := gs("bob@localhost", "--tls", "-j", s.c2sTLS, "--listen")
	out := lines(t, listen)
	var stderr bytes.Buffer
	listen.Stderr = &stderr
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		listen.Process.Kill()
		listen.Wait()
		if t.Failed() {
			t.Logf("go-sendxmpp --listen stderr:\n%s", stderr.String())
		}
	})
	// Stored messages are delivered once the account is available, so
	// bob is available from here on.
	expectLine(t, out, "alice@localhost: while you were out")
	if got := d.authDelta(before); got != firstAttempt(1) {
		t.Errorf("listening counted %+v, want %+v", got, firstAttempt(1))
	}
	send("live", "-j", s.c2s, "--tls-version", "13")
	expectLine(t, out, "alice@localhost: live")
}

// slixmpp 1.8 knows only the tls-unique channel binding. Over TLS 1.2 it
// binds with it and its first <auth/> succeeds. Over TLS 1.3, where
// tls-unique does not exist, it tries both -PLUS mechanisms and then SCRAM
// with the gs2 flag "y" before PLAIN: the server refuses all four (RFC 5802
// 6, see c2s/sasl/doc.go) before looking at a credential, counts none as a
// failed password attempt, and the first password attempt logs it in.
func TestSlixmppFirstPasswordAttempt(t *testing.T) {
	needSlixmpp(t)
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "alice@localhost", clientPassword)
	clients := map[string]clientSpec{
		"tls12": {JID: "alice@localhost/tls12", Password: clientPassword, TLS12: true},
		"tls13": {JID: "alice@localhost/tls13", Password: clientPassword},
		"nocb":  {JID: "alice@localhost/nocb", Password: clientPassword, Mech: "SCRAM-SHA-256", NoCB: true},
	}
	for _, tc := range []struct {
		client, mech string
		want         c2s.AuthStats
	}{
		{"tls12", "SCRAM-SHA-256-PLUS", firstAttempt(1)},
		{"tls13", "PLAIN", c2s.AuthStats{Attempts: 5, Successes: 1, Mismatches: 4}},
		{"nocb", "SCRAM-SHA-256", firstAttempt(1)},
	} {
		before := d.c2s.AuthStats()
		res := runSlixmpp(t, s, clients, []step{
			{"client": tc.client, "op": "connect"},
			{"client": tc.client, "op": "send", "to": clients[tc.client].JID, "body": "echo"},
			{"client": tc.client, "op": "expect", "body": "echo"},
		})
		if m := res[0].str("mech"); m != tc.mech {
			t.Errorf("%s logged in with %q, want %q", tc.client, m, tc.mech)
		}
		if got := d.authDelta(before); got != tc.want {
			t.Errorf("%s: the server counted %+v, want %+v", tc.client, got, tc.want)
		}
	}
	// The same counters, as the admin API (and its metrics) report them.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := s.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ops.AuthCounts{Attempts: 7, Successes: 3, Mismatches: 4}); st.Auth != want {
		t.Errorf("status reports %+v, want %+v", st.Auth, want)
	}
}

// profanity (libstrophe) in a terminal, with its own home and an account
// that trusts the self-signed certificate: it connects, is available, and
// sends a message, which is stored for the offline recipient.
func TestProfanity(t *testing.T) {
	needClient(t, "profanity and tmux", "apt-get install profanity tmux", func() error {
		if err := lookPath("profanity")(); err != nil {
			return err
		}
		return lookPath("tmux")()
	})
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "alice@localhost", clientPassword)
	s.addUser(t, "bob@localhost", clientPassword)
	host, port, _ := net.SplitHostPort(s.c2s)

	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	acct := filepath.Join(home, ".local", "share", "profanity")
	if err := os.MkdirAll(acct, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".config", "profanity"), 0o700); err != nil {
		t.Fatal(err)
	}
	accounts := fmt.Sprintf("[alice@localhost]\nenabled=true\njid=alice@localhost\nserver=%s\nport=%s\n"+
		"resource=profanity\npassword=%s\ntls.policy=trust\n", host, port, clientPassword)
	if err := os.WriteFile(filepath.Join(acct, "accounts"), []byte(accounts), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tmux.sock")
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	before := d.c2s.AuthStats()
	tmux("new-session", "-d", "-s", "prof", "-x", "200", "-y", "50",
		"env", "HOME="+home, "TERM=xterm", "profanity", "-a", "alice@localhost")
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := exec.Command("tmux", "-S", sock, "capture-pane", "-p", "-t", "prof").Output(); err == nil {
				t.Logf("profanity's screen:\n%s", out)
			}
		}
		exec.Command("tmux", "-S", sock, "kill-server").Run()
	})
	waitFor(t, nil, time.Minute, "profanity to be available", func() bool { return d.available("alice@localhost/profanity") })
	if got := d.authDelta(before); got != firstAttempt(1) {
		t.Errorf("the server counted %+v, want %+v", got, firstAttempt(1))
	}
	tmux("send-keys", "-t", "prof", "/msg bob@localhost hello from profanity", "Enter")
	waitFor(t, nil, time.Minute, "the message to be stored for bob", func() bool {
		b := d.offlineBodies(t, "bob@localhost")
		return len(b) == 1 && b[0] == "hello from profanity"
	})
	if screen := tmux("capture-pane", "-p", "-t", "prof"); !strings.Contains(screen, "[online]") {
		t.Errorf("profanity does not show itself online:\n%s", screen)
	}
}

// xmppjsDir holds the npm fixture: package.json and package-lock.json pin
// @xmpp/client; .ci/run installs it with npm ci.
const xmppjsDir = "testdata/xmppjs"

// @xmpp/client (Node.js) logs in over STARTTLS, trusting the certificate
// through NODE_EXTRA_CA_CERTS, sends a message to an offline account and
// one to itself, which comes back.
func TestXmppJS(t *testing.T) {
	needClient(t, "node with @xmpp/client", "apt-get install nodejs npm; (cd cmd/heraldd/testdata/xmppjs && npm ci)", func() error {
		if err := lookPath("node")(); err != nil {
			return err
		}
		// @xmpp/client 0.14 needs Node.js 20.10 or later.
		v, err := exec.Command("node", "-p", "process.versions.node").Output()
		if err != nil {
			return err
		}
		var major, minor int
		if fmt.Sscanf(string(v), "%d.%d", &major, &minor); major < 20 || major == 20 && minor < 10 {
			return fmt.Errorf("node %s is older than 20.10", strings.TrimSpace(string(v)))
		}
		_, err = os.Stat(filepath.Join(xmppjsDir, "node_modules", "@xmpp", "client", "package.json"))
		return err
	})
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "alice@localhost", clientPassword)
	s.addUser(t, "bob@localhost", clientPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := d.c2s.AuthStats()
	cmd := exec.CommandContext(ctx, "node", "login.mjs", "xmpp://"+s.c2s, "localhost", "alice", clientPassword,
		"bob@localhost", "hello from xmpp.js")
	cmd.Dir = xmppjsDir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+s.cafile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("@xmpp/client: %v\n%s", err, out)
	}
	for _, want := range []string{`{"online":"alice@localhost/xmppjs"}`, `{"echo":"alice@localhost/xmppjs"}`, `{"done":true}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if got := d.authDelta(before); got != firstAttempt(1) {
		t.Errorf("the server counted %+v, want %+v", got, firstAttempt(1))
	}
	if got := d.offlineBodies(t, "bob@localhost"); len(got) != 1 || got[0] != "hello from xmpp.js" {
		t.Errorf("bob's offline store holds %q", got)
	}
}

// A PLAIN authentication identity that cannot be an account's localpart
// fails with not-authorized (RFC 6120 6.5.10), not temporary-auth-failure,
// against the real account store.
func TestPlainUsernameNotALocalpart(t *testing.T) {
	d := startInProcess(t)
	s := d.server()
	s.addUser(t, "carol@localhost", clientPassword)
	pem, err := os.ReadFile(s.cafile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	for _, user := range []string{"carol@localhost", "carol@example.net", "carol/home", strings.Repeat("c", 100<<10), "carol"} {
		conn, err := tls.Dial("tcp", s.c2sTLS, &tls.Config{ServerName: "localhost", RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(time.Minute))
		dec := xmlstream.NewDecoder(conn, xmlstream.Limits{})
		fmt.Fprintf(conn, "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
		if ev, err := dec.Next(); err != nil || ev.Kind != xmlstream.StreamOpen {
			t.Fatalf("stream open: %v %v", ev.Kind, err)
		}
		if ev, err := dec.Next(); err != nil || ev.Element.Name.Local != "features" {
			t.Fatalf("features: %v", err)
		}
		msg := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + clientPassword))
		fmt.Fprintf(conn, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", msg)
		ev, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		got := ev.Element.Name.Local
		if len(ev.Element.Children) > 0 {
			if c, ok := ev.Element.Children[0].(*stanza.Element); ok {
				got += "/" + c.Name.Local
			}
		}
		want := "failure/not-authorized"
		if user == "carol" {
			want = "success"
		}
		if got != want {
			t.Errorf("PLAIN as %.30q: got %s, want %s", user, got, want)
		}
		conn.Close()
	}
}
