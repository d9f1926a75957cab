package sasl

import (
	"bytes"
	"unicode/utf8"
)

// plainSession runs PLAIN (RFC 4616). New only creates one over TLS.
type plainSession struct {
	cfg     Config
	asked   bool // sent the empty challenge
	over    bool // succeeded or failed
	user    string
	tried   string // the prepared username tried, kept after a failure
	authzID string
}

func (s *plainSession) Username() string { return s.user }

// Attempted returns the prepared username the client tried, also after a
// failure; "" before the mechanism read one.
func (s *plainSession) Attempted() string { return s.tried }
func (s *plainSession) AuthzID() string   { return s.authzID }

func (s *plainSession) fail(c Condition, text string) ([]byte, bool, error) {
	s.over = true
	s.user = ""
	return nil, false, fail(c, text)
}

func (s *plainSession) Step(in []byte) ([]byte, bool, error) {
	if s.over {
		return nil, false, fail(MalformedRequest, "the exchange is over")
	}
	if len(in) == 0 {
		// RFC 6120 6.3.10, 6.4.2: no initial response, so ask for the
		// message with an empty challenge; once.
		if s.asked {
			return s.fail(MalformedRequest, "expected authentication message")
		}
		s.asked = true
		return []byte{}, false, nil
	}
	// RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd, all
	// UTF-8, with authcid and passwd not empty.
	if !utf8.Valid(in) {
		return s.fail(MalformedRequest, "not UTF-8")
	}
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return s.fail(MalformedRequest, "expected authzid NUL authcid NUL passwd")
	}
	user, creds, decoy, f := credentialsFor(s.cfg, string(parts[1]))
	s.tried = user
	if f != nil {
		return s.fail(f.Condition, f.Text)
	}
	// RFC 4616 2: the server verifies authcid and passwd; the password is
	// prepared with OpaqueString (RFC 8265 4.2) inside Verify. Decoy
	// credentials cost the same derivation and never match, so an unknown
	// user takes as long as a wrong password (RFC 6120 6.5.10).
	if ok := creds.Verify(string(parts[2])); !ok || decoy {
		return s.fail(NotAuthorized, "")
	}
	s.over = true
	s.user = user
	s.authzID = string(parts[0])
	return nil, true, nil
}
