package c2s

import (
	"fmt"
	"testing"

	"github.com/heraldxmpp/herald/c2s/sasl"
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
