package stanza

// Namespaces used on every stream.
const (
	NSClient = "jabber:client"
	NSServer = "jabber:server"
	// NSComponent is the content namespace of an external component's
	// stream (XEP-0114 3).
	NSComponent = "jabber:component:accept"
	NSStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSStream    = "http://etherx.jabber.org/streams"
	NSStreamEr  = "urn:ietf:params:xml:ns:xmpp-streams"
)

// Condition is a defined stanza error condition (RFC 6120 8.3.3).
type Condition string

// RFC 6120 8.3.3 defined conditions.
const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// ErrorType is the 'type' attribute of a stanza error (RFC 6120 8.3.2).
type ErrorType string

// RFC 6120 8.3.2 error types.
const (
	Auth     ErrorType = "auth"
	Cancel   ErrorType = "cancel"
	Continue ErrorType = "continue"
	Modify   ErrorType = "modify"
	Wait     ErrorType = "wait"
)

// defaultType is the error type RFC 6120 8.3.3 gives in its examples for
// each condition, except undefined-condition: "any error type can be
// associated with this condition" (8.3.3.21), and it gets cancel.
var defaultType = map[Condition]ErrorType{
	BadRequest: Modify, Conflict: Cancel, FeatureNotImplemented: Cancel,
	Forbidden: Auth, Gone: Cancel, InternalServerError: Cancel,
	ItemNotFound: Cancel, JIDMalformed: Modify, NotAcceptable: Modify,
	NotAllowed: Cancel, NotAuthorized: Auth, PolicyViolation: Modify,
	RecipientUnavailable: Wait, Redirect: Modify, RegistrationRequired: Auth,
	RemoteServerNotFound: Cancel, RemoteServerTimeout: Wait,
	ResourceConstraint: Wait, ServiceUnavailable: Cancel,
	SubscriptionRequired: Auth, UndefinedCondition: Cancel,
	UnexpectedRequest: Modify,
}

// Error is a stanza error: what a peer sees when a stanza fails. Text is
// human-readable and must never carry internal detail.
type Error struct {
	Type      ErrorType
	Condition Condition
	Text      string
	By        string
	// App is an application-specific condition, a child of <error/> in
	// its own namespace (RFC 6120 8.3.2), or nil.
	App *Element
}

// NewError returns an error with the condition's usual type.
func NewError(c Condition, text string) *Error {
	t, ok := defaultType[c]
	if !ok {
		t = Cancel
	}
	return &Error{Type: t, Condition: c, Text: text}
}

func (e *Error) Error() string {
	if e.Text != "" {
		return "stanza: " + string(e.Condition) + ": " + e.Text
	}
	return "stanza: " + string(e.Condition)
}

// Element returns the <error/> child element.
func (e *Error) Element(space string) *Element {
	el := NewElement(space, "error").Set("type", string(e.Type))
	if e.By != "" {
		el.Set("by", e.By)
	}
	el.Append(NewElement(NSStanzas, string(e.Condition)))
	if e.Text != "" {
		el.Append(NewElement(NSStanzas, "text").AppendText(e.Text))
	}
	if e.App != nil {
		el.Append(e.App)
	}
	return el
}

// Bounce builds the error reply to st (RFC 6120 8.3.1): the same stanza
// kind and id, type="error", 'to' and 'from' swapped, the original payload
// kept for messages and presence, and the <error/> child. It returns nil
// when st itself is an error, which must never be answered with an error
// (RFC 6120 8.3.1, rule 3).
func Bounce(st *Element, e *Error) *Element {
	if st.Get("type") == "error" {
		return nil
	}
	r := &Element{Name: st.Name}
	if id := st.Get("id"); id != "" || st.Has("id") {
		r.Set("id", id)
	}
	r.Set("type", "error")
	if to := st.Get("to"); to != "" {
		r.Set("from", to)
	}
	if from := st.Get("from"); from != "" {
		r.Set("to", from)
	}
	if st.Name.Local != "iq" {
		r.Children = append(r.Children, st.Children...)
	}
	r.Children = append(r.Children, e.Element(st.Name.Space))
	return r
}
