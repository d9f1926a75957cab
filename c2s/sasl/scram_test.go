package sasl

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

var scramHashes = map[string]scram.HashGeneratorFcn{
	SCRAMSHA256: scram.SHA256, SCRAMSHA256Plus: scram.SHA256,
	SCRAMSHA1: scram.SHA1, SCRAMSHA1Plus: scram.SHA1,
}

// clientSpec says how the xdg-go/scram client behaves.
type clientSpec struct {
	user, password, authzID string
	flag                    string // "n", "y" or "p"
	cb                      scram.ChannelBinding
}

func newClient(t testing.TB, mech string, c clientSpec) *scram.ClientConversation {
	t.Helper()
	client, err := scramHashes[mech].NewClient(c.user, c.password, c.authzID)
	if err != nil {
		t.Fatal(err)
	}
	switch c.flag {
	case "y":
		return client.NewConversationAdvertisingChannelBinding()
	case "p":
		return client.NewConversationWithChannelBinding(c.cb)
	}
	return client.NewConversation()
}

// exchange runs a full SCRAM conversation between an xdg-go/scram client and
// s. It returns the step (1 or 2) at which the server failed, and its error.
// When the server succeeds, the client must accept its signature.
func exchange(t *testing.T, s Session, cc *scram.ClientConversation) (step int, err error) {
	t.Helper()
	c1, err := cc.Step("")
	if err != nil {
		t.Fatalf("client first: %v", err)
	}
	s1, done, err := s.Step([]byte(c1))
	if err != nil {
		return 1, err
	}
	if done {
		t.Fatalf("server done after the first message")
	}
	c2, err := cc.Step(string(s1))
	if err != nil {
		t.Fatalf("client final (server-first %q): %v", s1, err)
	}
	s2, done, err := s.Step([]byte(c2))
	if err != nil {
		return 2, err
	}
	if !done {
		t.Fatalf("server not done after the final message")
	}
	if _, err := cc.Step(string(s2)); err != nil || !cc.Valid() {
		t.Fatalf("client rejects server-final %q: %v", s2, err)
	}
	return 0, nil
}

// bindingRefusals are the failure texts of channel binding refusals, which
// come before any credential is checked.
var bindingRefusals = map[string]bool{
	"unsupported channel binding type":           true,
	"channel binding mismatch":                   true,
	"a -PLUS mechanism requires channel binding": true,
	"channel binding was offered":                true,
	"channel binding requires a -PLUS mechanism": true,
}

