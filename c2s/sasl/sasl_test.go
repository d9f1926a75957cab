package sasl

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// seqReader yields 0, 1, 2, ... so that salts are deterministic.
type seqReader struct{ n byte }

func (r *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

// constReader always yields the same byte, so that SCRAM server nonces are
// the same in every session.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

const julietPassword = "r0m30myr0m30"

// julietCredentials are computed once: PBKDF2 is the slow part of every test.
var julietCredentials = sync.OnceValue(func() Credentials {
	c, err := NewCredentials(julietPassword, 0, &seqReader{})
	if err != nil {
		panic(err)
	}
	return c
})

// store is an account store for tests.
type store struct {
	accounts map[string]Credentials
	err      error    // returned by every lookup when set
	asked    []string // usernames looked up
}

func (s *store) lookup(username string) (Credentials, error) {
	s.asked = append(s.asked, username)
	if s.err != nil {
		return Credentials{}, s.err
	}
	c, ok := s.accounts[username]
	if !ok {
		return Credentials{}, fmt.Errorf("account %q: %w", username, ErrNoSuchUser)
	}
	return c, nil
}

func newStore() *store {
	return &store{accounts: map[string]Credentials{"juliet": julietCredentials()}}
}

// benchLookup knows juliet and records nothing.
func benchLookup(username string) (Credentials, error) {
	if username == "juliet" {
		return julietCredentials(), nil
	}
	return Credentials{}, ErrNoSuchUser
}

var (
	exporterData = bytes.Repeat([]byte{0xE1}, 32)
	endPointData = bytes.Repeat([]byte{0xE2}, 32)
	uniqueData   = bytes.Repeat([]byte{0xE3}, 12)
	allBindings  = ChannelBindings{TLSUnique: uniqueData, TLSServerEndPoint: endPointData, TLSExporter: exporterData}
)

func condition(err error) Condition {
	var f *Failure
	if errors.As(err, &f) {
		return f.Condition
	}
	return ""
}

func TestMechanisms(t *testing.T) {
	for _, tc := range []struct {
		cfg      Config
		mechs    []string
		bindings []string
	}{
		{Config{}, []string{SCRAMSHA256, SCRAMSHA1}, nil},
		{Config{TLS: true}, []string{SCRAMSHA256, SCRAMSHA1, Plain}, nil},
		{
			Config{TLS: true, Bindings: ChannelBindings{TLSServerEndPoint: endPointData}},
			[]string{SCRAMSHA256Plus, SCRAMSHA1Plus, SCRAMSHA256, SCRAMSHA1, Plain},
			[]string{TLSServerEndPoint},
		},
		{
			Config{TLS: true, Bindings: allBindings},
			[]string{SCRAMSHA256Plus, SCRAMSHA1Plus, SCRAMSHA256, SCRAMSHA1, Plain},
			[]string{TLSExporter, TLSServerEndPoint, TLSUnique},
		},
		{
			// Empty (not nil) data is no data.
			Config{TLS: true, Bindings: ChannelBindings{TLSUnique: []byte{}}},
			[]string{SCRAMSHA256, SCRAMSHA1, Plain},
			nil,
		},
	} {
		if got := Mechanisms(tc.cfg); !reflect.DeepEqual(got, tc.mechs) {
			t.Errorf("Mechanisms(%+v) = %q, want %q", tc.cfg, got, tc.mechs)
		}
		if got := BindingTypes(tc.cfg); !reflect.DeepEqual(got, tc.bindings) {
			t.Errorf("BindingTypes(%+v) = %q, want %q", tc.cfg, got, tc.bindings)
		}
		// Every offered mechanism can be started.
		tc.cfg.Lookup = newStore().lookup
		for _, m := range Mechanisms(tc.cfg) {
			if _, err := New(m, tc.cfg); err != nil {
				t.Errorf("New(%q) with %+v: %v", m, tc.cfg, err)
			}
		}
	}
}

func TestNewRefuses(t *testing.T) {
	lookup := newStore().lookup
	for _, tc := range []struct {
		mech string
		cfg  Config
		want Condition
	}{
		{"DIGEST-MD5", Config{TLS: true, Lookup: lookup}, InvalidMechanism},
		{"scram-sha-1", Config{TLS: true, Lookup: lookup}, InvalidMechanism},
		{"", Config{TLS: true, Lookup: lookup}, InvalidMechanism},
		{SCRAMSHA256Plus, Config{TLS: true, Lookup: lookup}, InvalidMechanism},
		{SCRAMSHA1Plus, Config{Lookup: lookup}, InvalidMechanism},
		{Plain, Config{Lookup: lookup}, EncryptionRequired},
	} {
		s, err := New(tc.mech, tc.cfg)
		if got := condition(err); got != tc.want || s != nil {
			t.Errorf("New(%q, %+v) = %v, %v; want %s", tc.mech, tc.cfg, s, err, tc.want)
		}
		// No credential was looked at: not a failed password attempt.
		if f := (*Failure)(nil); !errors.As(err, &f) || !f.Mismatch {
			t.Errorf("New(%q, %+v) = %+v, want a Mismatch", tc.mech, tc.cfg, err)
		}
	}
	if _, err := New(SCRAMSHA256, Config{}); err == nil || condition(err) != "" {
		t.Errorf("New without Lookup: %v, want a programming error", err)
	}
}

func TestFailureError(t *testing.T) {
	if got := (&Failure{Condition: NotAuthorized}).Error(); got != "sasl: not-authorized" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Failure{Condition: MalformedRequest, Text: "bad"}).Error(); got != "sasl: malformed-request: bad" {
		t.Errorf("Error() = %q", got)
	}
}
