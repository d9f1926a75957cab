package sasl

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xdg-go/scram"
)

// scramMech describes one SCRAM family member.
type scramMech struct {
	hash scram.HashGeneratorFcn
	size int // hash output size: the length of StoredKey, ServerKey and the proof
	plus bool
	key  func(Credentials) Key
}

var scramMechanisms = map[string]scramMech{
	SCRAMSHA256Plus: {scram.SHA256, sha256.Size, true, func(c Credentials) Key { return c.SHA256 }},
	SCRAMSHA1Plus:   {scram.SHA1, sha1.Size, true, func(c Credentials) Key { return c.SHA1 }},
	SCRAMSHA256:     {scram.SHA256, sha256.Size, false, func(c Credentials) Key { return c.SHA256 }},
	SCRAMSHA1:       {scram.SHA1, sha1.Size, false, func(c Credentials) Key { return c.SHA1 }},
}

type scramState uint8

const (
	scramStart      scramState = iota // nothing received
	scramAwaitFirst                   // sent an empty challenge, want client-first-message
	scramAwaitFinal                   // sent server-first-message, want client-final-message
	scramDone                         // succeeded
	scramFailed                       // failed
)

// scramSession runs SCRAM (RFC 5802, RFC 7677) with xdg-go/scram doing the
// message exchange and the cryptography. This type decides what xdg-go/scram
// cannot: which channel binding data to use, the downgrade rules, how
// usernames are prepared, what unknown users look like, and which SASL
// condition each failure maps to.
type scramSession struct {
	mech  scramMech
	cfg   Config
	state scramState
	conv  *scram.ServerConversation

	user    string // prepared username, for Username once done
	authzID string
	decoy   bool // the user is unknown: the exchange must fail at the end

	// nonce makes the server nonce; newNonce when nil. Tests replace it to
	// replay published test vectors.
	nonce func(io.Reader) (string, error)
}

func (s *scramSession) Username() string {
	if s.state != scramDone {
		return ""
	}
	return s.user
}

// Attempted returns the prepared username the client tried, also after a
// failure; "" before the client-first-message.
func (s *scramSession) Attempted() string { return s.user }

func (s *scramSession) AuthzID() string { return s.authzID }

func (s *scramSession) fail(c Condition, text string) ([]byte, bool, error) {
	return s.failWith(fail(c, text))
}

func (s *scramSession) failWith(f *Failure) ([]byte, bool, error) {
	s.state = scramFailed
	s.conv = nil
	return nil, false, f
}

func (s *scramSession) Step(in []byte) ([]byte, bool, error) {
	switch s.state {
	case scramStart, scramAwaitFirst:
		if len(in) == 0 {
			// RFC 6120 6.3.10, 6.4.2: a client that sent no initial
			// response is asked for it with an empty challenge. Once.
			if s.state == scramAwaitFirst {
				return s.fail(MalformedRequest, "expected client-first-message")
			}
			s.state = scramAwaitFirst
			return []byte{}, false, nil
		}
		return s.first(in)
	case scramAwaitFinal:
		return s.final(in)
	}
	return nil, false, fail(MalformedRequest, "the exchange is over")
}

