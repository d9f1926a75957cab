package c2s

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Namespaces of stream negotiation.
const (
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsSASLCB  = "urn:xmpp:sasl-cb:0"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
)

// maxMismatches bounds the refusals of a mechanism or channel binding on one
// stream (sasl.Failure.Mismatch). They are not failed password attempts and
// do not count toward MaxAuthFailures: a client that cannot tell which
// channel binding the server supports tries the offered mechanisms one after
// another, and slixmpp 1.8 over TLS 1.3 needs four refusals before PLAIN.
// Trying each offered mechanism once stays well below this; past it the
// stream ends as for too many failures (RFC 6120 6.4.5).
const maxMismatches = 10

// authCounters count SASL exchanges over all streams of a Server.
type authCounters struct {
	attempts, successes, failures, mismatches atomic.Uint64
}

// AuthStats is a snapshot of a Server's SASL counters.
type AuthStats struct {
	Attempts  uint64 // <auth/> elements received
	Successes uint64 // exchanges that ended in <success/>
	// Failures are failed attempts that count toward MaxAuthFailures: a
	// wrong password or unknown user, a malformed or aborted exchange.
	Failures uint64
	// Mismatches are refusals of a mechanism or channel binding, before
	// any credential was looked at (sasl.Failure.Mismatch).
	Mismatches uint64
}

// AuthStats returns the SASL counters since the server was created.
func (s *Server) AuthStats() AuthStats {
	a := &s.auth
	return AuthStats{
		Attempts: a.attempts.Load(), Successes: a.successes.Load(),
		Failures: a.failures.Load(), Mismatches: a.mismatches.Load(),
	}
}

func (s *session) saslConfig() sasl.Config {
	domain := s.domain
	lookup := s.srv.cfg.Credentials
	return sasl.Config{
		TLS:      s.tls,
		Bindings: s.cb,
		Lookup: func(user string) (sasl.Credentials, error) {
			// A username that cannot be a localpart (RFC 7622 3.3: it
			// holds '@' or '/', or is over 1023 octets) names no account.
			// It fails as an unknown user does, with not-authorized (RFC
			// 6120 6.5.10), not as a fault of the server, which would tell
			// the client to try again (6.5.11).
			if _, err := jid.New(user, domain, ""); err != nil {
				return sasl.Credentials{}, sasl.ErrNoSuchUser
			}
			return lookup(domain, user)
		},
	}
}

// negotiateSASL runs RFC 6120 6.4: <auth/>, then <response/>s answering
// <challenge/>s, ending in <success/> or <failure/>.
func (s *session) negotiateSASL(el *stanza.Element) *xmlstream.StreamError {
	if el.Name.Space != nsSASL {
		if isStanza(el) {
			// RFC 6120 4.9.3.12: stanzas before authentication.
			return xmlstream.NewError(xmlstream.NotAuthorized, "authenticate first")
		}
		return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "expected SASL negotiation")
	}
	switch el.Name.Local {
	case "auth":
		if s.sasl != nil {
			// A new <auth/> while one is running aborts the old one.
			s.sasl = nil
		}
		s.srv.auth.attempts.Add(1)
		s.srv.cfg.Log.Debug("c2s: SASL attempt", "mechanism", el.Get("mechanism"), "remote", s.conn.RemoteAddr().String())
		if se, stop := s.guardBefore(); stop {
			return se
		}
		sess, err := sasl.New(el.Get("mechanism"), s.saslConfig())
		if err != nil {
			return s.saslFailed(err)
		}
		s.sasl = sess
		return s.saslStep(el.Text(), true)
	case "response":
		if s.sasl == nil {
			// RFC 6120 6.4.5: a response without an exchange is malformed.
			s.saslFailure(sasl.MalformedRequest, "no authentication in progress")
			return s.countFailure()
		}
		return s.saslStep(el.Text(), false)
	case "abort":
		// RFC 6120 6.4.4: the client aborts; we answer <aborted/>.
		s.sasl = nil
		s.saslFailure(sasl.Aborted, "")
		return s.countFailure()
	default:
		return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "unknown SASL element")
	}
}

// saslStep feeds one client message to the mechanism. RFC 6120 6.4.2: an
// initial response of "=" is empty; no text at all means none was sent.
func (s *session) saslStep(text string, initial bool) *xmlstream.StreamError {
	var in []byte
	if text != "" && text != "=" {
		var err error
		in, err = base64.StdEncoding.DecodeString(text)
		if err != nil {
			s.sasl = nil
			s.saslFailure(sasl.IncorrectEncoding, "")
			return s.countFailure()
		}
	} else if text == "=" {
		in = []byte{}
	}
	if initial && text == "" {
		in = nil
	}
	out, done, err := s.sasl.Step(in)
	if err != nil {
		return s.saslFailed(s.guardOutcome(err))
	}
	if !done {
		s.write(func(b []byte) []byte { return appendSASL(b, "challenge", out) }, false)
		return nil
	}
	user := s.sasl.Username()
	full, jerr := jid.New(user, s.domain, "")
	if jerr != nil {
		return s.saslFailed(&sasl.Failure{Condition: sasl.NotAuthorized})
	}
	// RFC 6120 6.3.8: an authorization identity other than the account's
	// own is not something this server grants.
	if az := s.sasl.AuthzID(); az != "" {
		if a, err := jid.Parse(az); err != nil || a != full {
			return s.saslFailed(&sasl.Failure{Condition: sasl.InvalidAuthzid})
		}
	}
	if err := s.guardOutcome(nil); err != nil {
		return s.saslFailed(err)
	}
	s.sasl = nil
	s.jid = full
	s.srv.auth.successes.Add(1)
	s.write(func(b []byte) []byte { return appendSASL(b, "success", out) }, false)
	// RFC 6120 6.4.6: the stream restarts, keeping bytes already read.
	s.dec.Restart()
	s.restarted()
	s.state = stateBind
	return nil
}

