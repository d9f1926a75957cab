package jid

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error wraps
// ErrMalformed, that a parsed JID re-parses to itself and can be rebuilt from
// its parts, and that the ASCII fast paths agree with the PRECIS and IDNA
// reference paths. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		checkFastPaths(t, s)
		j, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q): %v does not wrap ErrMalformed", s, err)
			}
			return
		}
		if j.IsZero() || j.Domain() == "" {
			t.Fatalf("Parse(%q) returned an empty domainpart: %#v", s, j)
		}
		for _, p := range []string{j.Local(), j.Domain(), j.Resource()} {
			if len(p) > maxPart {
				t.Fatalf("Parse(%q): part of %d octets", s, len(p))
			}
		}
		again, err := Parse(j.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not re-parse: %v", s, j, err)
		}
		if again != j {
			t.Fatalf("Parse(%q) = %#v, re-parses to %#v", s, j, again)
		}
		built, err := New(j.Local(), j.Domain(), j.Resource())
		if err != nil || built != j {
			t.Fatalf("New(parts of %q) = %#v, %v", j, built, err)
		}
		b := j.Bare()
		if !b.IsBare() || b.Local() != j.Local() || b.Domain() != j.Domain() || j.IsBare() && b != j {
			t.Fatalf("Bare(%q) = %#v", j, b)
		}
	})
}

// checkFastPaths splits s like Parse does and compares, for each part, the
// fast path's answer (when it gives one) with the reference path's.
func checkFastPaths(t *testing.T, s string) {
	t.Helper()
	rest, resource, _ := strings.Cut(s, "/")
	local, domain, ok := strings.Cut(rest, "@")
	if !ok {
		local, domain = "", rest
	}
	if local != "" {
		if fast, ok := localASCII(local); ok {
			slow, err := localSlow(local)
			if err != nil || slow != fast {
				t.Fatalf("localpart %q: fast %q, slow %q, %v", local, fast, slow, err)
			}
		}
	}
	if resource != "" {
		if fast, ok := resourceASCII(resource); ok {
			slow, err := resourceSlow(resource)
			if err != nil || slow != fast {
				t.Fatalf("resourcepart %q: fast %q, slow %q, %v", resource, fast, slow, err)
			}
		}
	}
	if d := strings.TrimSuffix(domain, "."); d != "" {
		if fast, ok := domainASCII(d); ok {
			slow, err := domainSlow(d)
			if err != nil || slow != fast {
				t.Fatalf("domainpart %q: fast %q, slow %q, %v", d, fast, slow, err)
			}
		}
	}
}

func TestFastPaths(t *testing.T) {
	// Every printable ASCII character alone, in front of, between and after
	// letters, in each part.
	for c := byte(0x20); c < 0x7f; c++ {
		for _, p := range []string{"%c", "a%c", "%ca", "a%cb", "A%cB", "%c%c", "ab%ccd", "ab%c%cd"} {
			part := strings.ReplaceAll(p, "%c", string(c))
			checkFastPaths(t, part+"@example.com/"+part)
			checkFastPaths(t, "x@"+part+".example")
			checkFastPaths(t, "x@"+part)
		}
	}
}
