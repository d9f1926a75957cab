package sasl

import (
	"errors"
	"reflect"
	"testing"
)

// fuzzConfig offers every mechanism, knows juliet, and makes the same server
// nonce ("A" * 32) in every session, so that seeds can hold complete,
// successful conversations.
func fuzzConfig() Config {
	return Config{
		TLS:      true,
		Bindings: allBindings,
		Lookup:   benchLookup,
		Rand:     constReader(0),
		DecoyKey: []byte("fuzz"),
	}
}

// FuzzStep drives every mechanism with arbitrary client messages: no panics,
// every error is a *Failure, success only for juliet, and nothing after the
// end. Seeds live in testdata/fuzz/FuzzStep.
func FuzzStep(f *testing.F) {
	cfg := fuzzConfig()
	f.Fuzz(func(t *testing.T, mech string, first, second, third []byte) {
		s, err := New(mech, cfg)
		if err != nil {
			var fl *Failure
			if !errors.As(err, &fl) {
				t.Fatalf("New(%q): %v is not a *Failure", mech, err)
			}
			return
		}
		for i, in := range [][]byte{first, second, third} {
			out, done, err := s.Step(in)
			if err != nil {
				var fl *Failure
				if !errors.As(err, &fl) || fl.Condition == "" {
					t.Fatalf("step %d: %v is not a *Failure", i, err)
				}
				if s.Username() != "" {
					t.Fatalf("step %d failed with Username() = %q", i, s.Username())
				}
				return
			}
			if done {
				if s.Username() != "juliet" {
					t.Fatalf("step %d: success for %q", i, s.Username())
				}
				if _, _, err := s.Step(nil); err == nil {
					t.Fatalf("Step after success did not fail")
				}
				return
			}
			if out == nil {
				t.Fatalf("step %d: nil challenge", i)
			}
		}
	})
}

// FuzzCredentials checks that UnmarshalBinary never panics and that whatever
// it accepts marshals back to the same bytes (the encoding is canonical).
func FuzzCredentials(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Credentials
		if err := c.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrCredentials) {
				t.Fatalf("UnmarshalBinary: %v does not wrap ErrCredentials", err)
			}
			if !reflect.DeepEqual(c, Credentials{}) {
				t.Fatalf("failed UnmarshalBinary changed the value")
			}
			return
		}
		again, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of decoded %x: %v", b, err)
		}
		if string(again) != string(b) {
			t.Fatalf("%x decodes and re-encodes as %x", b, again)
		}
	})
}
