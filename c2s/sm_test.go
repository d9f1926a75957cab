package c2s

import (
	"testing"

	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// TestSMAcks enables XEP-0198 on a bound stream over real TCP and TLS:
// the feature is offered after SASL, <r/> is answered with the count of
// stanzas the server handled, and an <a/> acknowledging more than was
// sent ends the stream with <handled-count-too-high/> (XEP-0198 5).
func TestSMAcks(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(t, "juliet", "phone")
	if c.features.Child(nsSM, "sm") == nil {
		t.Fatalf("no sm feature after SASL: %s", c.features)
	}
	c.send(`<enable xmlns='urn:xmpp:sm:3'/>`)
	c.nextNamed(nsSM, "enabled")
	c.ping()
	c.ping()
	c.send(`<r xmlns='urn:xmpp:sm:3'/>`)
	if a := c.nextNamed(nsSM, "a"); a.Get("h") != "2" {
		t.Fatalf("answer to <r/>: %s, want h='2'", a)
	}
	// Two stanzas (the ping results) were sent: h='2' is fine, h='3' is not.
	c.send(`<a xmlns='urn:xmpp:sm:3' h='2'/>`)
	c.send(`<enable xmlns='urn:xmpp:sm:3'/>`)
	if f := c.nextNamed(nsSM, "failed"); f.FirstElement() == nil || f.FirstElement().Name.Local != "unexpected-request" {
		t.Fatalf("second enable: %s", f)
	}
	c.send(`<a xmlns='urn:xmpp:sm:3' h='3'/>`)
	se := c.expectStreamError(xmlstream.UndefinedCondition)
	if se.App == nil || se.App.Name.Space != nsSM || se.App.Name.Local != "handled-count-too-high" ||
		se.App.Get("h") != "3" || se.App.Get("send-count") != "2" {
		t.Fatalf("stream error app condition %v, want handled-count-too-high h=3 send-count=2", se.App)
	}
}

// TestSMServerRequests: past Config.SMRequestAfter unacknowledged
// stanzas the server asks for an acknowledgement, once per that many.
func TestSMServerRequests(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SMRequestAfter = 3 })
	c := e.login(t, "juliet", "phone")
	c.send(`<enable xmlns='urn:xmpp:sm:3'/>`)
	c.nextNamed(nsSM, "enabled")
	c.ping()
	c.ping()
	c.ping()
	c.nextNamed(nsSM, "r")
	c.send(`<a xmlns='urn:xmpp:sm:3' h='3'/>`)
	c.ping()
	c.ping()
	c.ping()
	c.nextNamed(nsSM, "r")
}