func (s *scramSession) first(in []byte) ([]byte, bool, error) {
	msg := string(in)
	// RFC 5802 7: the messages are UTF-8 text.
	if !utf8.ValidString(msg) {
		return s.fail(MalformedRequest, "not UTF-8")
	}
	c1, err := parseClientFirst(msg)
	if err != nil {
		return s.fail(MalformedRequest, err.Error())
	}

	// Channel binding rules, RFC 5802 6. Each refusal here comes before
	// any credential is looked at: a Mismatch.
	var cb scram.ChannelBinding
	switch {
	case s.mech.plus:
		// A -PLUS mechanism is only for clients that bind (RFC 5802 4:
		// "p" is how the client says which binding it uses).
		if c1.flag != "p" {
			return s.failWith(mismatch(MalformedRequest, "a -PLUS mechanism requires channel binding"))
		}
		// RFC 5802 6: if the server does not support the indicated
		// channel binding type it MUST fail authentication. (tls-unique
		// under TLS 1.3 is one: it is undefined there, RFC 9266 1.)
		data := s.cfg.Bindings.data(c1.cbName)
		if len(data) == 0 {
			return s.failWith(mismatch(NotAuthorized, "unsupported channel binding type"))
		}
		cb = scram.ChannelBinding{Type: scram.ChannelBindingType(c1.cbName), Data: data}
	case c1.flag == "p":
		return s.failWith(mismatch(MalformedRequest, "channel binding requires a -PLUS mechanism"))
	case c1.flag == "y" && offersPlus(s.cfg):
		// RFC 5802 6: "y" says the client could bind but saw no -PLUS
		// mechanism; if the server offered one, the offer was stripped
		// on the way and the server MUST fail authentication.
		return s.failWith(mismatch(NotAuthorized, "channel binding was offered"))
	}

	user, creds, decoy, f := credentialsFor(s.cfg, c1.username)
	if f != nil {
		return s.fail(f.Condition, f.Text)
	}
	key := s.mech.key(creds)
	if key.check(s.mech.size) != nil {
		// The account has no key for this hash: fail like a wrong
		// password, at the end.
		key, decoy = s.mech.key(decoyCredentials(s.cfg, user)), true
	}

	mkNonce := s.nonce
	if mkNonce == nil {
		mkNonce = newNonce
	}
	nonce, err := mkNonce(s.cfg.Rand)
	if err != nil {
		return s.fail(TemporaryAuthFailure, "")
	}

	stored := scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(key.Salt), Iters: key.Iterations},
		StoredKey:  key.StoredKey,
		ServerKey:  key.ServerKey,
	}
	// The username was looked up above, prepared; the callback only hands
	// over the result.
	srv, err := s.mech.hash.NewServer(func(string) (scram.StoredCredentials, error) { return stored, nil })
	if err != nil {
		return s.fail(TemporaryAuthFailure, "")
	}
	srv.WithNonceGenerator(func() string { return nonce })
	if s.mech.plus {
		s.conv = srv.NewConversationWithChannelBindingRequired(cb)
	} else {
		// No binding data: xdg-go/scram then accepts "n" and "y", and the
		// "y" downgrade case was refused above.
		s.conv = srv.NewConversation()
	}
	out, err := s.conv.Step(msg)
	if err != nil {
		// parseClientFirst accepts only what xdg-go/scram parses, so this
		// is not expected; refuse rather than guess.
		return s.fail(MalformedRequest, "")
	}
	s.user, s.authzID, s.decoy = user, c1.authzID, decoy
	s.state = scramAwaitFinal
	return []byte(out), false, nil
}

func (s *scramSession) final(in []byte) ([]byte, bool, error) {
	msg := string(in)
	if !utf8.ValidString(msg) {
		return s.fail(MalformedRequest, "not UTF-8")
	}
	if err := checkClientFinal(msg, s.mech.size); err != nil {
		return s.fail(MalformedRequest, err.Error())
	}
	out, err := s.conv.Step(msg)
	if out == scram.ErrChannelBindingsDontMatch {
		// The binding data is compared before the proof: a mismatch is
		// independent of the account, so it may be named, and it says
		// nothing about the password.
		return s.failWith(mismatch(NotAuthorized, "channel binding mismatch"))
	}
	if err != nil || !s.conv.Valid() || s.decoy {
		// RFC 6120 6.5.10: a wrong proof and an unknown user look the
		// same.
		return s.fail(NotAuthorized, "")
	}
	s.state = scramDone
	s.conv = nil
	// RFC 6120 6.4.6: the server-final-message is the additional data
	// with success.
	return []byte(out), true, nil
}

