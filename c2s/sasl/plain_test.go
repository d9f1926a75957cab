package sasl

import (
	"errors"
	"testing"
)

func plainCfg() Config { return Config{TLS: true, Lookup: newStore().lookup} }

func TestPLAIN(t *testing.T) {
	for _, tc := range []struct {
		name    string
		msg     string
		want    Condition
		user    string
		authzID string
	}{
		{"ok", "\x00juliet\x00" + julietPassword, "", "juliet", ""},
		{"authzid", "juliet@example.com\x00juliet\x00" + julietPassword, "", "juliet", "juliet@example.com"},
		{"case-mapped username", "\x00Juliet\x00" + julietPassword, "", "juliet", ""},
		{"width-mapped username", "\x00\uFF4Auliet\x00" + julietPassword, "", "juliet", ""},
		{"wrong password", "\x00juliet\x00wrong", NotAuthorized, "", ""},
		{"password case matters", "\x00juliet\x00R0M30MYR0M30", NotAuthorized, "", ""},
		{"unknown user", "\x00romeo\x00" + julietPassword, NotAuthorized, "", ""},
		{"unpreparable user", "\x00\u265A\x00" + julietPassword, NotAuthorized, "", ""},
		{"no NUL", "juliet", MalformedRequest, "", ""},
		{"one NUL", "juliet\x00" + julietPassword, MalformedRequest, "", ""},
		{"three NULs", "\x00juliet\x00" + julietPassword + "\x00", MalformedRequest, "", ""},
		{"empty authcid", "\x00\x00" + julietPassword, MalformedRequest, "", ""},
		{"empty password", "\x00juliet\x00", MalformedRequest, "", ""},
		{"not UTF-8", "\x00juliet\x00\xff", MalformedRequest, "", ""},
		{"control in password", "\x00juliet\x00r0m30\x07", NotAuthorized, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Plain, plainCfg())
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := s.Step([]byte(tc.msg))
			if tc.want == "" {
				if err != nil || !done || out != nil {
					t.Fatalf("Step = %q, %v, %v", out, done, err)
				}
			} else {
				var f *Failure
				if !errors.As(err, &f) || f.Condition != tc.want || done {
					t.Fatalf("Step = %v, %v; want %s", done, err, tc.want)
				}
				if f.Condition == NotAuthorized && f.Text != "" {
					t.Errorf("not-authorized says %q", f.Text)
				}
			}
			if s.Username() != tc.user || s.AuthzID() != tc.authzID {
				t.Errorf("Username() = %q, AuthzID() = %q", s.Username(), s.AuthzID())
			}
			if _, _, err := s.Step([]byte("\x00juliet\x00" + julietPassword)); condition(err) != MalformedRequest {
				t.Errorf("Step after the end: %v", err)
			}
		})
	}
}

func TestPLAINEmptyInitialResponse(t *testing.T) {
	s, _ := New(Plain, plainCfg())
	out, done, err := s.Step(nil)
	if err != nil || done || out == nil || len(out) != 0 {
		t.Fatalf("Step(nil) = %q, %v, %v", out, done, err)
	}
	if _, done, err := s.Step([]byte("\x00juliet\x00" + julietPassword)); err != nil || !done {
		t.Fatalf("Step = %v, %v", done, err)
	}
	s, _ = New(Plain, plainCfg())
	s.Step(nil)
	if _, _, err := s.Step(nil); condition(err) != MalformedRequest {
		t.Errorf("second empty response: %v", err)
	}
}

func TestPLAINLookupError(t *testing.T) {
	st := newStore()
	st.err = errors.New("disk on fire")
	s, _ := New(Plain, Config{TLS: true, Lookup: st.lookup})
	if _, _, err := s.Step([]byte("\x00juliet\x00" + julietPassword)); condition(err) != TemporaryAuthFailure {
		t.Errorf("Step = %v", err)
	}
}

func BenchmarkPLAINLogin(b *testing.B) {
	cfg := Config{TLS: true, Lookup: benchLookup}
	msg := []byte("\x00juliet\x00" + julietPassword)
	b.ReportAllocs()
	for b.Loop() {
		s, _ := New(Plain, cfg)
		if _, done, err := s.Step(msg); err != nil || !done {
			b.Fatal(err)
		}
	}
}
