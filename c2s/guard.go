package c2s

import (
	"errors"
	"time"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery/gate"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// The failed-login guard lives in the connection gate (delivery/gate),
// which a connection reaches through s.raw when its listener is gated; an
// ungated connection is never slowed or refused.

// guardBefore asks the gate about an <auth/> before it starts: it may
// wait, or refuse with temporary-auth-failure and a text (RFC 6120
// 6.5.11: try again later). stop tells the caller the attempt is over.
func (s *session) guardBefore() (se *xmlstream.StreamError, stop bool) {
	d := gate.AuthBefore(s.raw)
	time.Sleep(d.Delay)
	if d.Refuse == "" {
		return nil, false
	}
	s.saslFailure(sasl.TemporaryAuthFailure, d.Refuse)
	return s.countFailure(), true
}

// guardOutcome reports a finished exchange (err nil: the credentials were
// right; a not-authorized Failure that is no Mismatch: they were wrong)
// and returns what to answer: err itself, or temporary-auth-failure when
// the gate refuses the attempt whatever its outcome. Other failures are
// not the credentials' and pass through unrecorded.
func (s *session) guardOutcome(err error) error {
	var f *sasl.Failure
	if err != nil && (!errors.As(err, &f) || f.Condition != sasl.NotAuthorized || f.Mismatch) {
		return err // not a wrong password: a refused mechanism, a malformed exchange...
	}
	account := ""
	user := s.sasl.Username()
	if a, ok := s.sasl.(interface{ Attempted() string }); ok {
		user = a.Attempted() // the mechanisms name the user also after a failure
	}
	if user != "" {
		if j, jerr := jid.New(user, s.domain, ""); jerr == nil {
			account = j.String()
		}
	}
	d := gate.AuthAfter(s.raw, account, err == nil)
	time.Sleep(d.Delay)
	if d.Refuse != "" {
		return &sasl.Failure{Condition: sasl.TemporaryAuthFailure, Text: d.Refuse}
	}
	if err == nil {
		gate.Authenticated(s.raw)
	}
	return err
}
