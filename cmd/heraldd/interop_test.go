package main

// The interop harness: a throwaway PKI (interop_pki_test.go), dnsmasq
// serving the .test zone, a real Prosody for p.test and heraldd for h.test,
// each on its own loopback address with the standard ports (the scenarios
// are in federation_test.go):
//
//	127.0.0.20:53    dnsmasq: A and SRV (_xmpp-server, _xmpp-client) records
//	127.0.0.21       Prosody, p.test: c2s 5222, s2s 5269
//	127.0.0.23       heraldd, h.test: c2s 5222, s2s 5269
//	127.0.0.24       reserved for a second heraldd, h2.test
//
// Nothing here touches the machine's resolver or a system Prosody: Prosody
// runs with its own config and data as the prosody user, in a private
// mount namespace where a resolv.conf naming 127.0.0.20 is bind-mounted
// over /etc/resolv.conf, and in a private PID namespace so that it dies
// with the test binary even when that is SIGKILLed (see startProsody).
//
// The fixed addresses mean these tests never run in parallel with each
// other (none calls t.Parallel), nor two test binaries of this package at
// once: the second fails to bind 127.0.0.20:53 and says so.
//
// Environment:
//
//	HERALD_REQUIRE_INTEROP=1  fail instead of skipping when a tool is missing (CI)
//	HERALD_INTEROP_KEEP=1     keep the working directories (paths are logged)

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	dnsAddr     = "127.0.0.20"
	prosodyAddr = "127.0.0.21"
	heraldAddr  = "127.0.0.23"
	herald2Addr = "127.0.0.24"
)

// needInterop skips unless everything the interop tests run is here and
// usable; with HERALD_REQUIRE_INTEROP=1 (CI, which installs the packages)
// a missing piece fails the test instead.
func needInterop(t *testing.T) {
	t.Helper()
	needSlixmpp(t)
	var missing []string
	for _, bin := range []string{"prosody", "prosodyctl", "dnsmasq", "unshare", "setpriv", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if _, err := user.Lookup("prosody"); err != nil {
		missing = append(missing, "the prosody user")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (for port 53, mount namespaces and setpriv)")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("interop tests need %s (apt-get install prosody dnsmasq-base util-linux python3-slixmpp, as root)",
		strings.Join(missing, ", "))
	if os.Getenv("HERALD_REQUIRE_INTEROP") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// interopDir is a working directory the prosody user can read (t.TempDir
// is private to root). It is removed at cleanup unless HERALD_INTEROP_KEEP
// is set.
func interopDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "herald-interop-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("HERALD_INTEROP_KEEP") != "" {
			t.Logf("keeping %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// logBuf is a process's output, written by a copying goroutine and read
// by the test.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// dumpOnFailure logs what a process said when the test has failed.
func dumpOnFailure(t *testing.T, what string, n int, text func() string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s (last %d lines) ----\n%s", what, n, tail(text(), n))
		}
	})
}

// ---- processes ----

// proc is a process started for a test, with its output.
type proc struct {
	cmd  *exec.Cmd
	out  *logBuf
	done chan struct{}
}

