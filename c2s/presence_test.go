package c2s

import (
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// presenceCalls is a Presence that reports each call as "Method JID".
type presenceCalls chan string

func (p presenceCalls) Outbound(user, _ jid.JID, _ *stanza.Element) { p <- "Outbound " + user.String() }
func (p presenceCalls) Available(full jid.JID, _ *stanza.Element, _ bool) {
	p <- "Available " + full.String()
}
func (p presenceCalls) Unavailable(full jid.JID, _ *stanza.Element) {
	p <- "Unavailable " + full.String()
}
func (p presenceCalls) Ended(full jid.JID, _ *stanza.Element)       { p <- "Ended " + full.String() }
func (p presenceCalls) Directed(full, _ jid.JID, _ *stanza.Element) { p <- "Directed " + full.String() }

func (p presenceCalls) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-p:
		if got != want {
			t.Fatalf("presence layer got %q, want %q", got, want)
		}
	case <-time.After(ioTimeout):
		t.Fatalf("presence layer never got %q", want)
	}
}

// A session that ends is reported to the presence layer: as unavailable
// when it was available (RFC 6121 4.5.2), as ended when it never was, so
// that the entities its directed presence reached still get unavailable
// presence (4.6.2 item 3).
func TestSessionEndReported(t *testing.T) {
	calls := presenceCalls(make(chan string, 16))
	e := newEnv(t, func(c *Config) { c.Presence = calls })

	c := e.login(t, "juliet", "balcony")
	c.send(`<presence to='romeo@localhost'/>`)
	calls.expect(t, "Directed juliet@localhost/balcony")
	c.conn.Close()
	calls.expect(t, "Ended juliet@localhost/balcony")

	c = e.login(t, "romeo", "garden")
	c.available()
	calls.expect(t, "Available romeo@localhost/garden")
	c.conn.Close()
	calls.expect(t, "Unavailable romeo@localhost/garden")
}