func appendSASL(b []byte, name string, data []byte) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, ` xmlns='`+nsSASL+`'>`...)
	if len(data) > 0 {
		b = base64.StdEncoding.AppendEncode(b, data)
	} else if name == "challenge" {
		b = append(b, '=')
	}
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func (s *session) saslFailed(err error) *xmlstream.StreamError {
	s.sasl = nil
	var f *sasl.Failure
	if !errors.As(err, &f) {
		s.srv.cfg.Log.Warn("c2s: authentication error", "err", err)
		f = &sasl.Failure{Condition: sasl.TemporaryAuthFailure}
	}
	s.saslFailure(f.Condition, f.Text)
	s.srv.cfg.Log.Debug("c2s: SASL failure", "condition", string(f.Condition), "text", f.Text,
		"mismatch", f.Mismatch, "remote", s.conn.RemoteAddr().String())
	if f.Mismatch {
		return s.countMismatch()
	}
	return s.countFailure()
}

func (s *session) saslFailure(c sasl.Condition, text string) {
	f := stanza.NewElement(nsSASL, "failure").Append(stanza.NewElement(nsSASL, string(c)))
	if text != "" {
		f.Append(stanza.NewElement(nsSASL, "text").AppendText(text))
	}
	s.write(func(b []byte) []byte { return f.AppendXML(b, stanza.NSClient) }, false)
}

// countFailure closes streams that keep failing: RFC 6120 6.4.5 lets the
// server limit retries; past the limit the stream ends.
func (s *session) countFailure() *xmlstream.StreamError {
	s.srv.auth.failures.Add(1)
	s.failures++
	if s.failures >= s.srv.cfg.MaxAuthFailures {
		return xmlstream.NewError(xmlstream.PolicyViolation, "too many failed authentication attempts")
	}
	return nil
}

// countMismatch counts a refused mechanism or channel binding; see
// maxMismatches.
func (s *session) countMismatch() *xmlstream.StreamError {
	s.srv.auth.mismatches.Add(1)
	s.mismatches++
	if s.mismatches >= maxMismatches {
		return xmlstream.NewError(xmlstream.PolicyViolation, "too many refused authentication mechanisms")
	}
	return nil
}

// negotiateBind handles the bind request (RFC 6120 7). Nothing else may
// come before it.
func (s *session) negotiateBind(el *stanza.Element) *xmlstream.StreamError {
	if !isStanza(el) {
		return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "bind a resource first")
	}
	b := el.Child(nsBind, "bind")
	if el.Name.Local != "iq" || el.Get("type") != "set" || b == nil {
		// RFC 6120 7.1: stanzas before binding close the stream.
		return xmlstream.NewError(xmlstream.NotAuthorized, "bind a resource first")
	}
	cfg := &s.srv.cfg
	var buf [8]delivery.Resource
	if len(cfg.Router.Registry.Resources(buf[:0], s.jid)) >= cfg.MaxResources {
		// RFC 6120 7.6.2.1: the account has reached its limit.
		s.replyError(el, stanza.NewError(stanza.ResourceConstraint, "too many connected resources"))
		return nil
	}
	want := ""
	if r := b.Child(nsBind, "resource"); r != nil {
		want = r.Text()
	}
	var full jid.JID
	if want == "" {
		full, _ = s.jid.WithResource(newResource())
	} else {
		var err error
		if full, err = s.jid.WithResource(want); err != nil {
			// RFC 6120 7.7.2.1: a resourcepart that cannot be processed.
			s.replyError(el, stanza.NewError(stanza.BadRequest, "invalid resource"))
			return nil
		}
	}
	s.closeMu.Lock()
	s.bound = true // from here on, writes go through the queue
	s.closeMu.Unlock()
	bound, old, ok := cfg.Router.Registry.Bind(full, s, cfg.Conflict, newResource)
	if !ok {
		s.closeMu.Lock()
		s.bound = false
		s.closeMu.Unlock()
		// RFC 6120 7.7.2.2 behaviour #2: keep the old session.
		s.replyError(el, stanza.NewError(stanza.Conflict, "resource in use"))
		return nil
	}
	if old != nil {
		// Behaviour #3: the old session ends with <conflict/>.
		if o, ok := old.(*session); ok {
			o.kick(xmlstream.NewError(xmlstream.Conflict, "replaced by a new connection"))
		}
	}
	s.jid = bound
	s.state = stateReady
	s.conn.SetReadDeadline(time.Time{})
	res := delivery.Result(el, s.jid, jid.JID{})
	res.Del("from")
	res.Append(stanza.NewElement(nsBind, "bind").Append(
		stanza.NewElement(nsBind, "jid").AppendText(bound.String())))
	s.Deliver(res)
	cfg.Log.Debug("c2s: bound", "jid", bound.String(), "remote", s.conn.RemoteAddr().String())
	return nil
}

// replyError answers el with a stanza error on this stream.
func (s *session) replyError(el *stanza.Element, e *stanza.Error) {
	r := stanza.Bounce(el, e)
	if r == nil {
		return
	}
	s.write(func(b []byte) []byte { return r.AppendXML(b, stanza.NSClient) }, false)
}

func newResource() string {
	var b [8]byte
	rand.Read(b[:])
	return "herald-" + hex.EncodeToString(b[:])
}