func TestSCRAM(t *testing.T) {
	exporter := scram.ChannelBinding{Type: scram.ChannelBindingTLSExporter, Data: exporterData}
	endPoint := scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: endPointData}
	unique := scram.ChannelBinding{Type: scram.ChannelBindingTLSUnique, Data: uniqueData}
	wrongData := scram.ChannelBinding{Type: scram.ChannelBindingTLSExporter, Data: bytes.Repeat([]byte{9}, 32)}
	onlyEndPoint := ChannelBindings{TLSServerEndPoint: endPointData}
	tls13Bindings := ChannelBindings{TLSServerEndPoint: endPointData, TLSExporter: exporterData}

	type tc struct {
		name     string
		bindings ChannelBindings
		client   clientSpec
		failStep int
		want     Condition
		text     string
	}
	cases := func(mech string) []tc {
		if strings.HasSuffix(mech, "-PLUS") {
			return []tc{
				{"tls-exporter", allBindings, clientSpec{flag: "p", cb: exporter}, 0, "", ""},
				{"tls-server-end-point", allBindings, clientSpec{flag: "p", cb: endPoint}, 0, "", ""},
				{"tls-unique", allBindings, clientSpec{flag: "p", cb: unique}, 0, "", ""},
				{"only end-point offered", onlyEndPoint, clientSpec{flag: "p", cb: endPoint}, 0, "", ""},
				{"type not offered", onlyEndPoint, clientSpec{flag: "p", cb: exporter}, 1, NotAuthorized, "unsupported channel binding type"},
				// TLS 1.3: tls-unique is undefined (RFC 9266 1), the other two are offered.
				{"tls-unique under TLS 1.3", tls13Bindings, clientSpec{flag: "p", cb: unique}, 1, NotAuthorized, "unsupported channel binding type"},
				{"binding data mismatch", allBindings, clientSpec{flag: "p", cb: wrongData}, 2, NotAuthorized, "channel binding mismatch"},
				{"flag n", allBindings, clientSpec{flag: "n"}, 1, MalformedRequest, "a -PLUS mechanism requires channel binding"},
				{"flag y", allBindings, clientSpec{flag: "y"}, 1, MalformedRequest, "a -PLUS mechanism requires channel binding"},
				{"wrong password", allBindings, clientSpec{flag: "p", cb: exporter, password: "wrong"}, 2, NotAuthorized, ""},
				{"unknown user", allBindings, clientSpec{flag: "p", cb: exporter, user: "romeo"}, 2, NotAuthorized, ""},
			}
		}
		return []tc{
			{"no binding", ChannelBindings{}, clientSpec{flag: "n"}, 0, "", ""},
			{"client cannot bind, server can", allBindings, clientSpec{flag: "n"}, 0, "", ""},
			{"y without -PLUS offered", ChannelBindings{}, clientSpec{flag: "y"}, 0, "", ""},
			{"y with -PLUS offered (downgrade)", allBindings, clientSpec{flag: "y"}, 1, NotAuthorized, "channel binding was offered"},
			{"p on a non-PLUS mechanism", allBindings, clientSpec{flag: "p", cb: exporter}, 1, MalformedRequest, "channel binding requires a -PLUS mechanism"},
			{"case-mapped username", ChannelBindings{}, clientSpec{flag: "n", user: "JULIET"}, 0, "", ""},
			{"wrong password", ChannelBindings{}, clientSpec{flag: "n", password: "wrong"}, 2, NotAuthorized, ""},
			{"unknown user", ChannelBindings{}, clientSpec{flag: "n", user: "romeo"}, 2, NotAuthorized, ""},
			{"unpreparable user", ChannelBindings{}, clientSpec{flag: "n", user: "\u265A"}, 2, NotAuthorized, ""},
		}
	}
	for _, mech := range []string{SCRAMSHA256Plus, SCRAMSHA1Plus, SCRAMSHA256, SCRAMSHA1} {
		for _, c := range cases(mech) {
			t.Run(mech+"/"+c.name, func(t *testing.T) {
				if c.client.user == "" {
					c.client.user = "juliet"
				}
				if c.client.password == "" {
					c.client.password = julietPassword
				}
				st := newStore()
				cfg := Config{TLS: true, Bindings: c.bindings, Lookup: st.lookup}
				s, err := New(mech, cfg)
				if err != nil {
					t.Fatal(err)
				}
				step, err := exchange(t, s, newClient(t, mech, c.client))
				if c.failStep == 0 {
					if err != nil {
						t.Fatalf("failed at step %d: %v", step, err)
					}
					if s.Username() != "juliet" || s.AuthzID() != "" {
						t.Errorf("Username() = %q, AuthzID() = %q", s.Username(), s.AuthzID())
					}
					if len(st.asked) != 1 || st.asked[0] != "juliet" {
						t.Errorf("looked up %q, want [juliet]", st.asked)
					}
					return
				}
				var f *Failure
				if !errors.As(err, &f) {
					t.Fatalf("err = %v (step %d), want a *Failure", err, step)
				}
				if step != c.failStep || f.Condition != c.want || f.Text != c.text {
					t.Errorf("failed at step %d with %+v, want step %d with %s %q", step, f, c.failStep, c.want, c.text)
				}
				// Channel binding refusals say nothing about the password
				// and are marked so; a wrong password or user never is.
				if want := bindingRefusals[c.text]; f.Mismatch != want {
					t.Errorf("Mismatch = %v, want %v", f.Mismatch, want)
				}
				if s.Username() != "" {
					t.Errorf("Username() = %q after failure", s.Username())
				}
				if _, _, err := s.Step([]byte("c=biws")); condition(err) == "" {
					t.Errorf("Step after failure: %v", err)
				}
			})
		}
	}
}

