package c2s

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"strings"

	"github.com/heraldxmpp/herald/c2s/sasl"
)

// endpoints holds the tls-server-end-point channel binding (RFC 5929 4.1)
// of each configured certificate, computed once at start.
type endpoints struct {
	byName map[string][]byte // DNS name (or "*.domain") -> hash
	first  []byte
}

func newEndpoints(cfg *tls.Config) endpoints {
	e := endpoints{byName: map[string][]byte{}}
	for i := range cfg.Certificates {
		c := &cfg.Certificates[i]
		leaf := c.Leaf
		if leaf == nil && len(c.Certificate) > 0 {
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				continue
			}
		}
		if leaf == nil {
			continue
		}
		h := endPointHash(leaf)
		if e.first == nil {
			e.first = h
		}
		for _, n := range leaf.DNSNames {
			if _, ok := e.byName[strings.ToLower(n)]; !ok {
				e.byName[strings.ToLower(n)] = h
			}
		}
	}
	return e
}

// lookup mirrors crypto/tls's certificate choice for a server name: an
// exact name, then a wildcard, then the first certificate.
func (e endpoints) lookup(serverName string) []byte {
	name := strings.ToLower(serverName)
	if h, ok := e.byName[name]; ok {
		return h
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if h, ok := e.byName["*"+name[i:]]; ok {
			return h
		}
	}
	return e.first
}

// endPointHash is RFC 5929 4.1: the certificate hashed with the hash of
// its signature algorithm, SHA-256 when that is MD5 or SHA-1.
func endPointHash(c *x509.Certificate) []byte {
	h := crypto.SHA256
	switch c.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = crypto.SHA512
	}
	d := h.New()
	d.Write(c.Raw)
	return d.Sum(nil)
}

// bindings computes the channel bindings a finished TLS connection offers
// SCRAM-*-PLUS (XEP-0440).
func (s *Server) bindings(cs tls.ConnectionState) sasl.ChannelBindings {
	var b sasl.ChannelBindings
	b.TLSServerEndPoint = s.certEnd.lookup(cs.ServerName)
	// RFC 9266 2: tls-exporter, label EXPORTER-Channel-Binding, no
	// context, 32 bytes. Go refuses it for TLS 1.2 without EMS.
	if ekm, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err == nil {
		b.TLSExporter = ekm
	}
	// RFC 5929 3: tls-unique exists only below TLS 1.3.
	if cs.Version < tls.VersionTLS13 && len(cs.TLSUnique) > 0 {
		b.TLSUnique = append([]byte(nil), cs.TLSUnique...)
	}
	return b
}
