package disco

import (
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// NSVersion is XEP-0092's namespace.
const NSVersion = "jabber:iq:version"

// Version answers XEP-0092 software version queries to the server.
type Version struct {
	Name, Version string
}

// Register implements delivery.Service.
func (v Version) Register(m *delivery.Mux) {
	m.Feature(NSVersion)
	m.HandleServer(stanza.Name{Space: NSVersion, Local: "query"}, v.answer)
}

func (v Version) answer(iq, _ *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if iq.Get("type") != "get" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	q := stanza.NewElement(NSVersion, "query")
	q.Append(stanza.NewElement(NSVersion, "name").AppendText(v.Name))
	q.Append(stanza.NewElement(NSVersion, "version").AppendText(v.Version))
	return delivery.Result(iq, from, to).Append(q), nil
}
