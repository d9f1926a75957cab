package sasl

import (
	"errors"
	"io"
)

// Mechanism names (RFC 5802 4, RFC 7677 3, RFC 4616 2).
const (
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA1       = "SCRAM-SHA-1"
	Plain           = "PLAIN"
)

// Channel binding types (RFC 5929 3 and 4, RFC 9266 2), as advertised in the
// XEP-0440 <sasl-channel-binding/> feature and named in the SCRAM gs2 header.
const (
	TLSExporter       = "tls-exporter"
	TLSServerEndPoint = "tls-server-end-point"
	TLSUnique         = "tls-unique"
)

// ErrNoSuchUser is what a Lookup returns for an account that does not exist.
var ErrNoSuchUser = errors.New("sasl: no such user")

// Condition is a SASL error condition (RFC 6120 6.5).
type Condition string

// RFC 6120 6.5 defined conditions.
const (
	Aborted              Condition = "aborted"                // 6.5.1
	AccountDisabled      Condition = "account-disabled"       // 6.5.2
	CredentialsExpired   Condition = "credentials-expired"    // 6.5.3
	EncryptionRequired   Condition = "encryption-required"    // 6.5.4
	IncorrectEncoding    Condition = "incorrect-encoding"     // 6.5.5
	InvalidAuthzid       Condition = "invalid-authzid"        // 6.5.6
	InvalidMechanism     Condition = "invalid-mechanism"      // 6.5.7
	MalformedRequest     Condition = "malformed-request"      // 6.5.8
	MechanismTooWeak     Condition = "mechanism-too-weak"     // 6.5.9
	NotAuthorized        Condition = "not-authorized"         // 6.5.10
	TemporaryAuthFailure Condition = "temporary-auth-failure" // 6.5.11
)

// Failure is a failed authentication exchange as the client will see it: the
// <failure/> element's condition and its optional <text/>. Text never holds
// internal detail and is safe to send.
type Failure struct {
	Condition Condition
	Text      string
	// Mismatch marks the refusal of a mechanism or channel binding the
	// client chose that this connection does not support or that was
	// offered differently (RFC 5802 6): no credential was looked at, so
	// the refusal says nothing about the password. Clients that cannot
	// tell which channel binding the server supports try one mechanism
	// after another until one fits; a caller that limits failed password
	// attempts (RFC 6120 6.4.5) should not count these.
	Mismatch bool
}

func (f *Failure) Error() string {
	if f.Text == "" {
		return "sasl: " + string(f.Condition)
	}
	return "sasl: " + string(f.Condition) + ": " + f.Text
}

func fail(c Condition, text string) *Failure { return &Failure{Condition: c, Text: text} }

// mismatch is a Failure with Mismatch set.
func mismatch(c Condition, text string) *Failure {
	return &Failure{Condition: c, Text: text, Mismatch: true}
}

// ChannelBindings holds the channel binding data the TLS layer could compute
// for this connection; a nil field means that type is unavailable (for
// example TLSUnique under TLS 1.3, where it is undefined, RFC 9266 1).
type ChannelBindings struct {
	TLSUnique         []byte // RFC 5929 3
	TLSServerEndPoint []byte // RFC 5929 4: hash of the server's certificate
	TLSExporter       []byte // RFC 9266 2: 32 bytes, label "EXPORTER-Channel-Binding"
}

// data returns the binding data for the named type, nil when unavailable or
// unknown.
func (b ChannelBindings) data(typ string) []byte {
	switch typ {
	case TLSExporter:
		return b.TLSExporter
	case TLSServerEndPoint:
		return b.TLSServerEndPoint
	case TLSUnique:
		return b.TLSUnique
	}
	return nil
}

// Lookup returns the stored credentials of the account whose SASL username
// (the localpart, RFC 6120 6.3.7) is username, already prepared with the
// PRECIS UsernameCaseMapped profile by the mechanism. It returns an error
// wrapping ErrNoSuchUser when there is no such account; any other error makes
// the exchange fail with temporary-auth-failure.
type Lookup func(username string) (Credentials, error)

