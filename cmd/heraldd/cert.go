package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// loadCertificate returns the configured certificate, or the self-signed
// one kept in dataDir, making it at first start. generated reports
// whether it is the self-signed one.
func loadCertificate(certFile, keyFile, dataDir string, domains []string) (cert tls.Certificate, path string, generated bool, err error) {
	if certFile != "" {
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return cert, "", false, fmt.Errorf("loading tls.cert %s and tls.key %s: %w", certFile, keyFile, err)
		}
		return cert, certFile, false, nil
	}
	certFile = filepath.Join(dataDir, "tls", "selfsigned.crt")
	keyFile = filepath.Join(dataDir, "tls", "selfsigned.key")
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil && covers(cert, domains) {
		return cert, certFile, true, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return cert, "", false, fmt.Errorf("loading the self-signed certificate in %s: %w", filepath.Dir(certFile), err)
	}
	if err := makeSelfSigned(certFile, keyFile, domains); err != nil {
		return cert, "", false, err
	}
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	return cert, certFile, true, err
}

// covers reports whether the certificate names every domain.
func covers(cert tls.Certificate, domains []string) bool {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return false
	}
	for _, d := range domains {
		if leaf.VerifyHostname(d) != nil {
			return false
		}
	}
	return time.Now().Before(leaf.NotAfter)
}

func makeSelfSigned(certFile, keyFile string, domains []string) error {
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	var names []string
	for _, d := range domains {
		// XEP-0178 / RFC 6125: the domain and its subdomains.
		names = append(names, d, "*."+d)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: domains[0], Organization: []string{"Herald self-signed"}},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// fingerprint is the SHA-256 of the leaf, as clients show it when asking
// the user to trust a certificate.
func fingerprint(cert tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	return hex.EncodeToString(sum[:])
}
