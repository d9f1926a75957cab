package sasl

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestNewCredentials(t *testing.T) {
	c := julietCredentials()
	for _, k := range []struct {
		name string
		key  Key
		size int
	}{{"SHA1", c.SHA1, sha1.Size}, {"SHA256", c.SHA256, sha256.Size}} {
		if err := k.key.check(k.size); err != nil {
			t.Errorf("%s: %v", k.name, err)
		}
		if len(k.key.Salt) != 16 || k.key.Iterations != DefaultIterations {
			t.Errorf("%s: salt %x, %d iterations", k.name, k.key.Salt, k.key.Iterations)
		}
	}
	// Separate salts per hash, taken from the reader in order.
	if !bytes.Equal(c.SHA1.Salt, seq(0, 16)) || !bytes.Equal(c.SHA256.Salt, seq(16, 16)) {
		t.Errorf("salts %x %x", c.SHA1.Salt, c.SHA256.Salt)
	}
	d, err := NewCredentials(julietPassword, 5000, nil)
	if err != nil || d.SHA256.Iterations != 5000 || bytes.Equal(d.SHA256.Salt, c.SHA256.Salt) {
		t.Errorf("NewCredentials(5000, crypto/rand) = %+v, %v", d.SHA256, err)
	}
}

func seq(from, n byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

func TestNewCredentialsRefuses(t *testing.T) {
	for _, pw := range []string{"", "\x00", "pass\u0007word", "\xff\xfe", "a\u200Bb"} {
		if _, err := NewCredentials(pw, 0, &seqReader{}); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("NewCredentials(%q): %v, want ErrWeakPassword", pw, err)
		}
	}
	for _, n := range []int{-1, 1, 4095, MaxIterations + 1} {
		if _, err := NewCredentials("pencil", n, &seqReader{}); !errors.Is(err, ErrCredentials) {
			t.Errorf("NewCredentials(%d iterations): %v", n, err)
		}
	}
	if _, err := NewCredentials("pencil", 0, errReader{}); err == nil {
		t.Errorf("NewCredentials with a failing reader succeeded")
	}
}

func TestVerify(t *testing.T) {
	c := julietCredentials()
	if !c.Verify(julietPassword) {
		t.Errorf("Verify(right password) = false")
	}
	for _, pw := range []string{"", "r0m30myr0m3", "R0M30MYR0M30", julietPassword + " ", "\xff"} {
		if c.Verify(pw) {
			t.Errorf("Verify(%q) = true", pw)
		}
	}
	// OpaqueString normalises to NFC and maps non-ASCII spaces, on both sides.
	n, err := NewCredentials("caf\u00E9\u00A0au lait", 0, &seqReader{})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Verify("cafe\u0301 au lait") {
		t.Errorf("Verify does not prepare the password like NewCredentials")
	}
	// SHA-1 only, and nothing at all.
	if !(Credentials{SHA1: c.SHA1}).Verify(julietPassword) {
		t.Errorf("Verify with only a SHA-1 key = false")
	}
	if (Credentials{}).Verify(julietPassword) || (Credentials{}).Verify("") {
		t.Errorf("Verify of empty credentials = true")
	}
	// A SHA-256 key that does not match wins over a SHA-1 key that does.
	mixed := Credentials{SHA1: c.SHA1, SHA256: n.SHA256}
	if mixed.Verify(julietPassword) {
		t.Errorf("Verify fell back to SHA-1")
	}
}

// The binary form is stored in every account record: it must not change.
func TestCredentialsGolden(t *testing.T) {
	c, err := NewCredentials("pencil", 4096, &seqReader{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "credentials-v1.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalBinary =\n%x\nwant (golden)\n%x", got, want)
	}
	var d Credentials
	if err := d.UnmarshalBinary(want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, c) || !d.Verify("pencil") {
		t.Errorf("golden decodes to %+v", d)
	}
	// The decoded value does not alias the input.
	want[10] ^= 0xff
	if !reflect.DeepEqual(d, c) {
		t.Errorf("UnmarshalBinary kept a reference to its input")
	}
	if len(got) != 2+2*(1+2+1+16)+2*sha1.Size+2*sha256.Size {
		t.Errorf("encoding is %d bytes", len(got))
	}
}

