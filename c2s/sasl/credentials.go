package sasl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/xdg-go/scram"
	"golang.org/x/text/secure/precis"
)

const (
	// DefaultIterations is the PBKDF2 iteration count NewCredentials uses
	// when given 0: the minimum RFC 7677 4 recommends.
	DefaultIterations = 4096
	// MinIterations is the smallest count NewCredentials accepts (RFC 7677
	// 4: SHOULD be at least 4096; common clients refuse less).
	MinIterations = 4096
	// MaxIterations bounds the count in stored credentials, so a corrupt
	// record cannot stall a login for hours.
	MaxIterations = 1 << 24

	saltSize = 16
)

var (
	// ErrWeakPassword is returned by NewCredentials for a password that is
	// empty or that the PRECIS OpaqueString profile rejects.
	ErrWeakPassword = errors.New("sasl: empty or invalid password")
	// ErrCredentials is wrapped by the errors of NewCredentials (for a bad
	// iteration count), MarshalBinary and UnmarshalBinary.
	ErrCredentials = errors.New("sasl: invalid credentials")
)

// Key is one SCRAM credential (RFC 5802 3): the salt and iteration count of
// the PBKDF2 derivation, and the StoredKey and ServerKey derived from the
// salted password. It does not allow recovering the password.
type Key struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Credentials are what an account stores: one Key per supported hash, never
// the password. A zero Key means the account cannot use that hash.
type Credentials struct {
	SHA1   Key // SCRAM-SHA-1 (RFC 5802)
	SHA256 Key // SCRAM-SHA-256 (RFC 7677)
}

// preparePassword applies the PRECIS OpaqueString profile (RFC 8265 4.2),
// which is how passwords are prepared on both sides of every mechanism here.
func preparePassword(password string) (string, error) {
	// The PRECIS code would quietly turn invalid octets into U+FFFD.
	if !utf8.ValidString(password) {
		return "", fmt.Errorf("%w: not UTF-8", ErrWeakPassword)
	}
	p, err := precis.OpaqueString.String(password)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrWeakPassword, err)
	}
	if p == "" {
		return "", ErrWeakPassword
	}
	return p, nil
}

// NewCredentials derives the credentials for password with iterations rounds
// of PBKDF2 (DefaultIterations when 0) and a separate 16-byte random salt for
// each hash, read from rnd (crypto/rand.Reader when nil).
func NewCredentials(password string, iterations int, rnd io.Reader) (Credentials, error) {
	p, err := preparePassword(password)
	if err != nil {
		return Credentials{}, err
	}
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return Credentials{}, fmt.Errorf("%w: iteration count %d outside [%d, %d]",
			ErrCredentials, iterations, MinIterations, MaxIterations)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	var c Credentials
	for _, k := range []struct {
		key  *Key
		hash scram.HashGeneratorFcn
	}{{&c.SHA1, scram.SHA1}, {&c.SHA256, scram.SHA256}} {
		salt := make([]byte, saltSize)
		if _, err := io.ReadFull(rnd, salt); err != nil {
			return Credentials{}, fmt.Errorf("sasl: reading salt: %w", err)
		}
		if *k.key, err = deriveKey(k.hash, p, salt, iterations); err != nil {
			return Credentials{}, err
		}
	}
	return c, nil
}

