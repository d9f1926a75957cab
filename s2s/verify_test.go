package s2s

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"
)

func TestMatchDNS(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"example.com", "example.com", true},
		{"Example.COM.", "example.com", true},
		{"example.com", "www.example.com", false},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.com", "example.com", false},
		{"w*.example.com", "www.example.com", false},
		{"www.*.com", "www.example.com", false},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
	} {
		if got := matchDNS(tc.pattern, tc.host); got != tc.want {
			t.Errorf("matchDNS(%q, %q) = %v", tc.pattern, tc.host, got)
		}
	}
}

// otherName builds a subjectAltName otherName entry (RFC 5280 4.2.1.6).
func otherName(t testing.TB, oid asn1.ObjectIdentifier, tag int, value string) asn1.RawValue {
	str, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: str})
	if err != nil {
		t.Fatal(err)
	}
	o, err := asn1.Marshal(oid)
	if err != nil {
		t.Fatal(err)
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(o, explicit...)}
}

func TestCertNames(t *testing.T) {
	p := testPKI(t)
	dns := func(n ...string) *x509.Certificate { c := p.issue(t, n, nil, nil); return c.Leaf }
	san := func(names ...asn1.RawValue) *x509.Certificate {
		v, err := asn1.Marshal(names)
		if err != nil {
			t.Fatal(err)
		}
		c := p.issue(t, nil, nil, []pkix.Extension{{Id: oidSAN, Value: v}})
		return c.Leaf
	}
	xmppOnly := san(otherName(t, oidXmppAddr, asn1.TagUTF8String, "xmpp.example"))
	srvOnly := san(otherName(t, oidSRVName, asn1.TagIA5String, "_xmpp-server.srv.example"),
		otherName(t, oidSRVName, asn1.TagIA5String, "_xmpp-client.client.example"))
	idn := dns("xn--bcher-kva.example")
	for _, tc := range []struct {
		name   string
		leaf   *x509.Certificate
		domain string
		want   bool
	}{
		{"dns", dns("a.example"), "a.example", true},
		{"dns other", dns("a.example"), "b.example", false},
		{"wildcard", dns("*.a.example"), "conference.a.example", true},
		{"wildcard not apex", dns("*.a.example"), "a.example", false},
		{"xmppaddr", xmppOnly, "xmpp.example", true},
		{"xmppaddr other", xmppOnly, "other.example", false},
		{"srv-id", srvOnly, "srv.example", true},
		{"srv-id of another service", srvOnly, "client.example", false},
		{"idn", idn, "bücher.example", true},
	} {
		if got := certNames(tc.leaf, tc.domain); got != tc.want {
			t.Errorf("%s: certNames(%v, %q) = %v", tc.name, tc.leaf.DNSNames, tc.domain, got)
		}
	}
}

func TestVerifyPeer(t *testing.T) {
	p := testPKI(t)
	now := time.Now()
	serverOnly := p.cert(t, "a.test")
	clientOnly := p.cert(t, "b.test")
	for _, c := range []tls.Certificate{serverOnly, clientOnly} {
		if err := verifyPeer([]*x509.Certificate{c.Leaf}, c.Leaf.DNSNames[0], p.pool, now); err != nil {
			t.Errorf("%v: %v", c.Leaf.ExtKeyUsage, err)
		}
	}
	if err := verifyPeer([]*x509.Certificate{serverOnly.Leaf}, "b.test", p.pool, now); err == nil {
		t.Error("a.test's certificate accepted for b.test")
	}
	if err := verifyPeer([]*x509.Certificate{serverOnly.Leaf}, "a.test", x509.NewCertPool(), now); err == nil {
		t.Error("an untrusted chain accepted")
	}
	if err := verifyPeer([]*x509.Certificate{serverOnly.Leaf}, "a.test", p.pool, now.Add(48*time.Hour)); err == nil {
		t.Error("an expired certificate accepted")
	}
	if err := verifyPeer(nil, "a.test", p.pool, now); err == nil {
		t.Error("no certificate accepted")
	}
}

func TestPickCert(t *testing.T) {
	p := testPKI(t)
	other := p.issue(t, []string{"other.test"}, nil, nil)
	a := p.cert(t, "a.test")
	cfg := &tls.Config{Certificates: []tls.Certificate{other, a}}
	if oc := pickCert(cfg, "a.test"); !oc.names || oc.cert.Leaf != a.Leaf {
		t.Errorf("a.test: %+v", oc)
	}
	if oc := pickCert(cfg, "z.test"); oc.names || oc.cert.Leaf != other.Leaf {
		t.Errorf("z.test: %+v", oc)
	}
}