func TestCredentialsRoundTrip(t *testing.T) {
	c := julietCredentials()
	for _, v := range []Credentials{{}, c, {SHA1: c.SHA1}, {SHA256: c.SHA256}} {
		b, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var d Credentials
		if err := d.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary(%x): %v", b, err)
		}
		if !reflect.DeepEqual(normal(d), normal(v)) {
			t.Errorf("round trip of %+v gave %+v", v, d)
		}
	}
	big := c
	big.SHA256.Iterations = MaxIterations
	if b, err := big.MarshalBinary(); err != nil {
		t.Error(err)
	} else if err := new(Credentials).UnmarshalBinary(b); err != nil {
		t.Error(err)
	}
}

// normal turns empty slices into nil for comparison.
func normal(c Credentials) Credentials {
	for _, k := range []*Key{&c.SHA1, &c.SHA256} {
		if k.isZero() {
			*k = Key{}
		}
	}
	return c
}

func TestCredentialsInvalid(t *testing.T) {
	c := julietCredentials()
	for _, bad := range []Credentials{
		{SHA1: Key{Iterations: 4096}},
		{SHA1: Key{Salt: c.SHA1.Salt, Iterations: 4096, StoredKey: c.SHA1.StoredKey}},
		{SHA256: Key{Salt: c.SHA256.Salt, Iterations: 0, StoredKey: c.SHA256.StoredKey, ServerKey: c.SHA256.ServerKey}},
		{SHA256: Key{Salt: make([]byte, 256), Iterations: 1, StoredKey: c.SHA256.StoredKey, ServerKey: c.SHA256.ServerKey}},
		{SHA256: c.SHA1},
	} {
		if b, err := bad.MarshalBinary(); !errors.Is(err, ErrCredentials) {
			t.Errorf("MarshalBinary(%+v) = %x, %v", bad, b, err)
		}
	}

	good, _ := c.MarshalBinary()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"version only", []byte{1}},
		{"version 0", []byte{0, 0}},
		{"version 2", []byte{2, 0}},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"count too high", append([]byte{1, 3}, good[2:]...)},
		{"count too low", append([]byte{1, 1}, good[2:]...)},
		{"unknown id", []byte{1, 1, 9, 1, 1, 0}},
		{"ids out of order", reorder(good)},
		{"repeated id", repeatFirst(good)},
		{"zero iterations", setByte(good, 3, 0)},
		{"zero salt", []byte{1, 1, 1, 1, 0}},
		{"bad varint", []byte{1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		d := c
		if err := d.UnmarshalBinary(tc.b); !errors.Is(err, ErrCredentials) {
			t.Errorf("%s: UnmarshalBinary(%x) = %v", tc.name, tc.b, err)
		}
		if !reflect.DeepEqual(d, c) {
			t.Errorf("%s: failed UnmarshalBinary changed the value", tc.name)
		}
	}
}

// keyLen is the size of one encoded key with a 16-byte salt and 4096
// iterations (a 2-byte uvarint).
func keyLen(size int) int { return 1 + 2 + 1 + 16 + 2*size }

func reorder(good []byte) []byte {
	sha1Part := good[2 : 2+keyLen(sha1.Size)]
	sha256Part := good[2+keyLen(sha1.Size):]
	return append(append([]byte{1, 2}, sha256Part...), sha1Part...)
}

func repeatFirst(good []byte) []byte {
	sha1Part := good[2 : 2+keyLen(sha1.Size)]
	return append(append([]byte{1, 2}, sha1Part...), sha1Part...)
}

func setByte(b []byte, i int, v byte) []byte {
	b = append([]byte{}, b...)
	b[i] = v
	return b
}
