package delivery

import (
	"sort"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Namespaces of the IQ payloads the server answers itself.
const (
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info"
	NSDiscoItems = "http://jabber.org/protocol/disco#items"
	NSPing       = "urn:xmpp:ping"
	NSVersion    = "jabber:iq:version"
	NSOffline    = "msgoffline"
)

// IQFunc answers one IQ payload. to is the address the IQ was sent to (a
// local domain or bare JID); payload is the IQ's single child element.
type IQFunc func(iq, payload *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error)

// Service is the server's own IQ responder: a mux from payload name to a
// handler, plus the built-in XEP-0030 disco, XEP-0199 ping and XEP-0092
// version answers. Its Features lists what disco#info advertises.
type Service struct {
	Name, Version string
	// Accounts decides whether disco on a bare JID sees an account.
	Accounts Accounts
	// Users are the handlers for IQs addressed to an account (or with no
	// 'to'); Server the ones for IQs addressed to the domain.
	users, server map[stanza.Name]IQFunc
	features      []string
}

// NewService returns a service with disco, ping and version installed.
func NewService(name, version string, accounts Accounts) *Service {
	s := &Service{Name: name, Version: version, Accounts: accounts,
		users: map[stanza.Name]IQFunc{}, server: map[stanza.Name]IQFunc{}}
	s.HandleServer(stanza.Name{Space: NSDiscoInfo, Local: "query"}, s.discoInfo)
	s.HandleServer(stanza.Name{Space: NSDiscoItems, Local: "query"}, s.discoItems)
	s.HandleServer(stanza.Name{Space: NSPing, Local: "ping"}, pong)
	s.HandleServer(stanza.Name{Space: NSVersion, Local: "query"}, s.version)
	s.HandleUser(stanza.Name{Space: NSDiscoInfo, Local: "query"}, s.discoInfoAccount)
	s.HandleUser(stanza.Name{Space: NSDiscoItems, Local: "query"}, s.discoItems)
	// XEP-0199 3: a ping to the account's bare JID is answered by the
	// server on the account's behalf.
	s.HandleUser(stanza.Name{Space: NSPing, Local: "ping"}, pong)
	s.AddFeature(NSDiscoInfo, NSDiscoItems, NSPing, NSVersion, NSOffline)
	return s
}

// HandleServer installs fn for IQs to the domain whose payload is name.
func (s *Service) HandleServer(name stanza.Name, fn IQFunc) { s.server[name] = fn }

// HandleUser installs fn for IQs to an account's bare JID.
func (s *Service) HandleUser(name stanza.Name, fn IQFunc) { s.users[name] = fn }

// AddFeature adds disco#info features of the server.
func (s *Service) AddFeature(vars ...string) {
	s.features = append(s.features, vars...)
	sort.Strings(s.features)
}

// Features returns the advertised features, sorted.
func (s *Service) Features() []string { return append([]string(nil), s.features...) }

// HandleIQ implements IQHandler.
func (s *Service) HandleIQ(iq *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	payload := iq.FirstElement()
	table := s.server
	if to.Local() != "" {
		table = s.users
	}
	fn := table[payload.Name]
	if fn == nil {
		// RFC 6120 8.4 / RFC 6121 8.5.2.1.3: an IQ the server cannot answer
		// gets service-unavailable.
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	return fn(iq, payload, from, to)
}

// Result builds the empty type="result" reply to iq from the address it
// was sent to (RFC 6120 8.2.3).
func Result(iq *stanza.Element, from, to jid.JID) *stanza.Element {
	r := stanza.NewElement(iq.Name.Space, "iq").Set("type", "result")
	if iq.Has("id") {
		r.Set("id", iq.Get("id"))
	}
	if !to.IsZero() {
		r.Set("from", to.String())
	}
	r.Set("to", from.String())
	return r
}

func pong(iq, _ *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if iq.Get("type") != "get" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	return Result(iq, from, to), nil
}

func (s *Service) discoInfo(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if iq.Get("type") != "get" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	if q.Get("node") != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	out := stanza.NewElement(NSDiscoInfo, "query")
	// XEP-0030 3.1: an XMPP server's identity is server/im.
	out.Append(stanza.NewElement(NSDiscoInfo, "identity").
		Set("category", "server").Set("type", "im").Set("name", s.Name))
	for _, f := range s.features {
		out.Append(stanza.NewElement(NSDiscoInfo, "feature").Set("var", f))
	}
	return Result(iq, from, to).Append(out), nil
}

func (s *Service) discoInfoAccount(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if iq.Get("type") != "get" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	if q.Get("node") != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	out := stanza.NewElement(NSDiscoInfo, "query")
	// XEP-0030 8: a registered account is account/registered.
	out.Append(stanza.NewElement(NSDiscoInfo, "identity").
		Set("category", "account").Set("type", "registered"))
	out.Append(stanza.NewElement(NSDiscoInfo, "feature").Set("var", NSDiscoInfo))
	return Result(iq, from, to).Append(out), nil
}

func (s *Service) discoItems(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if iq.Get("type") != "get" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	if q.Get("node") != "" {
		return nil, stanza.NewError(stanza.ItemNotFound, "")
	}
	return Result(iq, from, to).Append(stanza.NewElement(NSDiscoItems, "query")), nil
}

func (s *Service) version(iq, _ *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	if iq.Get("type") != "get" {
		return nil, stanza.NewError(stanza.BadRequest, "")
	}
	q := stanza.NewElement(NSVersion, "query")
	q.Append(stanza.NewElement(NSVersion, "name").AppendText(s.Name))
	q.Append(stanza.NewElement(NSVersion, "version").AppendText(s.Version))
	return Result(iq, from, to).Append(q), nil
}