// startProc starts cmd with its output in a logBuf. Pdeathsig kills it if
// the test binary dies; cleanup kills it otherwise.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, out: &logBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) kill() {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// waitFor polls cond every 50ms until it holds, the process exits or d
// passes. It is only for processes starting up, never inside a scenario.
func waitFor(t *testing.T, p *proc, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if p != nil && p.exited() {
			t.Fatalf("%s: the process exited (%v):\n%s", what, p.cmd.ProcessState, tail(p.out.String(), 60))
		}
		if time.Now().After(deadline) {
			out := ""
			if p != nil {
				out = tail(p.out.String(), 60)
			}
			t.Fatalf("%s: not after %v\n%s", what, d, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// ---- DNS ----

// dnsDomains are the test zone: domain -> server address.
var dnsDomains = []struct{ domain, addr string }{
	{"p.test", prosodyAddr},
	{"h.test", heraldAddr},
	{"h2.test", herald2Addr},
}

// startDNS runs dnsmasq on 127.0.0.20:53 serving the .test zone and
// nothing else (no upstream, no /etc/hosts), and waits until it answers.
func startDNS(t *testing.T, dir string) *proc {
	t.Helper()
	var conf strings.Builder
	fmt.Fprintf(&conf, "port=53\nlisten-address=%s\nbind-interfaces\nno-resolv\nno-hosts\nlocal=/test/\n", dnsAddr)
	// root: changing user or group would clear the parent-death signal.
	fmt.Fprintf(&conf, "user=root\ngroup=root\npid-file=%s\nlog-queries\nlog-facility=-\n", filepath.Join(dir, "dnsmasq.pid"))
	for _, d := range dnsDomains {
		fmt.Fprintf(&conf, "host-record=%s,%s\n", d.domain, d.addr)
		fmt.Fprintf(&conf, "srv-host=_xmpp-server._tcp.%s,%s,5269,0,5\n", d.domain, d.domain)
		fmt.Fprintf(&conf, "srv-host=_xmpp-client._tcp.%s,%s,5222,0,5\n", d.domain, d.domain)
	}
	cf := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, exec.Command("dnsmasq", "--keep-in-foreground", "--conf-file="+cf))
	dumpOnFailure(t, "dnsmasq", 40, p.out.String)
	waitFor(t, p, 10*time.Second, "dnsmasq answering on "+dnsAddr, func() bool {
		_, err := lookupSRV("_xmpp-server._tcp.p.test.")
		return err == nil
	})
	return p
}

// lookupSRV asks the test DNS server for name's SRV records.
func lookupSRV(name string) ([]*dns.SRV, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeSRV)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, net.JoinHostPort(dnsAddr, "53"))
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
	}
	var out []*dns.SRV
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no SRV records", name)
	}
	return out, nil
}

// lookupA asks the test DNS server for name's A records.
func lookupA(name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, net.JoinHostPort(dnsAddr, "53"))
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}

// ---- Prosody ----

// prosodyOpts configures a Prosody.
type prosodyOpts struct {
	// Domain and Addr default to p.test on 127.0.0.21. The federation
	// control test also runs one for h.test on Herald's address.
	Domain, Addr string
	// SecureAuth is s2s_secure_auth: true demands a peer certificate that
	// verifies against CAFile; false lets Server Dialback authenticate a
	// peer whose certificate does not.
	SecureAuth bool
	Leaf       leaf   // the domain's certificate
	CAFile     string // the trust anchors for peer certificates
}

// prosody is a running Prosody.
type prosody struct {
	*proc
	domain   string
	dir, cfg string
}

// startProsody writes a config for one domain under dir and runs Prosody
// as the prosody user with DNS from 127.0.0.20, then waits for its ports.
//
// The command line is
//
//	unshare -m -p --fork --kill-child --propagation private \
//	    sh -c 'mount --bind RESOLV /etc/resolv.conf && setpriv ... prosody --config CFG'
//
// The mount namespace carries the resolv.conf. The PID namespace is for
// cleanup: setpriv's change of user clears any parent-death signal, so
// Prosody could outlive a test binary killed by a timeout. Here the sh is
// the namespace's init, --kill-child gives it SIGKILL when unshare dies,
// and unshare gets SIGKILL when the test binary dies (Pdeathsig); the
// kernel then kills everything left in the namespace. For the same reason
// the PID in Prosody's pidfile is the namespace's, not the host's: the
// test stops Prosody by killing unshare, never by that number.
func startProsody(t *testing.T, dir string, o prosodyOpts) *prosody {
	t.Helper()
	pu, err := user.Lookup("prosody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pu.Uid)
	gid, _ := strconv.Atoi(pu.Gid)
	if o.Domain == "" {
		o.Domain, o.Addr = "p.test", prosodyAddr
	}
	data := filepath.Join(dir, "prosody-"+o.Domain)
	// certs: an empty directory for Prosody's certificate search, which
	// otherwise logs an error for the missing default.
	if err := os.MkdirAll(filepath.Join(data, "certs"), 0o750); err != nil {
		t.Fatal(err)
	}
	// The key stays private to the prosody user.
	for _, f := range []string{data, filepath.Join(data, "certs"), o.Leaf.Key} {
		if err := os.Chown(f, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	lua := func(s string) string { return strconv.Quote(s) }
	cfg := filepath.Join(dir, "prosody-"+o.Domain+".cfg.lua")
	conf := fmt.Sprintf(`-- Prosody for %[11]s, written by Herald's interop tests.
pidfile = %[1]s
data_path = %[2]s
admin_socket = %[3]s
certificates = %[12]s
interfaces = { %[4]q }
local_interfaces = { %[4]q }
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { 5269 }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = {
	"roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "offline";
	"admin_shell"; "posix";
}
authentication = "internal_hashed"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = %[5]t
-- libunbound has a built-in "test." zone that answers NXDOMAIN for every
-- .test name; make it ask 127.0.0.20 (from the bind-mounted resolv.conf).
unbound = { resolvconf = true; hoststxt = false; options = { ["local-zone:"] = "test. transparent" } }
ssl = { certificate = %[6]s; key = %[7]s; cafile = %[8]s }
log = { info = %[9]s; debug = %[10]s }
VirtualHost %[11]q
`, lua(filepath.Join(data, "prosody.pid")), lua(data), lua(filepath.Join(data, "prosody.sock")),
		o.Addr, o.SecureAuth, lua(o.Leaf.Cert), lua(o.Leaf.Key), lua(o.CAFile),
		lua(filepath.Join(data, "prosody.log")), lua(filepath.Join(data, "debug.log")), o.Domain, lua(filepath.Join(data, "certs")))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+dnsAddr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-m", "-p", "--fork", "--kill-child", "--propagation", "private",
		"sh", "-c", `mount --bind "$1" /etc/resolv.conf && setpriv --reuid=prosody --regid=prosody --init-groups prosody -F --config "$2"`,
		"sh", resolv, cfg)
	p := &prosody{proc: startProc(t, cmd), domain: o.Domain, dir: data, cfg: cfg}
	name := "prosody " + o.Domain
	dumpOnFailure(t, name+" stdout/stderr", 40, p.out.String)
	dumpOnFailure(t, name+" log", 120, func() string { return p.log() })
	dumpOnFailure(t, name+" debug log", 250, func() string { return p.debugLog() })
	waitFor(t, p.proc, 20*time.Second, name+" listening on "+o.Addr, func() bool {
		return listening(o.Addr+":5222") && listening(o.Addr+":5269")
	})
	return p
}

func (p *prosody) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "prosody.log"))
	return string(b)
}