// newNonce returns 24 random bytes in base64: printable and free of ',' as
// RFC 5802 7 requires of a nonce.
func newNonce(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [24]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// clientFirst holds what the server needs from a client-first-message.
type clientFirst struct {
	flag     string // "n", "y" or "p"
	cbName   string // with "p"
	authzID  string // decoded
	username string // decoded, not yet prepared
}

// syntaxError is a parse failure; its text is fixed and safe to show a client.
type syntaxError string

func (e syntaxError) Error() string { return string(e) }

// parseClientFirst parses a client-first-message by the grammar of RFC 5802 7:
//
//	client-first-message = gs2-header client-first-message-bare
//	gs2-header     = gs2-cbind-flag "," [ authzid ] ","
//	gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
func parseClientFirst(msg string) (clientFirst, error) {
	var c clientFirst
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return c, syntaxError("missing gs2 header")
	}
	switch {
	case flag == "n" || flag == "y":
		c.flag = flag
	case strings.HasPrefix(flag, "p="):
		c.flag, c.cbName = "p", flag[2:]
		if !validCBName(c.cbName) {
			return c, syntaxError("invalid channel binding name")
		}
	default:
		return c, syntaxError("invalid gs2 channel binding flag")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return c, syntaxError("missing gs2 header")
	}
	if authz != "" {
		if !strings.HasPrefix(authz, "a=") {
			return c, syntaxError("invalid authzid")
		}
		if c.authzID, ok = decodeSASLName(authz[2:]); !ok {
			return c, syntaxError("invalid authzid")
		}
	}
	// RFC 5802 5.1: the "m" attribute is reserved; its presence MUST cause
	// authentication failure.
	if strings.HasPrefix(bare, "m=") {
		return c, syntaxError("mandatory extensions are not supported")
	}
	fields := strings.Split(bare, ",")
	if len(fields) < 2 {
		return c, syntaxError("missing username or nonce")
	}
	if !strings.HasPrefix(fields[0], "n=") {
		return c, syntaxError("missing username")
	}
	if c.username, ok = decodeSASLName(fields[0][2:]); !ok {
		return c, syntaxError("invalid username encoding")
	}
	if !strings.HasPrefix(fields[1], "r=") || !printable(fields[1][2:]) {
		return c, syntaxError("invalid nonce")
	}
	if !validExtensions(fields[2:]) {
		return c, syntaxError("invalid extension")
	}
	return c, nil
}

// checkClientFinal checks a client-final-message against RFC 5802 7:
//
//	client-final-message = channel-binding "," nonce ["," extensions] "," proof
//	channel-binding = "c=" base64
//	proof = "p=" base64
//
// with a proof of the hash's size. Comparing the binding data and the nonce
// with what is expected is xdg-go/scram's job.
func checkClientFinal(msg string, size int) error {
	fields := strings.Split(msg, ",")
	if len(fields) < 3 {
		return syntaxError("missing fields")
	}
	if !strings.HasPrefix(fields[0], "c=") || !validBase64(fields[0][2:]) {
		return syntaxError("invalid channel binding")
	}
	if !strings.HasPrefix(fields[1], "r=") || !printable(fields[1][2:]) {
		return syntaxError("invalid nonce")
	}
	last := fields[len(fields)-1]
	if !strings.HasPrefix(last, "p=") {
		return syntaxError("missing proof")
	}
	proof, err := base64.StdEncoding.Strict().DecodeString(last[2:])
	if err != nil || len(proof) != size {
		return syntaxError("invalid proof")
	}
	if !validExtensions(fields[2 : len(fields)-1]) {
		return syntaxError("invalid extension")
	}
	return nil
}

// decodeSASLName decodes a saslname (RFC 5802 7): "=2C" is ',', "=3D" is
// '=', any other '=' is an error, as is NUL and the empty name.
func decodeSASLName(s string) (string, bool) {
	if s == "" || strings.IndexByte(s, 0) >= 0 {
		return "", false
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// printable is RFC 5802 7's c-nonce: 1*(%x21-2B / %x2D-7E).
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// validCBName is RFC 5802 7's cb-name: 1*(ALPHA / DIGIT / "." / "-").
func validCBName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validExtensions checks RFC 5802 7's attr-val = ALPHA "=" value for each
// field. Unknown extensions are otherwise ignored, as RFC 5802 5.1 allows.
func validExtensions(fields []string) bool {
	for _, f := range fields {
		if len(f) < 2 || f[1] != '=' || !('a' <= f[0] && f[0] <= 'z' || 'A' <= f[0] && f[0] <= 'Z') {
			return false
		}
	}
	return true
}

func validBase64(s string) bool {
	_, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil && s != ""
}
