package s2s

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// The test world: a CA made in the test, leaf certificates for a.test and
// b.test (SAN DNS:x and *.x), Server instances on 127.0.0.1:0, a resolver
// that maps each domain to a listener, and routers that record.

type pki struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	pool  *x509.CertPool
	mu    sync.Mutex
	certs map[string]tls.Certificate
}

var (
	pkiOnce   sync.Once
	sharedPKI *pki
)

// testPKI is one CA for the whole test binary (key generation is the slow
// part of TLS tests).
func testPKI(t testing.TB) *pki {
	pkiOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "Herald test CA"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(der)
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		sharedPKI = &pki{ca: ca, key: key, pool: pool, certs: map[string]tls.Certificate{}}
	})
	return sharedPKI
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 100}

// issue makes a leaf for the given SANs and extended key usages; extra
// replaces the SAN extension when set.
func (p *pki) issue(t testing.TB, dns []string, eku []x509.ExtKeyUsage, extra []pkix.Extension) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial.Lock()
	serial.n++
	n := serial.n
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(n),
		Subject:         pkix.Name{CommonName: "leaf"},
		NotBefore:       time.Now().Add(-time.Hour),
		NotAfter:        time.Now().Add(24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     eku,
		DNSNames:        dns,
		ExtraExtensions: extra,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// cert is the certificate for a test domain: a.test carries serverAuth
// only and b.test clientAuth only, so every test also shows that the
// extended key usage does not matter (they are used both ways).
func (p *pki) cert(t testing.TB, domain string) tls.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.certs[domain]; ok {
		return c
	}
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if domain == "b.test" {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	c := p.issue(t, []string{domain, "*." + domain}, eku, nil)
	p.certs[domain] = c
	return c
}

// fakeResolver maps domains to targets, or to errors.
type fakeResolver struct {
	mu   sync.Mutex
	m    map[string][]Target
	errs map[string]error
}

func newResolver() *fakeResolver {
	return &fakeResolver{m: map[string][]Target{}, errs: map[string]error{}}
}

func (r *fakeResolver) Resolve(ctx context.Context, domain string) ([]Target, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.errs[domain]; err != nil {
		return nil, err
	}
	if t, ok := r.m[domain]; ok {
		return t, nil
	}
	return nil, ErrNoService
}

func (r *fakeResolver) set(domain string, addr net.Addr, direct bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ta := addr.(*net.TCPAddr)
	r.m[domain] = []Target{{Host: ta.IP.String(), Port: uint16(ta.Port), DirectTLS: direct}}
	delete(r.errs, domain)
}

func (r *fakeResolver) fail(domain string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[domain] = err
}

type routed struct {
	st       *stanza.Element
	from, to jid.JID
}

// recRouter records what a server routes. Every 'to' must be local: s2s
// never relays to a third domain.
type recRouter struct {
	t       testing.TB
	domains map[string]bool
	mu      sync.Mutex
	got     []routed
	signal  chan struct{}
}

func newRecRouter(t testing.TB, domains ...string) *recRouter {
	r := &recRouter{t: t, domains: map[string]bool{}, signal: make(chan struct{}, 1)}
	for _, d := range domains {
		r.domains[d] = true
	}
	return r
}

func (r *recRouter) Route(st *stanza.Element, from, to jid.JID) {
	if !r.domains[to.Domain()] {
		r.t.Errorf("s2s routed a stanza to a foreign domain: from %s to %s: %s", from, to, st)
	}
	r.mu.Lock()
	r.got = append(r.got, routed{st, from, to})
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recRouter) all() []routed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]routed(nil), r.got...)
}

// wait returns the first recorded stanza pred accepts, waiting up to d.
func (r *recRouter) wait(t testing.TB, d time.Duration, what string, pred func(routed) bool) routed {
	t.Helper()
	deadline := time.After(d)
	for {
		for _, x := range r.all() {
			if pred(x) {
				return x
			}
		}
		select {
		case <-r.signal:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; routed: %v", what, r.all())
		}
	}
}

