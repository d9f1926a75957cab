package xmlstream

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

func TestConditionsComplete(t *testing.T) {
	// RFC 6120 4.9.3.1 to 4.9.3.25.
	if len(Conditions) != 25 {
		t.Fatalf("%d conditions, RFC 6120 4.9.3 defines 25", len(Conditions))
	}
	seen := map[Condition]bool{}
	for _, c := range Conditions {
		if seen[c] || !c.Defined() {
			t.Errorf("condition %q duplicated or undefined", c)
		}
		seen[c] = true
	}
	if Condition("xml-not-well-formed").Defined() {
		t.Error("RFC 3920's xml-not-well-formed is not an RFC 6120 condition")
	}
}

func TestStreamErrorString(t *testing.T) {
	cause := errors.New("disk on fire")
	e := &StreamError{Condition: InternalServerError, Text: "try later", Err: cause}
	if got, want := e.Error(), "xmlstream: internal-server-error: try later: disk on fire"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Error("errors.Is does not reach the cause")
	}
	if got := NewError(Conflict, "").Error(); got != "xmlstream: conflict" {
		t.Errorf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("c2s: %w", NewError(NotWellFormed, "x"))
	if !errors.Is(wrapped, NewError(NotWellFormed, "")) || errors.Is(wrapped, NewError(BadFormat, "")) {
		t.Error("errors.Is does not match by condition")
	}
	if se := ToStreamError(wrapped); se.Condition != NotWellFormed {
		t.Errorf("ToStreamError = %v", se)
	}
	if se := ToStreamError(io.ErrUnexpectedEOF); se.Condition != InternalServerError || se.Text != "" || se.Err != io.ErrUnexpectedEOF {
		t.Errorf("ToStreamError(internal) = %+v", se)
	}
	if ToStreamError(nil) != nil {
		t.Error("ToStreamError(nil) != nil")
	}
}

func TestStreamErrorXML(t *testing.T) {
	tests := []struct {
		e    *StreamError
		want string
	}{
		{NewError(NotWellFormed, ""),
			`<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`},
		{&StreamError{Condition: PolicyViolation, Text: "a <b> & 'c'", Err: errors.New("secret")},
			`<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>` +
				`<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>a &lt;b&gt; &amp; 'c'</text></stream:error>`},
		{&StreamError{Condition: SeeOtherHost, Host: "[2001:db8::1]:5222"},
			`<stream:error><see-other-host xmlns='urn:ietf:params:xml:ns:xmpp-streams'>[2001:db8::1]:5222</see-other-host></stream:error>`},
		{&StreamError{Condition: "made-up", Text: "x", Lang: "de"},
			`<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>` +
				`<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='de'>x</text></stream:error>`},
		{errStanzaTooBig().(*StreamError),
			`<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>` +
				`<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>stanza too big</text>` +
				`<stanza-too-big xmlns="urn:xmpp:errors"/></stream:error>`},
	}
	for _, tt := range tests {
		got := string(tt.e.AppendXML(nil))
		if got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
		if strings.Contains(got, "secret") {
			t.Error("internal cause leaked")
		}
	}
}

// TestStreamErrorRoundTrip writes every condition on a stream and reads it
// back with the Decoder and ParseStreamError.
func TestStreamErrorRoundTrip(t *testing.T) {
	for _, c := range Conditions {
		e := &StreamError{Condition: c, Text: "why", Lang: "en"}
		if c == SeeOtherHost {
			e.Host = "other.example:5222"
		}
		if c == PolicyViolation {
			e.App = stanza.NewElement(NSErrors, "stanza-too-big")
		}
		in := AppendStreamHeader(nil, Header{DefaultNS: stanza.NSClient, From: "example.com", ID: "i", Version: "1.0"})
		in = e.AppendXML(in)
		in = append(in, StreamCloseTag...)
		d := NewDecoder(strings.NewReader(string(in)), Limits{})
		mustKind(t, d, StreamOpen)
		ev := mustKind(t, d, Element)
		got := ParseStreamError(ev.Element)
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s: got %+v, want %+v", c, got, e)
		}
		mustKind(t, d, StreamClose)
	}
}

func TestParseStreamError(t *testing.T) {
	if ParseStreamError(stanza.NewElement(stanza.NSClient, "error")) != nil {
		t.Error("a jabber:client <error/> is not a stream error")
	}
	if ParseStreamError(nil) != nil {
		t.Error("nil")
	}
	// RFC 6120 4.9.2: an unknown condition is undefined-condition; the
	// first defined condition wins; whitespace around elements is ignored.
	el, err := decodeOne(`<stream:error>
  <host-gone-fishing xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>
  <app xmlns='urn:example'/>
  <conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>
</stream:error>`)
	if err != nil {
		t.Fatal(err)
	}
	got := ParseStreamError(el)
	if got.Condition != UndefinedCondition || got.App == nil || got.App.Name.Space != "urn:example" {
		t.Errorf("got %+v", got)
	}
	// RFC 3920 peers: the old name is unknown, hence undefined-condition.
	el, _ = decodeOne(`<stream:error><xml-not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`)
	if got := ParseStreamError(el); got.Condition != UndefinedCondition {
		t.Errorf("got %+v", got)
	}
}