// Config is what a mechanism needs to know about the connection and the
// account store.
type Config struct {
	// TLS reports that the stream is encrypted; PLAIN is only offered and
	// accepted over TLS.
	TLS bool
	// Bindings is the channel binding data for the -PLUS mechanisms.
	Bindings ChannelBindings
	// Lookup finds an account's credentials. Required.
	Lookup Lookup
	// Rand is the source of SCRAM server nonces; crypto/rand.Reader when nil.
	// Tests make it constant to replay conversations.
	Rand io.Reader

	// DecoyKey keys the HMAC that derives stand-in credentials for unknown
	// usernames, so that an unknown user cannot be told from a wrong
	// password. Nodes of one cluster should share it, or an attacker can
	// compare the salts two nodes announce for the same name. When nil, a
	// random per-process key is used.
	DecoyKey []byte
	// DecoyIterations is the iteration count announced for unknown users;
	// set it to what real accounts use. DefaultIterations when 0.
	DecoyIterations int
}

// BindingTypes returns the channel binding types to advertise in the XEP-0440
// <sasl-channel-binding/> stream feature: those for which cfg has data,
// strongest first.
func BindingTypes(cfg Config) []string {
	var types []string
	for _, t := range [...]string{TLSExporter, TLSServerEndPoint, TLSUnique} {
		if len(cfg.Bindings.data(t)) > 0 {
			types = append(types, t)
		}
	}
	return types
}

// offersPlus reports whether the -PLUS mechanisms are offered, which is also
// what the SCRAM downgrade check of RFC 5802 6 refers to.
func offersPlus(cfg Config) bool { return len(BindingTypes(cfg)) > 0 }

// Mechanisms returns the mechanisms to offer, strongest first (RFC 6120
// 6.3.3): the -PLUS variants when some channel binding is available, the
// plain SCRAM variants always, and PLAIN only over TLS (RFC 6120 6.3.4: a
// mechanism that requires TLS MUST NOT be advertised before TLS is
// negotiated).
func Mechanisms(cfg Config) []string {
	m := make([]string, 0, 5)
	if offersPlus(cfg) {
		m = append(m, SCRAMSHA256Plus, SCRAMSHA1Plus)
	}
	m = append(m, SCRAMSHA256, SCRAMSHA1)
	if cfg.TLS {
		m = append(m, Plain)
	}
	return m
}

// Session is one authentication exchange, server side. It is not safe for
// concurrent use; RFC 6120 6.4.2 has a new <auth/> discard it.
type Session interface {
	// Step consumes the client's decoded data (the initial response, or a
	// response) and returns the next challenge, or, when done is true, the
	// additional data for <success/> (the server-final-message for SCRAM,
	// nil for PLAIN). An empty or nil in at the first step asks for the
	// initial message and returns an empty challenge. On failure err is a
	// *Failure and the session is finished.
	Step(in []byte) (out []byte, done bool, err error)
	// Username returns the authenticated username, prepared with
	// UsernameCaseMapped (the localpart); "" until Step returned done.
	Username() string
	// AuthzID returns the authorization identity the client asked for, ""
	// if none. The session does not check it: RFC 6120 6.3.8 makes the
	// receiving entity verify it, and only the caller knows the domain and
	// the policy. Typically only the user's own bare JID is accepted and
	// anything else is answered with InvalidAuthzid.
	AuthzID() string
}

// New starts an exchange for the mechanism the client chose. A mechanism that
// is unknown or not offered under cfg (see Mechanisms) fails with
// invalid-mechanism, PLAIN without TLS with encryption-required.
func New(mechanism string, cfg Config) (Session, error) {
	if cfg.Lookup == nil {
		return nil, errors.New("sasl: Config.Lookup is nil")
	}
	switch mechanism {
	case Plain:
		if !cfg.TLS {
			// RFC 6120 6.5.4; RFC 4616 6: PLAIN without a protected
			// channel exposes the password.
			return nil, mismatch(EncryptionRequired, "PLAIN requires TLS")
		}
		return &plainSession{cfg: cfg}, nil
	case SCRAMSHA256, SCRAMSHA1, SCRAMSHA256Plus, SCRAMSHA1Plus:
		m := scramMechanisms[mechanism]
		if m.plus && !offersPlus(cfg) {
			return nil, mismatch(InvalidMechanism, "channel binding is not available")
		}
		return &scramSession{mech: m, cfg: cfg}, nil
	}
	// RFC 6120 6.5.7.
	return nil, mismatch(InvalidMechanism, "")
}