func (p *prosody) debugLog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "debug.log"))
	return string(b)
}

// addUser creates local@domain with prosodyctl register, as the prosody
// user so the files it writes stay Prosody's.
func (p *prosody) addUser(t *testing.T, local, password string) {
	t.Helper()
	out, err := exec.Command("setpriv", "--reuid=prosody", "--regid=prosody", "--init-groups",
		"prosodyctl", "--config", p.cfg, "register", local, p.domain, password).CombinedOutput()
	if err != nil {
		t.Fatalf("prosodyctl register %s@%s: %v\n%s", local, p.domain, err, out)
	}
}

// ---- Herald ----

// heraldOpts configures a heraldd for h.test.
type heraldOpts struct {
	Domain      string // default h.test
	Addr        string // loopback address, default heraldAddr (127.0.0.23)
	Leaf        leaf   // the domain's certificate, for c2s and s2s
	CAFile      string // [s2s] ca_file: trust anchors for peer certificates
	RequireCert bool   // [s2s] require_cert: refuse Server Dialback
}

// herald is heraldd running as a child process with a config file, so a
// test can kill it and start it again on the same data.
type herald struct {
	server
	addr    string
	cfgFile string
	proc    *proc
	out     *logBuf // every run's output, in order
}

// startHeraldFed writes a config for h.test on 127.0.0.23 into dir and
// starts heraldd on it. The c2s CA for clients is the one that issued
// o.Leaf, which the caller passes to slixmpp.
func startHeraldFed(t *testing.T, dir string, o heraldOpts) *herald {
	t.Helper()
	if o.Domain == "" {
		o.Domain = "h.test"
	}
	if o.Addr == "" {
		o.Addr = heraldAddr
	}
	q := strconv.Quote
	conf := fmt.Sprintf(`# heraldd for %s, written by Herald's interop tests.
domains = [%q]
data_dir = %s
log_level = "debug"

[c2s]
listen = ["%s:5222"]
listen_tls = []

[s2s]
listen = ["%s:5269"]
listen_tls = []
resolvers = ["%s:53"]
ca_file = %s
require_cert = %t

[tls]
cert = %s
key = %s
`, o.Domain, o.Domain, q(filepath.Join(dir, "data")), o.Addr, o.Addr, dnsAddr, q(o.CAFile), o.RequireCert, q(o.Leaf.Cert), q(o.Leaf.Key))
	cf := filepath.Join(dir, "herald.toml")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &herald{addr: o.Addr, cfgFile: cf, out: &logBuf{}}
	dumpOnFailure(t, "heraldd", 250, h.out.String)
	t.Cleanup(func() {
		// For HERALD_INTEROP_KEEP, beside the data and Prosody's logs.
		os.WriteFile(filepath.Join(dir, "herald.log"), []byte(h.out.String()), 0o600)
		// The child is SIGKILLed, so under -race a report never reaches
		// its exit status: look for it in the output.
		if strings.Contains(h.out.String(), "WARNING: DATA RACE") {
			t.Errorf("heraldd reported a data race:\n%s", h.out.String())
		}
		var warn []string
		for _, l := range strings.Split(h.out.String(), "\n") {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				warn = append(warn, l)
			}
		}
		if len(warn) > 0 {
			t.Logf("heraldd warnings and errors:\n%s", tail(strings.Join(warn, "\n"), 40))
		}
	})
	h.start(t)
	return h
}

