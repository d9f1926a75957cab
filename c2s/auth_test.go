package c2s

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

func authElement(mech, data string) string {
	return fmt.Sprintf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>`, mech, data)
}

// statsDelta is what the server counted between two snapshots.
func statsDelta(before, after AuthStats) AuthStats {
	return AuthStats{
		Attempts: after.Attempts - before.Attempts, Successes: after.Successes - before.Successes,
		Failures: after.Failures - before.Failures, Mismatches: after.Mismatches - before.Mismatches,
	}
}

// A client that cannot tell which channel binding the server supports, as
// slixmpp 1.8 over TLS 1.3: it tries the -PLUS mechanisms with tls-unique
// (undefined under TLS 1.3, RFC 9266 1), then SCRAM with the gs2 flag "y"
// (refused while -PLUS is offered, RFC 5802 6), then PLAIN. Each refusal is
// made before any credential is checked and does not count toward
// MaxAuthFailures, so its first password attempt logs it in. Failed
// password attempts still end the stream at MaxAuthFailures.
func TestSASLMismatchesDoNotCount(t *testing.T) {
	e, obs := badInputEnv(t)
	slixmppRefusals := []string{
		authElement(sasl.SCRAMSHA256Plus, b64("p=tls-unique,,n=juliet,r=abcdefgh")),
		authElement(sasl.SCRAMSHA1Plus, b64("p=tls-unique,,n=juliet,r=abcdefgh")),
		authElement(sasl.SCRAMSHA256, b64("y,,n=juliet,r=abcdefgh")),
		authElement(sasl.SCRAMSHA1, b64("y,,n=juliet,r=abcdefgh")),
	}
	t.Run("slixmpp over TLS 1.3", func(t *testing.T) {
		c := e.reach(t, secured)
		checkAuthFeatures(t, c)
		before := e.srv.AuthStats()
		for _, a := range slixmppRefusals {
			c.send(a)
			c.saslFailure(string(sasl.NotAuthorized))
		}
		c.send(authElement("X-OAUTH2", b64("token")))
		c.saslFailure(string(sasl.InvalidMechanism))
		c.authPlain("juliet")
		c.bind("")
		c.ping()
		want := AuthStats{Attempts: 6, Successes: 1, Mismatches: 5}
		if got := statsDelta(before, e.srv.AuthStats()); got != want {
			t.Errorf("counted %+v, want %+v", got, want)
		}
	})
	t.Run("wrong passwords still count", func(t *testing.T) {
		c := e.reach(t, secured)
		before := e.srv.AuthStats()
		for _, a := range slixmppRefusals {
			c.send(a)
			c.saslFailure(string(sasl.NotAuthorized))
		}
		for range badMaxFailures {
			c.send(authElement(sasl.Plain, plainResponse("juliet", "not-the-password")))
			c.saslFailure(string(sasl.NotAuthorized))
		}
		c.expectStreamError(xmlstream.PolicyViolation)
		want := AuthStats{Attempts: 4 + badMaxFailures, Failures: badMaxFailures, Mismatches: 4}
		if got := statsDelta(before, e.srv.AuthStats()); got != want {
			t.Errorf("counted %+v, want %+v", got, want)
		}
	})
	t.Run("refusals are bounded", func(t *testing.T) {
		c := e.reach(t, secured)
		before := e.srv.AuthStats()
		for range maxMismatches {
			c.send(authElement("X-OAUTH2", b64("token")))
			c.saslFailure(string(sasl.InvalidMechanism))
		}
		c.expectStreamError(xmlstream.PolicyViolation)
		if got := statsDelta(before, e.srv.AuthStats()); got.Mismatches != maxMismatches || got.Failures != 0 {
			t.Errorf("counted %+v, want %d mismatches", got, maxMismatches)
		}
	})
	stillWorks(t, obs)
}

// strictAccounts is an account store like the real one: a name that cannot
// be a localpart cannot be stored or looked up, and asking for one is an
// error of the store, not an unknown user.
type strictAccounts struct {
	*accounts
	mu    sync.Mutex
	asked []string
}

func (a *strictAccounts) lookup(domain, user string) (sasl.Credentials, error) {
	a.mu.Lock()
	a.asked = append(a.asked, user)
	a.mu.Unlock()
	if _, err := jid.New(user, domain, ""); err != nil {
		return sasl.Credentials{}, fmt.Errorf("store: %q is not an account name", user)
	}
	return a.accounts.lookup(domain, user)
}

// An authentication identity that is no localpart (RFC 7622 3.3) names no
// account: PLAIN and SCRAM fail with not-authorized (RFC 6120 6.5.10), as
// for an unknown user, never with temporary-auth-failure (6.5.11), which
// tells clients to try again. The store is not asked about such names.
func TestSASLUsernameNotALocalpart(t *testing.T) {
	var strict *strictAccounts
	e := newEnv(t, func(cfg *Config) {
		strict = &strictAccounts{accounts: newAccounts("juliet")}
		cfg.Credentials = strict.lookup
	})
	for _, name := range []string{
		"juliet@" + testDomain, "juliet@example.net", "juliet/balcony", "juliet<3", "a:b",
		strings.Repeat("x", 1024), strings.Repeat("x", 100<<10),
	} {
		short := name
		if len(short) > 20 {
			short = fmt.Sprintf("%d bytes", len(name))
		}
		t.Run("PLAIN "+short, func(t *testing.T) {
			c := e.reach(t, secured)
			c.send(authElement(sasl.Plain, plainResponse(name, testPassword)))
			c.saslFailure(string(sasl.NotAuthorized))
			c.authPlain("juliet")
		})
		t.Run("SCRAM "+short, func(t *testing.T) {
			c := e.reach(t, secured)
			// The server answers with a challenge, as for any user, and
			// fails at the end (RFC 6120 6.5.10: unknown users and wrong
			// passwords look the same).
			conv, s1 := c.scramStart(name, sasl.SCRAMSHA256, nil)
			final, err := conv.Step(s1)
			if err != nil {
				t.Fatal(err)
			}
			c.sendf(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>`, b64(final))
			c.saslFailure(string(sasl.NotAuthorized))
			c.authPlain("juliet")
		})
	}
	strict.mu.Lock()
	defer strict.mu.Unlock()
	for _, u := range strict.asked {
		if u != "juliet" {
			t.Errorf("the store was asked for %.40q", u)
		}
	}
}

// A client that ends <auth/> with a newline and restarts the stream with an
// XML declaration (as mattn/go-xmpp, and so go-sendxmpp, does) binds: the
// newline belongs to the stream that ended (RFC 6120 11.7), and the new
// stream may start with a declaration (RFC 6120 11.5).
func TestRestartAfterNewline(t *testing.T) {
	e := newEnv(t, nil)
	c := e.reach(t, secured)
	// One write, as such a client sends it, and so one read for the
	// server: the newline is already buffered when the stream restarts.
	c.send(authElement(sasl.Plain, plainResponse("juliet", testPassword)) + "\n")
	c.saslDone()
	checkBindFeatures(t, c)
	c.bind("")
	c.ping()
}
