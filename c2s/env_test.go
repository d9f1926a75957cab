package c2s

// The test environment: a real Server on real loopback listeners with a real
// TLS configuration, a real delivery.Router, Registry and Service, and small
// in-memory stand-ins for the account store and the offline queue (the two
// collaborators that live in consensus in the daemon).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/disco"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

const (
	testDomain   = "localhost"
	testPassword = "wherefore-art-thou"
)

// testCert is a self-signed ECDSA P-256 certificate for "localhost",
// generated once per test binary.
var testCert = sync.OnceValue(func() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: testDomain},
		DNSNames:              []string{testDomain},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
})

// testRoots trusts testCert, so that clients verify the server for real.
// The client process of BenchmarkIdleSessionMemory is given the parent's
// certificate instead.
var testRoots = sync.OnceValue(func() *x509.CertPool {
	p := x509.NewCertPool()
	if s := os.Getenv(envIdleCert); s != "" {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			panic(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		p.AddCert(cert)
		return p
	}
	p.AddCert(testCert().Leaf)
	return p
})

// testCreds are the SCRAM credentials for testPassword. Every test account
// shares them: deriving them costs two PBKDF2 runs.
var testCreds = sync.OnceValue(func() sasl.Credentials {
	c, err := sasl.NewCredentials(testPassword, 0, nil)
	if err != nil {
		panic(err)
	}
	return c
})

// accounts is the in-test account store: delivery.Accounts and, through
// lookup, c2s.Credentials.
type accounts struct {
	mu    sync.RWMutex
	users map[string]bool // localparts in testDomain
}

func newAccounts(users ...string) *accounts {
	a := &accounts{users: map[string]bool{}}
	for _, u := range users {
		a.users[u] = true
	}
	return a
}

func (a *accounts) add(user string) {
	a.mu.Lock()
	a.users[user] = true
	a.mu.Unlock()
}

// Exists implements delivery.Accounts.
func (a *accounts) Exists(bare jid.JID) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return bare.Domain() == testDomain && a.users[bare.Local()]
}

// lookup is the c2s.Credentials of the store.
func (a *accounts) lookup(domain, user string) (sasl.Credentials, error) {
	a.mu.RLock()
	ok := domain == testDomain && a.users[user]
	a.mu.RUnlock()
	if !ok {
		return sasl.Credentials{}, fmt.Errorf("accounts: %s@%s: %w", user, domain, sasl.ErrNoSuchUser)
	}
	return testCreds(), nil
}

// offlineStore is the in-test offline queue: delivery.Offline on the
// router's side and c2s.OfflineQueue on the session's.
type offlineStore struct {
	mu    sync.Mutex
	seq   uint64
	msgs  map[jid.JID][]Stored
	acked map[jid.JID]uint64
}

// storedAt is the time every stored message claims, so that the delay stamp
// can be checked exactly.
var storedAt = time.Date(2024, 2, 14, 21, 30, 5, 123e6, time.UTC)

func newOfflineStore() *offlineStore {
	return &offlineStore{msgs: map[jid.JID][]Stored{}, acked: map[jid.JID]uint64{}}
}

// Store implements delivery.Offline.
func (o *offlineStore) Store(to jid.JID, st *stanza.Element) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	// The router may share st with other recipients: keep a copy.
	o.msgs[to.Bare()] = append(o.msgs[to.Bare()], Stored{Seq: o.seq, Stanza: st.Copy(), At: storedAt})
	return nil
}

// Pending implements OfflineQueue.
func (o *offlineStore) Pending(bare jid.JID) ([]Stored, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Stored
	for _, m := range o.msgs[bare] {
		out = append(out, Stored{Seq: m.Seq, Stanza: m.Stanza.Copy(), At: m.At})
	}
	return out, nil
}

// Ack implements OfflineQueue.
func (o *offlineStore) Ack(bare jid.JID, upTo uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	list := o.msgs[bare]
	for len(list) > 0 && list[0].Seq <= upTo {
		list = list[1:]
	}
	o.msgs[bare] = list
	o.acked[bare] = upTo
	return nil
}

func (o *offlineStore) state(bare jid.JID) (pending int, acked uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs[bare]), o.acked[bare]
}

// env is one running server and its collaborators.
type env struct {
	srv      *Server
	router   *delivery.Router
	accounts *accounts
	offline  *offlineStore
	addr     string // the STARTTLS listener
	tlsAddr  string // the direct TLS listener (XEP-0368)
}

// testLog discards server logs unless HERALD_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("HERALD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newEnv starts a server for testDomain with the accounts juliet, romeo,
// nurse and tybalt. mod adjusts the configuration before the server is
// built. The server is shut down when the test ends.
func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	log := testLog()
	accts := newAccounts("juliet", "romeo", "nurse", "tybalt")
	off := newOfflineStore()
	router := &delivery.Router{
		Domains:  map[string]bool{testDomain: true},
		Registry: delivery.NewRegistry(),
		Accounts: accts,
		Offline:  off,
		Services: delivery.NewMux().Add(&disco.Disco{Name: "Herald"}, disco.Ping{}, disco.Version{Name: "Herald", Version: "test"}),
		Log:      log,
	}
	cfg := Config{
		Domains:     []string{testDomain},
		TLS:         &tls.Config{Certificates: []tls.Certificate{testCert()}, MinVersion: tls.VersionTLS12},
		Credentials: accts.lookup,
		Router:      router,
		Offline:     off,
		Log:         log,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, router: router, accounts: accts, offline: off}
	var wg sync.WaitGroup
	for _, direct := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if direct {
			e.tlsAddr = ln.Addr().String()
		} else {
			e.addr = ln.Addr().String()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve(ln, direct)
		}()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		wg.Wait()
		if n := srv.Sessions(); n != 0 {
			t.Errorf("%d sessions left after Shutdown", n)
		}
	})
	return e
}

// errTimeout reports whether err is a deadline expiring.
func errTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
