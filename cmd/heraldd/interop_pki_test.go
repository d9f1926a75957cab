package main

// The interop tests' throwaway PKI: a CA and leaves for test domains,
// written as PEM files for Prosody, heraldd and slixmpp to read.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority; its certificate is in File.
type testCA struct {
	File string
	dir  string
	name string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func randomSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// newTestCA makes a CA named name and writes its certificate to dir.
func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Herald interop tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{File: filepath.Join(dir, name+".crt"), dir: dir, name: name, cert: cert, key: key}
	writePEM(t, ca.File, "CERTIFICATE", der, 0o644)
	return ca
}

// leaf is a certificate and key on disk.
type leaf struct{ Cert, Key string }

// issue makes a leaf for domain with SAN DNS:domain and DNS:*.domain. With
// clientAuth its ExtKeyUsage is serverAuth+clientAuth, as XMPP servers
// need when they present it on outgoing s2s connections; without, it is
// serverAuth only, as public CAs issue them today.
func (ca *testCA) issue(t *testing.T, domain string, clientAuth bool) leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	suffix := "-server"
	if clientAuth {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
		suffix = ""
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: domain},
		DNSNames:     []string{domain, "*." + domain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(ca.dir, domain+suffix+"."+ca.name)
	l := leaf{Cert: base + ".crt", Key: base + ".key"}
	writePEM(t, l.Cert, "CERTIFICATE", der, 0o644)
	writePEM(t, l.Key, "PRIVATE KEY", kder, 0o600)
	return l
}

func writePEM(t *testing.T, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}
