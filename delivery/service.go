package delivery

import (
	"fmt"
	"slices"
	"strings"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Service is one protocol family the server carries out itself (disco,
// the roster, PEP, an archive, a group chat component...): the one seam
// between the router and a service. Register declares, on the mux, the IQ
// payloads the service answers, the component domain it serves, and the
// disco features and identities it adds to the server's. It runs once,
// while cmd/heraldd wires the server, before anything is routed.
type Service interface {
	Register(m *Mux)
}

// IQFunc answers one IQ payload. to is the address the IQ was sent to (a
// local domain or bare JID); payload is the IQ's single child element. It
// returns the reply, or the error to bounce.
type IQFunc func(iq, payload *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error)

// Component takes every stanza addressed to its domain or to an entity on
// it (a room, an upload slot). Like Sink.Deliver it must not block the
// router: it queues or answers at once, and sends its replies through the
// router with its own domain as 'from'.
type Component interface {
	HandleStanza(st *stanza.Element, from, to jid.JID)
}

// Identity is a XEP-0030 identity (category/type, and a human name).
type Identity struct {
	Category, Type, Name string
}

// Mux is the router's table of services: IQ handlers by payload name for
// IQs to a local domain and for IQs to an account's bare JID (answered on
// the account's behalf, RFC 6121 8.5.2.1.3), component domains, and the
// disco features and identities every service contributes. It is filled
// by Register calls before the router serves and only read afterwards.
type Mux struct {
	server, users map[stanza.Name]IQFunc
	components    map[string]Component
	features      []string
	identities    []Identity
	accountFeats  []string
	hooks         []Hook
}

// NewMux returns a mux with no service.
func NewMux() *Mux {
	return &Mux{server: map[stanza.Name]IQFunc{}, users: map[stanza.Name]IQFunc{}, components: map[string]Component{}}
}

// Add registers every service, in order.
func (m *Mux) Add(services ...Service) *Mux {
	for _, s := range services {
		s.Register(m)
	}
	return m
}

// HandleServer installs fn for IQs to a local domain whose payload is
// name. Two services for one payload is a wiring mistake: it panics.
func (m *Mux) HandleServer(name stanza.Name, fn IQFunc) { install(m.server, "server", name, fn) }

// HandleUser installs fn for IQs to an account's bare JID whose payload
// is name. Two services for one payload is a wiring mistake: it panics.
func (m *Mux) HandleUser(name stanza.Name, fn IQFunc) { install(m.users, "account", name, fn) }

func install(table map[stanza.Name]IQFunc, kind string, name stanza.Name, fn IQFunc) {
	if _, dup := table[name]; dup {
		panic(fmt.Sprintf("delivery: two services answer %s IQs {%s}%s", kind, name.Space, name.Local))
	}
	table[name] = fn
}

// Component routes every stanza for domain (a subdomain of a served
// domain, such as conference.example.org) and the entities on it to c.
// The domain is listed in the server's disco#items (XEP-0030 4).
func (m *Mux) Component(domain string, c Component) {
	domain = strings.ToLower(domain)
	if c == nil {
		panic("delivery: a nil component for " + domain)
	}
	if _, dup := m.components[domain]; dup {
		panic("delivery: two components for " + domain)
	}
	m.components[domain] = c
}

// Feature adds disco#info features of the server (XEP-0030 3.1).
func (m *Mux) Feature(vars ...string) { m.features = addSorted(m.features, vars) }

// AccountFeature adds disco#info features of every account's bare JID
// (XEP-0030 8, features the server offers on the account's behalf).
func (m *Mux) AccountFeature(vars ...string) { m.accountFeats = addSorted(m.accountFeats, vars) }

// Identity adds a disco#info identity of the server.
func (m *Mux) Identity(id Identity) { m.identities = append(m.identities, id) }

func addSorted(list, vars []string) []string {
	for _, v := range vars {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	slices.Sort(list)
	return list
}

// Features returns the server's disco features, sorted.
func (m *Mux) Features() []string { return slices.Clone(m.features) }

// AccountFeatures returns the accounts' disco features, sorted.
func (m *Mux) AccountFeatures() []string { return slices.Clone(m.accountFeats) }

// Identities returns the server's disco identities in registration order.
func (m *Mux) Identities() []Identity { return slices.Clone(m.identities) }

// Components returns the component domains, sorted.
func (m *Mux) Components() []string {
	out := make([]string, 0, len(m.components))
	for d := range m.components {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// component returns the component serving domain, if any.
func (m *Mux) component(domain string) Component {
	if m == nil {
		return nil
	}
	return m.components[domain]
}

// HandleIQ answers an IQ get or set addressed to a local domain or to an
// account's bare JID with the handler registered for its payload.
func (m *Mux) HandleIQ(iq *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	payload := iq.FirstElement()
	table := m.server
	if to.Local() != "" {
		table = m.users
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