// deriveKey computes a Key from a prepared password with xdg-go/scram's
// client-side key derivation (RFC 5802 3).
func deriveKey(h scram.HashGeneratorFcn, prepared string, salt []byte, iterations int) (Key, error) {
	client, err := h.NewClientUnprepped("", prepared, "")
	if err != nil {
		return Key{}, err
	}
	sc, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return Key{}, fmt.Errorf("sasl: deriving key: %w", err)
	}
	return Key{Salt: salt, Iterations: iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// Verify reports whether password matches c, in constant time with respect to
// the stored keys. It uses the SHA-256 key, or the SHA-1 key when there is no
// SHA-256 one; it costs one PBKDF2 derivation.
func (c Credentials) Verify(password string) bool {
	k, h := c.SHA256, scram.SHA256
	if k.check(sha256.Size) != nil {
		k, h = c.SHA1, scram.SHA1
		if k.check(sha1.Size) != nil {
			return false
		}
	}
	p, err := preparePassword(password)
	if err != nil {
		return false
	}
	got, err := deriveKey(h, p, k.Salt, k.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got.StoredKey, k.StoredKey) == 1
}

func (k Key) isZero() bool {
	return len(k.Salt) == 0 && k.Iterations == 0 && len(k.StoredKey) == 0 && len(k.ServerKey) == 0
}

// check reports why k cannot be used with a hash of the given size.
func (k Key) check(size int) error {
	switch {
	case len(k.Salt) == 0 || len(k.Salt) > 255:
		return fmt.Errorf("%w: salt of %d bytes", ErrCredentials, len(k.Salt))
	case k.Iterations < 1 || k.Iterations > MaxIterations:
		return fmt.Errorf("%w: iteration count %d", ErrCredentials, k.Iterations)
	case len(k.StoredKey) != size || len(k.ServerKey) != size:
		return fmt.Errorf("%w: key size", ErrCredentials)
	}
	return nil
}

// Binary format, version 1 (frozen by testdata/credentials-v1.golden):
//
//	version  byte = 1
//	count    byte             number of keys that follow
//	count times, in increasing id order:
//	  id         byte         1 = SHA-1, 2 = SHA-256
//	  iterations uvarint      1..MaxIterations
//	  saltLen    byte         1..255
//	  salt       saltLen bytes
//	  storedKey  hash size bytes (20 or 32)
//	  serverKey  hash size bytes
//
// An absent (zero) Key is not written. New hashes get new ids; a change to an
// existing layout needs a new version.
const credentialsV1 = 1

var keyKinds = [...]struct {
	id   byte
	size int
	get  func(*Credentials) *Key
}{
	{1, sha1.Size, func(c *Credentials) *Key { return &c.SHA1 }},
	{2, sha256.Size, func(c *Credentials) *Key { return &c.SHA256 }},
}

// MarshalBinary encodes c in the versioned format above.
func (c Credentials) MarshalBinary() ([]byte, error) {
	out := []byte{credentialsV1, 0}
	for _, kind := range keyKinds {
		k := kind.get(&c)
		if k.isZero() {
			continue
		}
		if err := k.check(kind.size); err != nil {
			return nil, err
		}
		out[1]++
		out = append(out, kind.id)
		out = binary.AppendUvarint(out, uint64(k.Iterations))
		out = append(out, byte(len(k.Salt)))
		out = append(out, k.Salt...)
		out = append(out, k.StoredKey...)
		out = append(out, k.ServerKey...)
	}
	return out, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. It copies what it keeps,
// and leaves c unchanged on error.
func (c *Credentials) UnmarshalBinary(data []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrCredentials, what) }
	if len(data) < 2 {
		return bad("truncated header")
	}
	if data[0] != credentialsV1 {
		return bad(fmt.Sprintf("unknown version %d", data[0]))
	}
	buf := append([]byte(nil), data[2:]...)
	count := int(data[1])
	var out Credentials
	next := 0 // index into keyKinds: ids must come in increasing order
	take := func(n int) ([]byte, bool) {
		if n > len(buf) {
			return nil, false
		}
		b := buf[:n:n]
		buf = buf[n:]
		return b, true
	}
	for range count {
		if len(buf) == 0 {
			return bad("truncated key")
		}
		id := buf[0]
		buf = buf[1:]
		for next < len(keyKinds) && keyKinds[next].id != id {
			next++
		}
		if next == len(keyKinds) {
			return bad(fmt.Sprintf("unknown or repeated key id %d", id))
		}
		kind := keyKinds[next]
		next++
		iters, n := binary.Uvarint(buf)
		if n <= 0 || iters < 1 || iters > MaxIterations {
			return bad("iteration count")
		}
		buf = buf[n:]
		if len(buf) == 0 {
			return bad("truncated key")
		}
		saltLen := int(buf[0])
		buf = buf[1:]
		salt, ok1 := take(saltLen)
		stored, ok2 := take(kind.size)
		server, ok3 := take(kind.size)
		if !ok1 || !ok2 || !ok3 {
			return bad("truncated key")
		}
		k := Key{Salt: salt, Iterations: int(iters), StoredKey: stored, ServerKey: server}
		if err := k.check(kind.size); err != nil {
			return err
		}
		*kind.get(&out) = k
	}
	if len(buf) != 0 {
		return bad("trailing bytes")
	}
	*c = out
	return nil
}

// processDecoyKey is the per-process key for decoy credentials when
// Config.DecoyKey is unset, drawn once at package initialization.
var processDecoyKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // never fails (crypto/rand.Read)
	return k
}()

// decoyCredentials returns stand-in credentials for a username that has no
// account: deterministic for a given key and username, so that repeated
// attempts see the same salt, and indistinguishable from real ones without the
// key (RFC 6120 6.5.10: no differentiation between incorrect credentials and
// a nonexistent username). No password matches them.
func decoyCredentials(cfg Config, username string) Credentials {
	key := cfg.DecoyKey
	if len(key) == 0 {
		key = processDecoyKey
	}
	iters := cfg.DecoyIterations
	if iters <= 0 || iters > MaxIterations {
		iters = DefaultIterations
	}
	derive := func(hash, what string, n int) []byte {
		m := hmac.New(sha256.New, key)
		for _, s := range []string{hash, what, username} {
			m.Write([]byte(s))
			m.Write([]byte{0})
		}
		return m.Sum(nil)[:n]
	}
	mk := func(hash string, size int) Key {
		return Key{
			Salt:       derive(hash, "salt", saltSize),
			Iterations: iters,
			StoredKey:  derive(hash, "stored", size),
			ServerKey:  derive(hash, "server", size),
		}
	}
	return Credentials{SHA1: mk("SHA-1", sha1.Size), SHA256: mk("SHA-256", sha256.Size)}
}

// credentialsFor prepares a SASL username with UsernameCaseMapped (RFC 8265
// 3.3, as RFC 7622 3.3 does for localparts) and looks its account up. For a
// name that does not prepare or has no account it returns decoy credentials
// and decoy = true, so the exchange runs its course and fails like a wrong
// password would. Only a failing Lookup makes it return a Failure.
func credentialsFor(cfg Config, raw string) (user string, c Credentials, decoy bool, f *Failure) {
	user, err := precis.UsernameCaseMapped.String(raw)
	if err != nil || !utf8.ValidString(raw) {
		return "", decoyCredentials(cfg, raw), true, nil
	}
	c, err = cfg.Lookup(user)
	switch {
	case errors.Is(err, ErrNoSuchUser):
		return user, decoyCredentials(cfg, user), true, nil
	case err != nil:
		// RFC 6120 6.5.11: an error internal to the receiving entity.
		return "", Credentials{}, false, fail(TemporaryAuthFailure, "")
	}
	return user, c, false, nil
}
