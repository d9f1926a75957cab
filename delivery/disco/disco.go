package disco

import (
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Namespaces of XEP-0030.
const (
	NSInfo  = "http://jabber.org/protocol/disco#info"
	NSItems = "http://jabber.org/protocol/disco#items"
)

// Disco answers disco#info and disco#items for the server's domains and
// for accounts' bare JIDs, with the features, identities and components
// every service registered on the mux.
type Disco struct {
	// Name is the human name of the server's identity.
	Name string

	mux *delivery.Mux
}

// Register implements delivery.Service.
func (d *Disco) Register(m *delivery.Mux) {
	d.mux = m
	// XEP-0030 3.1: an XMPP server's identity is server/im.
	m.Identity(delivery.Identity{Category: "server", Type: "im", Name: d.Name})
	m.Feature(NSInfo, NSItems)
	m.AccountFeature(NSInfo)
	m.HandleServer(stanza.Name{Space: NSInfo, Local: "query"}, d.serverInfo)
	m.HandleServer(stanza.Name{Space: NSItems, Local: "query"}, d.serverItems)
	m.HandleUser(stanza.Name{Space: NSInfo, Local: "query"}, d.accountInfo)
	m.HandleUser(stanza.Name{Space: NSItems, Local: "query"}, accountItems)
}

// query checks a disco request: a get (XEP-0030 3.1, 4.1) for no node,
// since Herald publishes none.
func query(iq, q *stanza.Element) *stanza.Error {
	if iq.Get("type") != "get" {
		return stanza.NewError(stanza.BadRequest, "")
	}
	if q.Get("node") != "" {
		return stanza.NewError(stanza.ItemNotFound, "")
	}
	return nil
}

func (d *Disco) serverInfo(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if err := query(iq, q); err != nil {
		return nil, err
	}
	return delivery.Result(iq, from, to).Append(info(d.mux.Identities(), d.mux.Features())), nil
}

func (d *Disco) accountInfo(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if err := query(iq, q); err != nil {
		return nil, err
	}
	// XEP-0030 8: a registered account is account/registered.
	ids := []delivery.Identity{{Category: "account", Type: "registered"}}
	return delivery.Result(iq, from, to).Append(info(ids, d.mux.AccountFeatures())), nil
}

// info is a disco#info <query/>.
func info(ids []delivery.Identity, features []string) *stanza.Element {
	out := stanza.NewElement(NSInfo, "query")
	for _, id := range ids {
		e := stanza.NewElement(NSInfo, "identity").Set("category", id.Category).Set("type", id.Type)
		if id.Name != "" {
			e.Set("name", id.Name)
		}
		out.Append(e)
	}
	for _, f := range features {
		out.Append(stanza.NewElement(NSInfo, "feature").Set("var", f))
	}
	return out
}

// serverItems lists the component domains (XEP-0030 4).
func (d *Disco) serverItems(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if err := query(iq, q); err != nil {
		return nil, err
	}
	out := stanza.NewElement(NSItems, "query")
	for _, c := range d.mux.Components() {
		out.Append(stanza.NewElement(NSItems, "item").Set("jid", c))
	}
	return delivery.Result(iq, from, to).Append(out), nil
}

func accountItems(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if err := query(iq, q); err != nil {
		return nil, err
	}
	return delivery.Result(iq, from, to).Append(stanza.NewElement(NSItems, "query")), nil
}