func (r *recRouter) count(pred func(routed) bool) int {
	n := 0
	for _, x := range r.all() {
		if pred(x) {
			n++
		}
	}
	return n
}

func body(st *stanza.Element) string {
	if b := st.Child("", "body"); b != nil {
		return b.Text()
	}
	return ""
}

func hasBody(s string) func(routed) bool {
	return func(x routed) bool { return x.st.Get("type") != "error" && body(x.st) == s }
}

func isError(cond stanza.Condition) func(routed) bool {
	return func(x routed) bool {
		if x.st.Get("type") != "error" {
			return false
		}
		e := x.st.Child("", "error")
		return e != nil && e.Child(stanza.NSStanzas, string(cond)) != nil
	}
}

// node is one Server with its listeners.
type node struct {
	domain string
	srv    *Server
	router *recRouter
	ln     net.Listener // STARTTLS
	lnTLS  net.Listener // direct TLS
	secret []byte
}

type world struct {
	t   testing.TB
	pki *pki
	res *fakeResolver
}

func newWorld(t testing.TB) *world {
	return &world{t: t, pki: testPKI(t), res: newResolver()}
}

func testLogger() *slog.Logger {
	if os.Getenv("S2S_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// start runs a server for domain. trusted: its RootCAs hold the test CA.
// The resolver maps domain to the new STARTTLS listener.
func (w *world) start(domain string, trusted bool, opts ...func(*Config)) *node {
	t := w.t
	cert := w.pki.cert(t, domain)
	roots := x509.NewCertPool() // trusts nothing
	if trusted {
		roots = w.pki.pool
	}
	n := &node{domain: domain, router: newRecRouter(t, domain), secret: []byte("secret of " + domain)}
	cfg := Config{
		Domains:        []string{domain},
		TLS:            &tls.Config{Certificates: []tls.Certificate{cert}},
		RootCAs:        roots,
		Resolver:       w.res,
		DialbackSecret: n.secret,
		Router:         n.router,
		ConnectTimeout: 2 * time.Second,
		SetupTimeout:   5 * time.Second,
		Log:            testLogger().With("node", domain),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.retryMin = 50 * time.Millisecond
	srv.closeWait = time.Second
	n.srv = srv
	if n.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if n.lnTLS, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(n.ln, false)
	go srv.Serve(n.lnTLS, true)
	w.res.set(domain, n.ln.Addr(), false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("%s: Shutdown: %v", domain, err)
		}
	})
	return n
}

func message(from, to, text string) *stanza.Element {
	m := stanza.NewElement(stanza.NSClient, "message").Set("from", from).Set("to", to).Set("type", "chat").Set("id", "m-"+text)
	return m.Append(stanza.NewElement(stanza.NSClient, "body").AppendText(text))
}

// send is Send with parsed addresses taken from the stanza.
func (n *node) send(st *stanza.Element) {
	n.srv.Send(st, jid.MustParse(st.Get("from")), jid.MustParse(st.Get("to")))
}

// link returns the LinkInfo for a direction and remote, if any.
func (n *node) link(dir Direction, remote string) (LinkInfo, bool) {
	for _, li := range n.srv.Links() {
		if li.Direction == dir && li.Remote == remote && li.State != "negotiating" {
			return li, true
		}
	}
	return LinkInfo{}, false
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawPeer is a hand-driven server-to-server client, for what a Server
// would never send.
type rawPeer struct {
	t    testing.TB
	raw  net.Conn
	conn net.Conn
	dec  *xmlstream.Decoder
	hdr  xmlstream.Header
}

func dialRaw(t testing.TB, addr net.Addr) *rawPeer {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawPeer{t: t, raw: c, conn: c, dec: xmlstream.NewDecoder(c, xmlstream.Limits{})}
}

func (p *rawPeer) send(s string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(s)); err != nil {
		p.t.Fatalf("raw write: %v", err)
	}
}

func streamHeader(from, to, ns string) string {
	h := `<?xml version='1.0'?><stream:stream xmlns='` + ns + `' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' to='` + to + `' version='1.0'`
	if from != "" {
		h += ` from='` + from + `'`
	}
	return h + `>`
}

// open sends a header and returns the features.
func (p *rawPeer) open(from, to string) *stanza.Element {
	p.t.Helper()
	p.send(streamHeader(from, to, "jabber:server"))
	ev, err := p.dec.Next()
	if err != nil || ev.Kind != xmlstream.StreamOpen {
		p.t.Fatalf("raw: expected a header, got %v %v", ev.Kind, err)
	}
	p.hdr = ev.Header
	return p.next()
}

func (p *rawPeer) next() *stanza.Element {
	p.t.Helper()
	ev, err := p.dec.Next()
	if err != nil {
		p.t.Fatalf("raw: read: %v", err)
	}
	if ev.Kind != xmlstream.Element {
		p.t.Fatalf("raw: expected an element, got %v", ev.Kind)
	}
	return ev.Element
}

// startTLS negotiates STARTTLS presenting cert (nil: none).
func (p *rawPeer) startTLS(cert *tls.Certificate, serverName string) {
	p.t.Helper()
	p.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := p.next(); el.Name.Local != "proceed" {
		p.t.Fatalf("raw: STARTTLS: %s", el)
	}
	cfg := &tls.Config{ServerName: serverName, InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(p.raw, cfg)
	if err := tc.Handshake(); err != nil {
		p.t.Fatalf("raw: TLS: %v", err)
	}
	p.conn = tc
	if err := p.dec.Reset(tc); err != nil {
		p.t.Fatal(err)
	}
}

// authed returns a raw stream to addr authenticated as from by SASL
// EXTERNAL with from's test certificate.
func authed(t testing.TB, w *world, addr net.Addr, from, to string) *rawPeer {
	t.Helper()
	p := dialRaw(t, addr)
	p.open(from, to)
	cert := w.pki.cert(t, from)
	p.startTLS(&cert, to)
	f := p.open(from, to)
	if m := f.Child(nsSASL, "mechanisms"); m == nil || m.Child(nsSASL, "mechanism") == nil {
		t.Fatalf("raw: no EXTERNAL offered: %s", f)
	}
	p.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>` + base64.StdEncoding.EncodeToString([]byte(from)) + `</auth>`)
	if el := p.next(); el.Name.Local != "success" {
		t.Fatalf("raw: EXTERNAL: %s", el)
	}
	p.dec.Restart()
	p.open(from, to)
	return p
}

// expectStreamError reads until a stream error and checks its condition,
// then that the stream ends.
func (p *rawPeer) expectStreamError(cond xmlstream.Condition) {
	p.t.Helper()
	for {
		ev, err := p.dec.Next()
		if err != nil {
			p.t.Fatalf("raw: expected <%s/>, got %v", cond, err)
		}
		if ev.Kind == xmlstream.StreamOpen {
			continue // the server's header comes first (RFC 6120 4.9.1.2)
		}
		if ev.Kind != xmlstream.Element {
			p.t.Fatalf("raw: expected <%s/>, got %v", cond, ev.Kind)
		}
		if se := xmlstream.ParseStreamError(ev.Element); se != nil {
			if se.Condition != cond {
				p.t.Fatalf("raw: stream error %s (%s), want %s", se.Condition, se.Text, cond)
			}
			break
		}
	}
	ev, err := p.dec.Next()
	if err == nil && ev.Kind != xmlstream.StreamClose {
		p.t.Fatalf("raw: after the stream error: %v", ev.Kind)
	}
	// The connection is closed by the server.
	p.raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(p.conn); err != nil && !isClosedErr(err) {
		p.t.Fatalf("raw: connection not closed: %v", err)
	}
}

func isClosedErr(err error) bool {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

func itoa(i int) string { return strconv.Itoa(i) }