var heraldRunning = regexp.MustCompile(`msg="herald is running".* c2s_starttls=(\S*)`)

// start runs heraldd on h's config and waits until it says it is running
// and its s2s port answers.
func (h *herald) start(t *testing.T) {
	t.Helper()
	fmt.Fprintf(h.out, "==== heraldd start %s ====\n", time.Now().Format(time.RFC3339Nano))
	h.proc = startChildArgs(t, h.out, "-config", h.cfgFile)
	var addr string
	waitFor(t, h.proc, 30*time.Second, "heraldd running", func() bool {
		m := heraldRunning.FindStringSubmatch(h.proc.out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	waitFor(t, h.proc, 10*time.Second, "heraldd s2s listening on "+h.addr+":5269", func() bool {
		return listening(h.addr + ":5269")
	})
	h.server = server{c2s: addr, admin: filepath.Join(filepath.Dir(h.cfgFile), "data", "admin.sock")}
}

// restart kills heraldd with SIGKILL (no shutdown code runs) and starts
// it again on the same config and data.
func (h *herald) restart(t *testing.T) {
	t.Helper()
	h.proc.kill()
	h.start(t)
}

// startChildArgs runs the test binary as heraldd with args, copying its
// output to also. It mirrors startChild in harness_test.go, which always
// passes -data and loopback port 0 listeners.
func startChildArgs(t *testing.T, also io.Writer, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HERALDD_TEST_CHILD=1")
	p := &proc{cmd: cmd, out: &logBuf{}, done: make(chan struct{})}
	w := io.MultiWriter(p.out, also)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

// waitPending waits until Herald has stored an inbound subscription
// request from contact to user (RFC 6121 3.1.3), as the admin API shows.
func (h *herald) waitPending(t *testing.T, user, contact string) {
	t.Helper()
	var last string
	waitFor(t, h.proc, 30*time.Second, fmt.Sprintf("pending request from %s to %s", contact, user), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ps, err := h.client().Pending(ctx, user)
		last = fmt.Sprint(ps, err)
		for _, p := range ps {
			if p.From == contact {
				return true
			}
		}
		return false
	})
	t.Logf("pending for %s: %s", user, last)
}

// ---- scenarios across servers ----

// fedClient is a slixmpp client with its own server: slixclient.py lets a
// client's host, port and cafile override the scenario's.
type fedClient struct {
	clientSpec
	Host   string `json:"host"`
	Port   int    `json:"port"`
	CAFile string `json:"cafile"`
}

// runFed runs a scenario whose clients are on different servers; it is
// runSlixmpp without the single server.
func runFed(t *testing.T, clients map[string]fedClient, steps []step) []result {
	t.Helper()
	return runFedMode(t, clients, steps, false)
}

// runFedPartial is runFed for scenarios expected to stop at a failed step:
// it returns the results of the steps that ran.
func runFedPartial(t *testing.T, clients map[string]fedClient, steps []step) []result {
	t.Helper()
	return runFedMode(t, clients, steps, true)
}

func runFedMode(t *testing.T, clients map[string]fedClient, steps []step, partial bool) []result {
	t.Helper()
	sc := map[string]any{"clients": clients, "steps": steps}
	b, _ := json.Marshal(sc)
	f := filepath.Join(t.TempDir(), "scenario.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/slixclient.py", f)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var results []result
	sc2 := bufio.NewScanner(bytes.NewReader(out))
	for sc2.Scan() {
		line := strings.TrimSpace(sc2.Text())
		if line == "" {
			continue
		}
		var r result
		if jerr := json.Unmarshal([]byte(line), &r); jerr != nil {
			t.Fatalf("bad scenario output %q: %v", line, jerr)
		}
		results = append(results, r)
	}
	if !partial && (err != nil || len(results) != len(steps)) {
		failed := ""
		if n := len(results); n > 0 && n <= len(steps) {
			st, _ := json.Marshal(steps[n-1])
			failed = fmt.Sprintf("failed step %d: %s\n", n-1, st)
		}
		t.Fatalf("slixmpp scenario failed (%v): %d of %d steps ran\n%sstdout:\n%s\nstderr:\n%s",
			err, len(results), len(steps), failed, out, tail(stderr.String(), 60))
	}
	return results
}

// ---- the environment on its own ----

// TestInteropEnvironment checks the pieces the federation tests stand on,
// without Herald: the test zone answers, and Prosody serves p.test to a
// slixmpp client over STARTTLS with a certificate from the test CA.
func TestInteropEnvironment(t *testing.T) {
	needInterop(t)
	dir := interopDir(t)
	startDNS(t, dir)
	for _, d := range dnsDomains {
		for _, svc := range []string{"_xmpp-server._tcp.", "_xmpp-client._tcp."} {
			srv, err := lookupSRV(svc + d.domain + ".")
			if err != nil {
				t.Fatal(err)
			}
			if srv[0].Target != d.domain+"." {
				t.Errorf("%s%s points at %s, want %s.", svc, d.domain, srv[0].Target, d.domain)
			}
		}
		a, err := lookupA(d.domain + ".")
		if err != nil || len(a) != 1 || a[0] != d.addr {
			t.Errorf("A %s = %v, %v; want %s", d.domain, a, err, d.addr)
		}
	}
	// no-resolv and local=/test/: nothing outside the zone resolves, so no
	// test reaches beyond the machine by name.
	if a, _ := lookupA("example.com."); len(a) > 0 {
		t.Errorf("the test DNS server answers for example.com: %v", a)
	}
	// A stand-in for h.test's s2s port: Prosody must find it through
	// 127.0.0.20 (SRV, then A) from inside its namespace.
	ln, err := net.Listen("tcp", heraldAddr+":5269")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	header := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		var got []byte
		buf := make([]byte, 1024)
		for !bytes.Contains(got, []byte(">")) || !bytes.Contains(got, []byte("stream")) {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		header <- string(got)
	}()
	ca := newTestCA(t, dir, "ca")
	p := startProsody(t, dir, prosodyOpts{SecureAuth: true, Leaf: ca.issue(t, "p.test", true), CAFile: ca.File})
	p.addUser(t, "bob", "password-bob")
	res := runFed(t, map[string]fedClient{
		"bob": {clientSpec: clientSpec{JID: "bob@p.test/b", Password: "password-bob", Mech: "SCRAM-SHA-1"},
			Host: prosodyAddr, Port: 5222, CAFile: ca.File},
	}, []step{
		{"client": "bob", "op": "connect"},
		{"client": "bob", "op": "roster"},
		{"client": "bob", "op": "presence"},
		{"client": "bob", "op": "ping"},
	})
	if got := res[0].str("jid"); got != "bob@p.test/b" {
		t.Errorf("bound %q, want bob@p.test/b", got)
	}
	runFed(t, map[string]fedClient{
		"bob": {clientSpec: clientSpec{JID: "bob@p.test/b2", Password: "password-bob", Mech: "SCRAM-SHA-1"},
			Host: prosodyAddr, Port: 5222, CAFile: ca.File},
	}, []step{
		{"client": "bob", "op": "connect"},
		{"client": "bob", "op": "send", "to": "nobody@h.test", "body": "are you there?"},
	})
	select {
	case h := <-header:
		if !strings.Contains(h, "h.test") {
			t.Errorf("Prosody reached 127.0.0.23:5269 but opened %q", h)
		}
		t.Logf("Prosody found h.test through the test DNS and opened: %s", h)
	case <-time.After(20 * time.Second):
		t.Error("Prosody never connected to h.test's SRV target 127.0.0.23:5269 (is its DNS 127.0.0.20?)")
	}
	t.Logf("prosody log:\n%s", tail(p.log(), 15))
}
