package disco

import (
	"github.com/heraldxmpp/herald/delivery/deliverytest"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// The shared test doubles.
type (
	sink     = deliverytest.Sink
	accounts = deliverytest.Accounts
)

// other stands for any later service: it declares a feature, an account
// feature, an identity and a component, and disco reports them.
type other struct{}

func (other) HandleStanza(*stanza.Element, jid.JID, jid.JID) {}

func (other) Register(m *delivery.Mux) {
	m.Feature("urn:example:other")
	m.AccountFeature("urn:example:pep")
	m.Identity(delivery.Identity{Category: "pubsub", Type: "pep"})
	m.Component("upload.example.org", other{})
}

// world is a router with the disco, ping and version services, and alice
// connected.
func world(t *testing.T, extra ...delivery.Service) (*delivery.Router, *sink) {
	t.Helper()
	mux := delivery.NewMux().Add(&Disco{Name: "Herald"}, Ping{}, Version{Name: "Herald", Version: "test"})
	mux.Add(extra...)
	r := &delivery.Router{Domains: map[string]bool{"example.org": true}, Registry: delivery.NewRegistry(),
		Accounts: accounts{"alice@example.org": true, "bob@example.org": true}, Services: mux}
	a := &sink{}
	if _, _, ok := r.Registry.Bind(jid.MustParse("alice@example.org/a"), a, delivery.ConflictRefuse, nil); !ok {
		t.Fatal("bind failed")
	}
	return r, a
}

func ask(t *testing.T, r *delivery.Router, a *sink, typ, to string, payload *stanza.Element) string {
	t.Helper()
	from := jid.MustParse("alice@example.org/a")
	iq := stanza.NewElement(stanza.NSClient, "iq").Set("from", from.String()).Set("to", to).Set("type", typ).Set("id", "i1")
	r.Route(iq.Append(payload), from, jid.MustParse(to))
	got := a.Take()
	if len(got) != 1 {
		t.Fatalf("%s %s to %s: %d replies", typ, payload.Name.Space, to, len(got))
	}
	return got[0]
}

func TestAnswers(t *testing.T) {
	r, a := world(t)
	cases := []struct {
		typ     string
		payload *stanza.Element
		to      string
		want    []string
		not     []string
	}{
		{"get", stanza.NewElement(NSPing, "ping"), "example.org", []string{`type="result"`, `from="example.org"`, `id="i1"`}, nil},
		// XEP-0199 3: on the account's behalf.
		{"get", stanza.NewElement(NSPing, "ping"), "bob@example.org", []string{`type="result"`, `from="bob@example.org"`}, nil},
		{"get", stanza.NewElement(NSInfo, "query"), "example.org",
			[]string{`category="server"`, `type="im"`, `name="Herald"`, `var="urn:xmpp:ping"`, `var="jabber:iq:version"`,
				`var="` + NSInfo + `"`, `var="` + NSItems + `"`}, nil},
		{"get", stanza.NewElement(NSItems, "query"), "example.org", []string{`type="result"`}, []string{"<item"}},
		{"get", stanza.NewElement(NSVersion, "query"), "example.org", []string{"<name>Herald</name>", "<version>test</version>"}, nil},
		{"get", stanza.NewElement(NSInfo, "query"), "bob@example.org", []string{`category="account"`, `type="registered"`, `var="` + NSInfo + `"`},
			[]string{"urn:xmpp:ping"}},
		{"get", stanza.NewElement(NSItems, "query"), "bob@example.org", []string{`type="result"`}, nil},
		{"set", stanza.NewElement(NSInfo, "query"), "example.org", []string{"bad-request"}, nil},
		{"set", stanza.NewElement(NSPing, "ping"), "example.org", []string{"bad-request"}, nil},
		{"set", stanza.NewElement(NSVersion, "query"), "example.org", []string{"bad-request"}, nil},
		{"get", stanza.NewElement(NSInfo, "query").Set("node", "x"), "example.org", []string{"item-not-found"}, nil},
		{"get", stanza.NewElement(NSItems, "query").Set("node", "x"), "bob@example.org", []string{"item-not-found"}, nil},
		// Version answers for the server only.
		{"get", stanza.NewElement(NSVersion, "query"), "bob@example.org", []string{"service-unavailable"}, nil},
	}
	for _, c := range cases {
		got := ask(t, r, a, c.typ, c.to, c.payload)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s {%s}%s to %s: %s lacks %s", c.typ, c.payload.Name.Space, c.payload.Name.Local, c.to, got, w)
			}
		}
		for _, w := range c.not {
			if strings.Contains(got, w) {
				t.Errorf("%s {%s}%s to %s: %s has %s", c.typ, c.payload.Name.Space, c.payload.Name.Local, c.to, got, w)
			}
		}
	}
}

// Disco reports what every other service registered: features,
// identities and account features in disco#info, components in
// disco#items.
func TestAggregates(t *testing.T) {
	r, a := world(t, other{})
	got := ask(t, r, a, "get", "example.org", stanza.NewElement(NSInfo, "query"))
	for _, w := range []string{`var="urn:example:other"`, `category="pubsub"`, `category="server"`} {
		if !strings.Contains(got, w) {
			t.Errorf("server info %s lacks %s", got, w)
		}
	}
	if strings.Contains(got, "urn:example:pep") {
		t.Errorf("server info %s has an account feature", got)
	}
	got = ask(t, r, a, "get", "bob@example.org", stanza.NewElement(NSInfo, "query"))
	if !strings.Contains(got, `var="urn:example:pep"`) {
		t.Errorf("account info %s lacks the account feature", got)
	}
	got = ask(t, r, a, "get", "example.org", stanza.NewElement(NSItems, "query"))
	if !strings.Contains(got, `<item jid="upload.example.org"`) {
		t.Errorf("server items %s lack the component", got)
	}
}
