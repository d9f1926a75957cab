package stanza

import "testing"

// TestNewErrorTypes: every defined condition gets the type RFC 6120 8.3.3
// shows in its example, except undefined-condition, which may carry any
// type (8.3.3.21) and gets cancel.
func TestNewErrorTypes(t *testing.T) {
	for _, c := range []struct {
		cond Condition
		typ  ErrorType
	}{
		{BadRequest, Modify},            // 8.3.3.1
		{Conflict, Cancel},              // 8.3.3.2
		{FeatureNotImplemented, Cancel}, // 8.3.3.3
		{Forbidden, Auth},               // 8.3.3.4
		{Gone, Cancel},                  // 8.3.3.5
		{InternalServerError, Cancel},   // 8.3.3.6
		{ItemNotFound, Cancel},          // 8.3.3.7
		{JIDMalformed, Modify},          // 8.3.3.8
		{NotAcceptable, Modify},         // 8.3.3.9
		{NotAllowed, Cancel},            // 8.3.3.10
		{NotAuthorized, Auth},           // 8.3.3.11
		{PolicyViolation, Modify},       // 8.3.3.12
		{RecipientUnavailable, Wait},    // 8.3.3.13
		{Redirect, Modify},              // 8.3.3.14
		{RegistrationRequired, Auth},    // 8.3.3.15
		{RemoteServerNotFound, Cancel},  // 8.3.3.16
		{RemoteServerTimeout, Wait},     // 8.3.3.17
		{ResourceConstraint, Wait},      // 8.3.3.18
		{ServiceUnavailable, Cancel},    // 8.3.3.19
		{SubscriptionRequired, Auth},    // 8.3.3.20
		{UndefinedCondition, Cancel},    // 8.3.3.21: any type
		{UnexpectedRequest, Modify},     // 8.3.3.22
		{Condition("not-a-condition"), Cancel},
	} {
		e := NewError(c.cond, "why")
		if e.Type != c.typ || e.Condition != c.cond || e.Text != "why" || e.By != "" {
			t.Errorf("NewError(%s) = %+v, want type %s", c.cond, *e, c.typ)
		}
	}
	if len(defaultType) != 22 {
		t.Errorf("%d conditions have a type; RFC 6120 8.3.3 defines 22", len(defaultType))
	}
}

func TestErrorString(t *testing.T) {
	for _, c := range []struct {
		err  *Error
		want string
	}{
		{NewError(ItemNotFound, ""), "stanza: item-not-found"},
		{NewError(PolicyViolation, "too many"), "stanza: policy-violation: too many"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

// TestErrorElement: the <error/> child of RFC 6120 8.3.2: 'type' always,
// 'by' when known, the condition in the stanzas namespace, then <text/>.
func TestErrorElement(t *testing.T) {
	for _, c := range []struct {
		err   *Error
		space string
		want  string
	}{
		{NewError(ServiceUnavailable, ""), NSClient,
			`<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`},
		{&Error{Type: Wait, Condition: ResourceConstraint, Text: "a < b", By: "example.org"}, NSClient,
			`<error type="wait" by="example.org"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">a &lt; b</text></error>`},
		{NewError(Forbidden, ""), NSServer,
			`<error type="auth"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`},
	} {
		if got := string(c.err.Element(c.space).AppendXML(nil, c.space)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.err, got, c.want)
		}
	}
}

// TestBounce: RFC 6120 8.3.1.
func TestBounce(t *testing.T) {
	notFound := NewError(ItemNotFound, "")
	errXML := `<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	body := `<body>hi</body>`
	msg := func() *Element {
		return NewElement(NSClient, "message").Set("from", "a@x/r").Set("to", "b@y").Set("id", "m1").
			Set("type", "chat").Append(NewElement(NSClient, "body").AppendText("hi"))
	}
	for _, c := range []struct {
		name string
		st   *Element
		want string // "" for no reply
	}{
		{"message keeps its payload", msg(),
			`<message id="m1" type="error" from="b@y" to="a@x/r">` + body + errXML + `</message>`},
		{"presence keeps its payload",
			NewElement(NSClient, "presence").Set("to", "b@y").Set("type", "subscribe").
				Append(NewElement("urn:example", "x")),
			`<presence type="error" from="b@y"><x xmlns="urn:example"/>` + errXML + `</presence>`},
		{"iq drops its payload",
			NewElement(NSClient, "iq").Set("type", "get").Set("id", "q").Set("from", "a@x/r").
				Append(NewElement("urn:xmpp:ping", "ping")),
			`<iq id="q" type="error" to="a@x/r">` + errXML + `</iq>`},
		{"an empty id is kept", NewElement(NSClient, "message").Set("id", ""),
			`<message id="" type="error">` + errXML + `</message>`},
		{"no id, no to, no from", NewElement(NSClient, "message"),
			`<message type="error">` + errXML + `</message>`},
		{"server namespace kept", NewElement(NSServer, "message").Set("from", "a@x"),
			`<message type="error" to="a@x">` + errXML + `</message>`},
		// An error is never answered with an error (8.3.1 rule 3).
		{"error stanza", NewElement(NSClient, "message").Set("type", "error"), ""},
	} {
		orig := c.st.String()
		r := Bounce(c.st, notFound)
		if c.want == "" {
			if r != nil {
				t.Errorf("%s: bounced as %s", c.name, r)
			}
			continue
		}
		if r == nil {
			t.Errorf("%s: no bounce", c.name)
			continue
		}
		if got := string(r.AppendXML(nil, c.st.Name.Space)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if c.st.String() != orig {
			t.Errorf("%s: Bounce changed the original: %s", c.name, c.st)
		}
	}
}
