package disco

import (
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// NSPing is XEP-0199's namespace.
const NSPing = "urn:xmpp:ping"

// Ping answers XEP-0199 pings to the server and to accounts.
type Ping struct{}

// Register implements delivery.Service.
func (Ping) Register(m *delivery.Mux) {
	name := stanza.Name{Space: NSPing, Local: "ping"}
	m.Feature(NSPing)
	m.HandleServer(name, pong)
	// XEP-0199 3: a ping to the account's bare JID is answered by the
	// server on the account's behalf.
	m.HandleUser(name, pong)
}

func pong(iq, _ *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if iq.Get("type") != "get" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	return delivery.Result(iq, from, to), nil
}
