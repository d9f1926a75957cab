// Package sasl implements the server side of the SASL mechanisms Herald
// offers to clients (RFC 6120 6): SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 7677,
// RFC 5802), their -PLUS variants with channel binding (RFC 5929, RFC 9266,
// XEP-0440), and PLAIN over TLS (RFC 4616). It also defines the credentials
// an account stores.
//
// Each exchange is a pure step machine: a Session consumes the client's
// decoded data and returns the next challenge or the data for <success/>, or
// a *Failure carrying one of the RFC 6120 6.5 conditions. The package does no
// I/O, reads no clock, and knows nothing of XML or base64: the c2s session
// decodes <auth/> and <response/>, calls Step, and encodes the result. The
// SCRAM messages and keys are computed by github.com/xdg-go/scram; this
// package supplies the policy around it.
//
// # Invariants
//
//   - Passwords are never stored: Credentials hold SCRAM salted keys for
//     SHA-1 and SHA-256, derived from the password prepared with the PRECIS
//     OpaqueString profile (RFC 8265 4.2). Their binary form is versioned and
//     frozen by testdata/credentials-v1.golden.
//   - Usernames are prepared by the mechanism with the PRECIS
//     UsernameCaseMapped profile (RFC 8265 3.3, as for localparts in RFC
//     7622 3.3) before Lookup sees them; Username returns that form.
//   - An unknown username fails exactly like a wrong password: same
//     condition (not-authorized, RFC 6120 6.5.10), at the same step, after
//     the same work. SCRAM runs against decoy credentials derived by HMAC
//     from the username (Config.DecoyKey), so the salt and iteration count an
//     unknown user is shown are stable; PLAIN runs the full PBKDF2 against
//     them. The time Lookup itself takes is the store's business.
//   - Channel binding (RFC 5802 6): a -PLUS mechanism is offered only when
//     Config.Bindings has data, and then the client must send "p=<type>" for
//     a type with data. A non-PLUS SCRAM exchange with the gs2 flag "y" fails
//     while -PLUS is offered (downgrade protection); "p" on a non-PLUS
//     mechanism fails.
//   - Refusing a mechanism or channel binding the client chose (unknown or
//     unavailable mechanism, a binding type without data, "y" while -PLUS
//     is offered, binding data that does not match) happens before any
//     credential is looked at, and the Failure says so (Mismatch). Such a
//     refusal is not a failed password attempt.
//   - PLAIN is offered and accepted only over TLS (RFC 6120 6.3.4).
//
// # Channel binding under TLS 1.3
//
// Under TLS 1.3 the -PLUS mechanisms are offered with tls-exporter and
// tls-server-end-point (XEP-0440 makes the latter mandatory to advertise);
// tls-unique does not exist there (RFC 9266 1). A client that knows only
// tls-unique and ignores XEP-0440 (slixmpp 1.8) is refused on each -PLUS
// mechanism and then on each SCRAM mechanism it tries with "y", before
// PLAIN. No offer avoids this without taking channel binding away from
// the clients that use it correctly: such a client picks -PLUS whenever it
// is offered, and its "y" cannot be told from the "y" of a client whose
// offer was stripped (a man in the middle can send the server anything
// before it, including a failed -PLUS attempt). So the offer stays, the
// refusals are Mismatches, and the client's first password attempt
// succeeds.
//   - Failure.Text is fixed text, safe to send to the client.
//
// # What the caller does
//
//   - Base64 (RFC 6120 6.3.5, 6.5.5 incorrect-encoding) and "=" for empty
//     data (6.4.2, 6.4.6). Step(nil) at the first step means "no initial
//     response" and returns an empty challenge.
//   - The authorization identity: AuthzID returns what the client asked for
//     and the caller checks it (RFC 6120 6.3.8); typically only the user's
//     own bare JID is accepted, anything else gets InvalidAuthzid.
//   - Account state (AccountDisabled, CredentialsExpired) once Step reports
//     done, so that these conditions do not reveal which accounts exist.
//   - A new <auth/> discards the session (RFC 6120 6.4.2); <abort/> answers
//     Aborted without calling Step.
//   - Channel binding data from the TLS connection: tls-server-end-point is
//     the hash of the server's own certificate (RFC 5929 4.1), tls-exporter
//     32 bytes of keying material with the label "EXPORTER-Channel-Binding"
//     (RFC 9266 2), tls-unique only below TLS 1.3 (RFC 9266 1).
//
// # Usage
//
//	cfg := sasl.Config{TLS: true, Bindings: cb, Lookup: accounts.Credentials}
//	features.Mechanisms = sasl.Mechanisms(cfg)
//	features.ChannelBindings = sasl.BindingTypes(cfg) // XEP-0440
//
//	s, err := sasl.New(auth.Mechanism, cfg)
//	for err == nil {
//		out, done, err = s.Step(in)   // in: decoded <auth/> or <response/>
//		if done { send <success>out</success>; break }
//		send <challenge>out</challenge>; in = next <response/>
//	}
//	var f *sasl.Failure; errors.As(err, &f) // send <failure><f.Condition/>...
//
// To create an account: c, err := sasl.NewCredentials(password, 0, nil), then
// store c.MarshalBinary().
package sasl
