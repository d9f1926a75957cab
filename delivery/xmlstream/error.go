package xmlstream

import (
	"errors"
	"strings"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Condition is a defined stream error condition (RFC 6120 4.9.3).
type Condition string

// The stream error conditions of RFC 6120 4.9.3, in the order of that
// section (4.9.3.1 to 4.9.3.25).
const (
	BadFormat              Condition = "bad-format"
	BadNamespacePrefix     Condition = "bad-namespace-prefix"
	Conflict               Condition = "conflict"
	ConnectionTimeout      Condition = "connection-timeout"
	HostGone               Condition = "host-gone"
	HostUnknown            Condition = "host-unknown"
	ImproperAddressing     Condition = "improper-addressing"
	InternalServerError    Condition = "internal-server-error"
	InvalidFrom            Condition = "invalid-from"
	InvalidNamespace       Condition = "invalid-namespace"
	InvalidXML             Condition = "invalid-xml"
	NotAuthorized          Condition = "not-authorized"
	NotWellFormed          Condition = "not-well-formed"
	PolicyViolation        Condition = "policy-violation"
	RemoteConnectionFailed Condition = "remote-connection-failed"
	Reset                  Condition = "reset"
	ResourceConstraint     Condition = "resource-constraint"
	RestrictedXML          Condition = "restricted-xml"
	SeeOtherHost           Condition = "see-other-host"
	SystemShutdown         Condition = "system-shutdown"
	UndefinedCondition     Condition = "undefined-condition"
	UnsupportedEncoding    Condition = "unsupported-encoding"
	UnsupportedFeature     Condition = "unsupported-feature"
	UnsupportedStanzaType  Condition = "unsupported-stanza-type"
	UnsupportedVersion     Condition = "unsupported-version"
)

// Conditions lists every defined condition, in RFC order.
var Conditions = []Condition{
	BadFormat, BadNamespacePrefix, Conflict, ConnectionTimeout, HostGone,
	HostUnknown, ImproperAddressing, InternalServerError, InvalidFrom,
	InvalidNamespace, InvalidXML, NotAuthorized, NotWellFormed,
	PolicyViolation, RemoteConnectionFailed, Reset, ResourceConstraint,
	RestrictedXML, SeeOtherHost, SystemShutdown, UndefinedCondition,
	UnsupportedEncoding, UnsupportedFeature, UnsupportedStanzaType,
	UnsupportedVersion,
}

// Defined reports whether c is one of the conditions of RFC 6120 4.9.3.
func (c Condition) Defined() bool {
	for _, d := range Conditions {
		if c == d {
			return true
		}
	}
	return false
}

// NSErrors is the namespace of XEP-0205's application-specific conditions
// such as <stanza-too-big/>, used in RFC 6120 4.9.3.14's example.
const NSErrors = "urn:xmpp:errors"

// ErrBuffered is returned by Decoder.Reset when bytes other than whitespace
// were received after the last element and before the switch to the new
// reader. After STARTTLS they arrived in the clear and must not be read as
// part of the protected stream (RFC 6120 5.4.3.3, rule 2); the caller should
// drop the connection.
var ErrBuffered = errors.New("xmlstream: data buffered before the stream reset")

// StreamError is a stream-level error (RFC 6120 4.9). Every syntax or limit
// problem the Decoder finds is returned as one. Stream errors are
// unrecoverable (RFC 6120 4.9.1.1): the receiver sends AppendXML's output,
// then StreamCloseTag, and closes the connection.
type StreamError struct {
	Condition Condition
	// Text is optional human-readable detail that is sent to the peer
	// (RFC 6120 4.9.2); it must never carry internal detail.
	Text string
	// Lang is the xml:lang of Text; "en" when empty.
	Lang string
	// Host is the character data of <see-other-host/> (RFC 6120 4.9.3.19).
	Host string
	// App is an optional application-specific condition element
	// (RFC 6120 4.9.4), qualified by its own namespace.
	App *stanza.Element
	// Err is the internal cause. It is never sent to the peer.
	Err error
}

// NewError returns a stream error with the given condition and text.
func NewError(c Condition, text string) *StreamError {
	return &StreamError{Condition: c, Text: text}
}

// Error reads "xmlstream: <condition>[: text][: cause]".
func (e *StreamError) Error() string {
	var b strings.Builder
	b.WriteString("xmlstream: ")
	b.WriteString(string(e.Condition))
	if e.Text != "" {
		b.WriteString(": ")
		b.WriteString(e.Text)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the internal cause.
func (e *StreamError) Unwrap() error { return e.Err }

// Is reports whether target is a *StreamError with the same condition, so
// that errors.Is(err, NewError(NotWellFormed, "")) matches any
// not-well-formed error.
func (e *StreamError) Is(target error) bool {
	t, ok := target.(*StreamError)
	return ok && t.Condition == e.Condition
}

// AppendXML appends the <stream:error/> element (RFC 6120 4.9.2). It
// assumes the stream namespace is bound to the prefix "stream", as it is in
// every header AppendStreamHeader writes. It does not append
// StreamCloseTag. An undefined condition is written as
// <undefined-condition/> so that the output always carries exactly one
// defined condition, which 4.9.2 requires ("MUST contain a child element
// corresponding to one of the defined stream error conditions").
func (e *StreamError) AppendXML(dst []byte) []byte {
	c := e.Condition
	if !c.Defined() {
		c = UndefinedCondition
	}
	dst = append(dst, "<stream:error><"...)
	dst = append(dst, c...)
	dst = append(dst, " xmlns='"+stanza.NSStreamEr+"'"...)
	if c == SeeOtherHost && e.Host != "" {
		dst = append(dst, '>')
		dst = appendEscaped(dst, e.Host, false)
		dst = append(dst, "</"...)
		dst = append(dst, c...)
		dst = append(dst, '>')
	} else {
		dst = append(dst, "/>"...)
	}
	if e.Text != "" {
		// RFC 6120 4.9.2: <text/> SHOULD possess an xml:lang attribute.
		lang := e.Lang
		if lang == "" {
			lang = "en"
		}
		dst = append(dst, "<text xmlns='"+stanza.NSStreamEr+"' xml:lang='"...)
		dst = appendEscaped(dst, lang, true)
		dst = append(dst, "'>"...)
		dst = appendEscaped(dst, e.Text, false)
		dst = append(dst, "</text>"...)
	}
	if e.App != nil {
		dst = e.App.AppendXML(dst, "")
	}
	return append(dst, "</stream:error>"...)
}

// ParseStreamError reads a received <stream:error/> element. It returns nil
// when el is not {http://etherx.jabber.org/streams}error. A condition this
// package does not know is reported as undefined-condition, as RFC 6120
// 4.9.2 requires ("MUST treat the unknown condition as equivalent to
// <undefined-condition/>").
func ParseStreamError(el *stanza.Element) *StreamError {
	if el == nil || el.Name.Space != stanza.NSStream || el.Name.Local != "error" {
		return nil
	}
	e := &StreamError{Condition: UndefinedCondition}
	seen := false
	for _, n := range el.Children {
		c, ok := n.(*stanza.Element)
		if !ok {
			continue
		}
		switch {
		case c.Name.Space == stanza.NSStreamEr && c.Name.Local == "text":
			e.Text = c.Text()
			e.Lang = c.Lang()
		case c.Name.Space == stanza.NSStreamEr:
			if seen {
				continue
			}
			seen = true
			if cond := Condition(c.Name.Local); cond.Defined() {
				e.Condition = cond
			}
			if e.Condition == SeeOtherHost {
				e.Host = strings.TrimSpace(c.Text())
			}
		case e.App == nil:
			e.App = c
		}
	}
	return e
}

// ToStreamError is the single translation from an internal error to what a
// peer may see: the *StreamError in err's chain, or internal-server-error
// with no text (RFC 6120 4.9.3.8) carrying err as its internal cause. It
// returns nil for a nil err.
func ToStreamError(err error) *StreamError {
	if err == nil {
		return nil
	}
	var se *StreamError
	if errors.As(err, &se) {
		return se
	}
	return &StreamError{Condition: InternalServerError, Err: err}
}

// Errors the decoder returns. Each call builds a fresh value so callers may
// annotate it.

func errNotWellFormed(text string) error {
	// RFC 6120 11.3, rules 2 and 4: data that is not XML-well-formed or not
	// namespace-well-formed MUST close the stream with <not-well-formed/>.
	return &StreamError{Condition: NotWellFormed, Text: text}
}

func errRestricted(text string) error {
	// RFC 6120 11.1, rule 2: comments, processing instructions, DTDs and
	// entity references other than the predefined ones MUST close the
	// stream; the error SHOULD be <restricted-xml/>.
	return &StreamError{Condition: RestrictedXML, Text: text}
}

func errEncoding(text string) error {
	// RFC 6120 4.9.3.22 and 11.6: an encoding other than UTF-8, or bytes that
	// violate UTF-8, MUST close the stream; the error SHOULD be
	// <unsupported-encoding/>.
	return &StreamError{Condition: UnsupportedEncoding, Text: text}
}

func errPolicy(text string) error {
	// RFC 6120 4.9.3.14: a local service policy such as a size limit.
	return &StreamError{Condition: PolicyViolation, Text: text}
}

func errStanzaTooBig() error {
	// RFC 6120 4.9.3.14's example adds XEP-0205's <stanza-too-big/>.
	return &StreamError{
		Condition: PolicyViolation,
		Text:      "stanza too big",
		App:       stanza.NewElement(NSErrors, "stanza-too-big"),
	}
}
