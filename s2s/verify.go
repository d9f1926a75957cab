package s2s

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/heraldxmpp/herald/delivery/jid"
)

// Certificate verification is ours, not crypto/tls's: TLS is negotiated
// with InsecureSkipVerify (outbound) and RequestClientCert (inbound), and
// the peer's chain is checked here, after the handshake, so that a
// certificate that does not verify can still leave Server Dialback open
// (RFC 7590 3.4 calls this the common case on the XMPP network) instead of
// failing the handshake, and so that a certificate is judged against the
// XMPP domain the stream is for rather than a host name.

var (
	errNoCert   = errors.New("s2s: the peer presented no certificate")
	errCertName = errors.New("s2s: the certificate does not name the domain")
)

// verifyChain checks the peer's chain against roots (nil: the system
// roots) at now. RFC 6120 13.7.2: integrity, signatures, the full path.
// The extended key usage is not checked: RFC 6120 13.7.1.2 does not
// require one, and server certificates in the wild carry serverAuth only
// (then they are presented as client certificates on the connections a
// server opens) or clientAuth only.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	if len(certs) == 0 {
		return errNoCert
	}
	opts := x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return fmt.Errorf("s2s: certificate chain: %w", err)
	}
	return nil
}

// verifyPeer is verifyChain and certNames together.
func verifyPeer(certs []*x509.Certificate, domain string, roots *x509.CertPool, now time.Time) error {
	if err := verifyChain(certs, roots, now); err != nil {
		return err
	}
	if !certNames(certs[0], domain) {
		return fmt.Errorf("%w %s", errCertName, domain)
	}
	return nil
}

// certNames reports whether the certificate presents an identifier for
// the XMPP domain (RFC 6120 13.7.1.2, RFC 6125 6): a DNS-ID, exact or
// with a wildcard as the whole leftmost label; an SRV-ID for
// _xmpp-server (or XEP-0368's _xmpps-server); or an XmppAddr (RFC 6120
// 13.7.1.4), which RFC 6120 13.7.2.1 allows as a reference identifier.
// The common name is never used (RFC 6125 6.4.4 allows it only without
// any subjectAltName, and no certificate issued today relies on it).
func certNames(leaf *x509.Certificate, domain string) bool {
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || ascii == "" {
		return false
	}
	ascii = strings.ToLower(strings.TrimSuffix(ascii, "."))
	for _, n := range leaf.DNSNames {
		if matchDNS(n, ascii) {
			return true
		}
	}
	xmpp, srv := otherNames(leaf)
	for _, a := range xmpp {
		// An XmppAddr is a JID; for a server, a bare domain. Compare the
		// prepared forms (RFC 7622 3.2.3).
		if j, err := jid.Parse(a); err == nil && j.Local() == "" && j.Resource() == "" && j.String() == domain {
			return true
		}
	}
	for _, s := range srv {
		// RFC 4985: _Service.Name; RFC 6125 6.5.1: the service and the
		// name are compared separately.
		svc, name, ok := strings.Cut(s, ".")
		if !ok || !strings.EqualFold(svc, "_xmpp-server") && !strings.EqualFold(svc, "_xmpps-server") {
			continue
		}
		if strings.EqualFold(strings.TrimSuffix(name, "."), ascii) {
			return true
		}
	}
	return false
}

// matchDNS matches a DNS-ID against an A-label domain (RFC 6125 6.4).
// A wildcard matches exactly one whole label (6.4.3), never a partial
// label, and never directly under a single-label name ("*.com").
func matchDNS(pattern, host string) bool {
	p := strings.ToLower(strings.TrimSuffix(pattern, "."))
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		if !strings.Contains(rest, ".") {
			return false
		}
		i := strings.IndexByte(host, '.')
		return i > 0 && host[i+1:] == rest
	}
	if strings.Contains(p, "*") {
		return false
	}
	return p == host
}

var (
	oidSAN      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidXmppAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5} // id-on-xmppAddr, RFC 6120 13.7.1.4
	oidSRVName  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7} // id-on-dnsSRV, RFC 4985
)

// otherNames returns the XmppAddr and SRVName otherName entries of the
// certificate's subjectAltName, which crypto/x509 does not parse.
//
//	GeneralName ::= CHOICE { otherName [0] AnotherName, ... }
//	AnotherName ::= SEQUENCE { type-id OBJECT IDENTIFIER,
//	                           value   [0] EXPLICIT ANY DEFINED BY type-id }
func otherNames(leaf *x509.Certificate) (xmpp, srv []string) {
	for _, ext := range leaf.Extensions {
		if !ext.Id.Equal(oidSAN) {
			continue
		}
		var seq asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &seq); err != nil || len(rest) > 0 || seq.Tag != asn1.TagSequence {
			return
		}
		b := seq.Bytes
		for len(b) > 0 {
			var gn asn1.RawValue
			var err error
			if b, err = asn1.Unmarshal(b, &gn); err != nil {
				return
			}
			if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 || !gn.IsCompound {
				continue
			}
			var oid asn1.ObjectIdentifier
			r, err := asn1.Unmarshal(gn.Bytes, &oid)
			if err != nil {
				continue
			}
			var val asn1.RawValue
			if _, err := asn1.Unmarshal(r, &val); err != nil || val.Class != asn1.ClassContextSpecific || val.Tag != 0 {
				continue
			}
			var str asn1.RawValue
			if _, err := asn1.Unmarshal(val.Bytes, &str); err != nil || str.Class != asn1.ClassUniversal {
				continue
			}
			switch {
			case oid.Equal(oidXmppAddr) && str.Tag == asn1.TagUTF8String:
				xmpp = append(xmpp, string(str.Bytes))
			case oid.Equal(oidSRVName) && str.Tag == asn1.TagIA5String:
				srv = append(srv, string(str.Bytes))
			}
		}
	}
	return xmpp, srv
}

// pickCert returns the certificate we present for a local domain: the
// first that names it, else the first there is.
func pickCert(cfg *tls.Config, domain string) ownCert {
	for i := range cfg.Certificates {
		c := &cfg.Certificates[i]
		if leaf := leafOf(c); leaf != nil && certNames(leaf, domain) {
			return ownCert{cert: c, names: true}
		}
	}
	if len(cfg.Certificates) > 0 {
		return ownCert{cert: &cfg.Certificates[0]}
	}
	return ownCert{}
}

// clientCert is the certificate for a connection we open from local. A
// configuration with only GetCertificate (certificates that rotate) is
// asked at each connection.
func (s *Server) clientCert(local string) ownCert {
	oc := s.certs[local]
	if oc.names || s.cfg.TLS.GetCertificate == nil {
		return oc
	}
	c, err := s.cfg.TLS.GetCertificate(&tls.ClientHelloInfo{ServerName: local})
	if err != nil || c == nil {
		return oc
	}
	leaf := leafOf(c)
	return ownCert{cert: c, names: leaf != nil && certNames(leaf, local)}
}

func leafOf(c *tls.Certificate) *x509.Certificate {
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}