// serverFirst starts a SCRAM-SHA-256 exchange for user and returns the
// server-first-message.
func serverFirst(t *testing.T, cfg Config, mech, user string) string {
	t.Helper()
	s, err := New(mech, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := s.Step([]byte("n,,n=" + user + ",r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func saltAndIterations(msg string) string {
	_, rest, _ := strings.Cut(msg, ",")
	return rest
}

// An unknown user gets a salt and iteration count that look real and do not
// change between attempts, so probing cannot tell it from a real account.
func TestSCRAMUnknownUserIsStable(t *testing.T) {
	cfg := Config{Lookup: newStore().lookup}
	a := saltAndIterations(serverFirst(t, cfg, SCRAMSHA256, "romeo"))
	if b := saltAndIterations(serverFirst(t, cfg, SCRAMSHA256, "romeo")); a != b {
		t.Errorf("decoy changes between attempts: %q, %q", a, b)
	}
	if b := saltAndIterations(serverFirst(t, cfg, SCRAMSHA256, "ROMEO")); a != b {
		t.Errorf("decoy depends on unprepared username: %q, %q", a, b)
	}
	if b := saltAndIterations(serverFirst(t, cfg, SCRAMSHA256, "mercutio")); a == b {
		t.Errorf("two unknown users share a salt")
	}
	if b := saltAndIterations(serverFirst(t, cfg, SCRAMSHA1, "romeo")); a == b {
		t.Errorf("SHA-1 and SHA-256 decoys share a salt")
	}
	if !strings.HasSuffix(a, ",i=4096") || len(a) != len("s=")+24+len(",i=4096") {
		t.Errorf("decoy does not look like a real account: %q", a)
	}
	real := saltAndIterations(serverFirst(t, cfg, SCRAMSHA256, "juliet"))
	if len(real) != len(a) {
		t.Errorf("real %q and decoy %q differ in shape", real, a)
	}

	// Nodes sharing a DecoyKey show the same decoy.
	n1 := Config{Lookup: newStore().lookup, DecoyKey: []byte("cluster secret"), DecoyIterations: 10000}
	n2 := Config{Lookup: newStore().lookup, DecoyKey: []byte("cluster secret"), DecoyIterations: 10000}
	a1 := saltAndIterations(serverFirst(t, n1, SCRAMSHA256, "romeo"))
	if a2 := saltAndIterations(serverFirst(t, n2, SCRAMSHA256, "romeo")); a1 != a2 || a1 == a {
		t.Errorf("shared DecoyKey: %q and %q (process key gave %q)", a1, a2, a)
	}
	if !strings.HasSuffix(a1, ",i=10000") {
		t.Errorf("DecoyIterations ignored: %q", a1)
	}
}

// An account with no SHA-1 key cannot use SCRAM-SHA-1, and fails like a wrong
// password.
func TestSCRAMMissingKey(t *testing.T) {
	st := newStore()
	c := julietCredentials()
	c.SHA1 = Key{}
	st.accounts["juliet"] = c
	s, _ := New(SCRAMSHA1, Config{Lookup: st.lookup})
	step, err := exchange(t, s, newClient(t, SCRAMSHA1, clientSpec{user: "juliet", password: julietPassword}))
	if step != 2 || condition(err) != NotAuthorized {
		t.Errorf("step %d: %v", step, err)
	}
	s, _ = New(SCRAMSHA256, Config{Lookup: st.lookup})
	if _, err := exchange(t, s, newClient(t, SCRAMSHA256, clientSpec{user: "juliet", password: julietPassword})); err != nil {
		t.Errorf("SCRAM-SHA-256: %v", err)
	}
}

func TestSCRAMAuthzIDAndEmptyInitialResponse(t *testing.T) {
	s, _ := New(SCRAMSHA256, Config{Lookup: newStore().lookup})
	out, done, err := s.Step(nil)
	if err != nil || done || out == nil || len(out) != 0 {
		t.Fatalf("Step(nil) = %q, %v, %v; want an empty challenge", out, done, err)
	}
	cc := newClient(t, SCRAMSHA256, clientSpec{user: "juliet", password: julietPassword, authzID: "juliet@example.com"})
	if _, err := exchange(t, s, cc); err != nil {
		t.Fatal(err)
	}
	if s.AuthzID() != "juliet@example.com" || s.Username() != "juliet" {
		t.Errorf("AuthzID() = %q, Username() = %q", s.AuthzID(), s.Username())
	}
	if _, _, err := s.Step([]byte("more")); condition(err) != MalformedRequest {
		t.Errorf("Step after success: %v", err)
	}

	s, _ = New(SCRAMSHA256, Config{Lookup: newStore().lookup})
	s.Step(nil)
	if _, _, err := s.Step([]byte{}); condition(err) != MalformedRequest {
		t.Errorf("second empty response: %v", err)
	}
}

func TestSCRAMTemporaryFailures(t *testing.T) {
	st := newStore()
	st.err = errors.New("disk on fire")
	s, _ := New(SCRAMSHA256, Config{Lookup: st.lookup})
	step, err := exchange(t, s, newClient(t, SCRAMSHA256, clientSpec{user: "juliet", password: julietPassword}))
	var f *Failure
	if step != 1 || !errors.As(err, &f) || f.Condition != TemporaryAuthFailure || f.Text != "" {
		t.Errorf("lookup error: step %d, %v", step, err)
	}
	s, _ = New(SCRAMSHA256, Config{Lookup: newStore().lookup, Rand: errReader{}})
	if step, err := exchange(t, s, newClient(t, SCRAMSHA256, clientSpec{user: "juliet", password: julietPassword})); step != 1 || condition(err) != TemporaryAuthFailure {
		t.Errorf("rand error: step %d, %v", step, err)
	}
}

func TestSCRAMGarbage(t *testing.T) {
	firsts := []string{
		"x", ",", ",,", "n", "n,", "n,,", "n,,n=juliet", "n,,r=abc", "n,,n=juliet,",
		"n,,n=,r=abc", "n,,n=juliet,r=", "n,,n=juliet,r=a b", "n,,n=ju=liet,r=abc",
		"n,,n=ju=2Xliet,r=abc", "n,,m=x,n=juliet,r=abc", "n,x,n=juliet,r=abc",
		"n,a=,n=juliet,r=abc", "n,a==,n=juliet,r=abc", "q,,n=juliet,r=abc",
		"p,,n=juliet,r=abc", "p=,,n=juliet,r=abc", "p=tls unique,,n=juliet,r=abc",
		"n,,n=juliet,r=abc,1=x", "n,,n=juliet,r=abc,x", "n,,n=jul\x00iet,r=abc",
		"n,,n=juliet,r=abc\x7f", "n,,n=\xff,r=abc", "y,,n=juliet,r=ab\u00e9",
	}
	for _, m := range firsts {
		s, _ := New(SCRAMSHA256, Config{Lookup: newStore().lookup})
		out, done, err := s.Step([]byte(m))
		if condition(err) != MalformedRequest || done || out != nil {
			t.Errorf("first %q: %q, %v, %v; want malformed-request", m, out, done, err)
		}
	}

	cfg := Config{Lookup: newStore().lookup, Rand: constReader(0)}
	nonce := "abc" + strings.Repeat("A", 32)
	proof := base64.StdEncoding.EncodeToString(make([]byte, 32))
	finals := []string{
		"", "x", "c=biws", "c=biws,r=" + nonce, "c=biws,r=" + nonce + ",p=",
		"c=biws,r=" + nonce + ",p=AAAA", "c=bi!s,r=" + nonce + ",p=" + proof,
		"c=,r=" + nonce + ",p=" + proof, "c=biws,r=,p=" + proof,
		"c=biws,r=" + nonce + ",x,p=" + proof, "c=biws,r=" + nonce + ",p=" + proof + ",",
		"r=" + nonce + ",c=biws,p=" + proof, "c=biws,r=" + nonce + ",p=" + proof[:len(proof)-1] + "B",
		"c=biws,r=" + nonce + ",p=" + proof + "\xff",
	}
	for _, m := range finals {
		s, _ := New(SCRAMSHA256, cfg)
		if _, _, err := s.Step([]byte("n,,n=juliet,r=abc")); err != nil {
			t.Fatal(err)
		}
		out, done, err := s.Step([]byte(m))
		if condition(err) != MalformedRequest || done || out != nil {
			t.Errorf("final %q: %q, %v, %v; want malformed-request", m, out, done, err)
		}
	}

	// Well-formed but wrong: nonce mismatch, wrong proof, wrong gs2 header.
	for _, m := range []string{
		"c=biws,r=abcX,p=" + proof,
		"c=biws,r=" + nonce + ",p=" + proof,
		"c=biws,r=" + nonce + ",e=ext,p=" + proof,
		"c=eSws,r=" + nonce + ",p=" + proof,
	} {
		s, _ := New(SCRAMSHA256, cfg)
		s.Step([]byte("n,,n=juliet,r=abc"))
		if _, _, err := s.Step([]byte(m)); condition(err) != NotAuthorized {
			t.Errorf("final %q: %v; want not-authorized", m, err)
		}
	}
}

// vectorSession replays a published SCRAM example: the account "user" with
// password "pencil" and the example's salt, and the example's server nonce.
func vectorSession(t *testing.T, mech, salt, serverNonce string) Session {
	t.Helper()
	saltBytes, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		t.Fatal(err)
	}
	key, err := deriveKey(scramHashes[mech], "pencil", saltBytes, 4096)
	if err != nil {
		t.Fatal(err)
	}
	var c Credentials
	if mech == SCRAMSHA1 {
		c.SHA1 = key
	} else {
		c.SHA256 = key
	}
	st := &store{accounts: map[string]Credentials{"user": c}}
	s, err := New(mech, Config{Lookup: st.lookup})
	if err != nil {
		t.Fatal(err)
	}
	s.(*scramSession).nonce = func(io.Reader) (string, error) { return serverNonce, nil }
	return s
}

func replay(t *testing.T, s Session, transcript [4]string) {
	t.Helper()
	for i := 0; i < 4; i += 2 {
		out, done, err := s.Step([]byte(transcript[i]))
		if err != nil {
			t.Fatalf("C: %s\n%v", transcript[i], err)
		}
		if string(out) != transcript[i+1] || done != (i == 2) {
			t.Fatalf("C: %s\nS: %s (done=%v)\nwant %s", transcript[i], out, done, transcript[i+1])
		}
	}
}

// RFC 5802 5: the SCRAM-SHA-1 example exchange.
func TestRFC5802Vector(t *testing.T) {
	s := vectorSession(t, SCRAMSHA1, "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j")
	replay(t, s, [4]string{
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	})
}

// RFC 7677 3: the SCRAM-SHA-256 example exchange.
func TestRFC7677Vector(t *testing.T) {
	s := vectorSession(t, SCRAMSHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
	replay(t, s, [4]string{
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	})
}

func TestNonce(t *testing.T) {
	n, err := newNonce(nil)
	if err != nil || !printable(n) || len(n) != 32 {
		t.Errorf("newNonce = %q, %v", n, err)
	}
	m, _ := newNonce(nil)
	if m == n {
		t.Errorf("two nonces are equal: %q", n)
	}
}

// BenchmarkSCRAMSHA256Login measures the server side of one full
// SCRAM-SHA-256 login: New and both steps. The server nonce is fixed so that
// the client messages can be computed once, outside the loop.
func BenchmarkSCRAMSHA256Login(b *testing.B) {
	cfg := Config{Lookup: benchLookup, Rand: constReader(7)}
	client, _ := scram.SHA256.NewClient("juliet", julietPassword, "")
	cc := client.NewConversation()
	c1, _ := cc.Step("")
	s, _ := New(SCRAMSHA256, cfg)
	s1, _, err := s.Step([]byte(c1))
	if err != nil {
		b.Fatal(err)
	}
	c2, _ := cc.Step(string(s1))
	first, final := []byte(c1), []byte(c2)
	b.ReportAllocs()
	for b.Loop() {
		s, _ := New(SCRAMSHA256, cfg)
		if _, _, err := s.Step(first); err != nil {
			b.Fatal(err)
		}
		if _, done, err := s.Step(final); err != nil || !done {
			b.Fatal(fmt.Sprint(done, err))
		}
	}
}
