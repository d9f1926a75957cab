package piefxis

import (
	"crypto/rand"
	"fmt"

	"github.com/heraldxmpp/herald/c2s/sasl"
)

// Credentials turns the account's secret into what Herald stores: a
// plaintext password is derived into fresh SCRAM keys; SCRAM credentials
// (XEP-0227 section 3.2) are kept as they are, so the user logs in with
// the old password. Mechanisms Herald has no key for are named in skipped.
func Credentials(a *Account) (c sasl.Credentials, skipped []string, err error) {
	if a.Password != "" {
		c, err = sasl.NewCredentials(a.Password, 0, rand.Reader)
		if err != nil {
			return c, nil, fmt.Errorf("user %s@%s: the password cannot be used: %w", a.Name, a.Domain, err)
		}
		return c, nil, nil
	}
	for _, s := range a.SCRAM {
		k := sasl.Key{Salt: s.Salt, Iterations: s.Iter, StoredKey: s.StoredKey, ServerKey: s.ServerKey}
		switch s.Mechanism {
		case sasl.SCRAMSHA1:
			c.SHA1 = k
		case sasl.SCRAMSHA256:
			c.SHA256 = k
		default:
			skipped = append(skipped, s.Mechanism)
		}
	}
	// The stored form checks every key's sizes and counts.
	b, err := c.MarshalBinary()
	if err == nil {
		err = c.UnmarshalBinary(b)
	}
	if err != nil || (c.SHA1.Iterations == 0 && c.SHA256.Iterations == 0) {
		if err == nil {
			err = fmt.Errorf("neither a password nor SCRAM-SHA-1 or SCRAM-SHA-256 credentials")
		}
		return sasl.Credentials{}, skipped, fmt.Errorf("user %s@%s: %w", a.Name, a.Domain, err)
	}
	return c, skipped, nil
}

// SetCredentials puts Herald's stored keys into the account as
// <scram-credentials/>, for export; the password is never known.
func SetCredentials(a *Account, c sasl.Credentials) {
	a.Password = ""
	a.SCRAM = a.SCRAM[:0]
	for _, m := range []struct {
		name string
		k    sasl.Key
	}{{sasl.SCRAMSHA1, c.SHA1}, {sasl.SCRAMSHA256, c.SHA256}} {
		if m.k.Iterations > 0 {
			a.SCRAM = append(a.SCRAM, SCRAM{Mechanism: m.name, Iter: m.k.Iterations, Salt: m.k.Salt, ServerKey: m.k.ServerKey, StoredKey: m.k.StoredKey})
		}
	}
}
