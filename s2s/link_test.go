package s2s

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

const wait = 10 * time.Second

func TestCertificateLink(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	b := w.start("b.test", true)

	a.send(message("alice@a.test/phone", "bob@b.test", "hello"))
	got := b.router.wait(t, wait, "the message at b", hasBody("hello"))
	if got.from != jid.MustParse("alice@a.test/phone") || got.to != jid.MustParse("bob@b.test") {
		t.Errorf("routed from %s to %s", got.from, got.to)
	}
	if got.st.Name.Space != stanza.NSClient || got.st.Child(stanza.NSClient, "body") == nil {
		t.Errorf("the stanza is not in jabber:client for the router: %s", got.st)
	}
	if got.st.Get("id") != "m-hello" || got.st.Get("type") != "chat" {
		t.Errorf("attributes lost: %s", got.st)
	}

	// The counter moves when the write returns, which may be after the
	// peer routed the stanza.
	eventually(t, wait, "Out = 1", func() bool { li, _ := a.link(Outbound, "b.test"); return li.Out == 1 })
	out, ok := a.link(Outbound, "b.test")
	if !ok || out.Auth != AuthCert || out.State != "ready" || out.Local != "a.test" || out.Out != 1 {
		t.Errorf("a's outbound link: %+v (found %v)", out, ok)
	}
	in, ok := b.link(Inbound, "a.test")
	if !ok || in.Auth != AuthCert || in.In != 1 || in.Local != "b.test" {
		t.Errorf("b's inbound link: %+v (found %v)", in, ok)
	}
	// And back: b opens its own link to a.
	b.send(message("bob@b.test", "alice@a.test/phone", "hi back"))
	a.router.wait(t, wait, "the answer at a", hasBody("hi back"))
	if li, _ := b.link(Outbound, "a.test"); li.Auth != AuthCert {
		t.Errorf("b's outbound link: %+v", li)
	}
}

func TestDialbackLink(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", false)
	b := w.start("b.test", false)

	a.send(message("alice@a.test", "bob@b.test", "over dialback"))
	got := b.router.wait(t, wait, "the message at b", hasBody("over dialback"))
	if got.from.String() != "alice@a.test" {
		t.Errorf("from %s", got.from)
	}
	if li, _ := a.link(Outbound, "b.test"); li.Auth != AuthDialback {
		t.Errorf("a's outbound link: %+v", li)
	}
	if li, _ := b.link(Inbound, "a.test"); li.Auth != AuthDialback {
		t.Errorf("b's inbound link: %+v", li)
	}
}

// TestDialbackAcceptedOnCertificate: a peer that does not use SASL
// EXTERNAL but presents a certificate valid for the domain it claims has
// its dialback key accepted without dialing back (XEP-0344 2.3).
func TestDialbackAcceptedOnCertificate(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", true)
	p := dialRaw(t, b.ln.Addr())
	p.open("a.test", "b.test")
	cert := w.pki.cert(t, "a.test")
	p.startTLS(&cert, "b.test")
	p.open("a.test", "b.test")
	p.send(`<db:result from='a.test' to='b.test'>not-a-real-key</db:result>`)
	el := p.next()
	if d, ok := parseDB(el); !ok || d.typ != "valid" || d.from != "b.test" || d.to != "a.test" {
		t.Fatalf("answer: %s", el)
	}
	p.send(`<message from='x@a.test' to='bob@b.test'><body>cert dialback</body></message>`)
	b.router.wait(t, wait, "the message", hasBody("cert dialback"))
	if li, _ := b.link(Inbound, "a.test"); li.Auth != AuthCert {
		t.Errorf("inbound: %+v", li)
	}
}

func TestRequireCertRefusesUntrustedPeer(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", false, func(c *Config) { c.RequireCert = true })
	w.start("b.test", false)

	a.send(message("alice@a.test/r", "bob@b.test", "nope"))
	got := a.router.wait(t, wait, "the bounce", isError(stanza.RemoteServerNotFound))
	if got.to != jid.MustParse("alice@a.test/r") || got.from != jid.MustParse("bob@b.test") {
		t.Errorf("bounce routed from %s to %s", got.from, got.to)
	}
	if got.st.Get("from") != "bob@b.test" || got.st.Get("to") != "alice@a.test/r" || got.st.Get("id") != "m-nope" {
		t.Errorf("bounce: %s", got.st)
	}
	if _, ok := a.link(Outbound, "b.test"); ok {
		t.Error("a failed link is still listed")
	}
}

// TestRequireCertInbound: b requires certificates and a's is not trusted:
// b refuses a's dialback key with <not-authorized/> rather than dialing
// back.
func TestRequireCertInboundRefusesDialback(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", false)
	w.start("b.test", false, func(c *Config) { c.RequireCert = true })
	a.send(message("alice@a.test", "bob@b.test", "refused"))
	// XEP-0220 2.1.1: a dialback error bounces with remote-server-timeout.
	a.router.wait(t, wait, "the bounce", isError(stanza.RemoteServerTimeout))
}

func TestResolverFailures(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	w.res.fail("gone.test", fmt.Errorf("looking up gone.test: %w", ErrNoService))
	w.res.fail("flaky.test", fmt.Errorf("looking up flaky.test: %w", ErrTemporary))

	a.send(message("alice@a.test", "x@gone.test", "to gone"))
	a.send(message("alice@a.test", "x@flaky.test", "to flaky"))
	a.router.wait(t, wait, "not-found", func(x routed) bool {
		return isError(stanza.RemoteServerNotFound)(x) && x.from.Domain() == "gone.test"
	})
	a.router.wait(t, wait, "timeout", func(x routed) bool {
		return isError(stanza.RemoteServerTimeout)(x) && x.from.Domain() == "flaky.test"
	})
}

// A server that refuses connections is not found (RFC 6120 8.3.3.15),
// for a subscription request too (RFC 6121 3.1.2); nothing is retried.
func TestConnectionRefusedIsNotFound(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	w.res.set("down.test", closedAddr(t), false)
	a.send(message("alice@a.test", "x@down.test", "refused"))
	a.send(presence("alice@a.test", "x@down.test", "subscribe"))
	a.router.wait(t, wait, "not-found", isError(stanza.RemoteServerNotFound))
	a.router.wait(t, wait, "the subscribe's error", isPresenceError(stanza.RemoteServerNotFound))
	eventually(t, wait, "the link gone", func() bool { _, ok := a.link(Outbound, "down.test"); return !ok })
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) net.Addr {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr()
	ln.Close()
	return addr
}

func presence(from, to, typ string) *stanza.Element {
	p := stanza.NewElement(stanza.NSClient, "presence").Set("from", from).Set("to", to)
	if typ != "" {
		p.Set("type", typ)
	}
	return p
}

// silentAddr is a loopback address that accepts connections and never
// answers: a stream setup to it times out.
func silentAddr(t testing.TB) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr()
}

func isPresenceError(cond stanza.Condition) func(routed) bool {
	return func(x routed) bool { return x.st.Name.Local == "presence" && isError(cond)(x) }
}

// TestSubscriptionTimeoutToldThenRetried: while b.test's server does not
// answer, the sender of a subscription stanza gets remote-server-timeout
// at once (RFC 6121 3.1.2), messages bounce, broadcast presence is
// dropped silently; the subscription stanzas are retried and arrive once
// b is up.
func TestSubscriptionTimeoutToldThenRetried(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true, func(c *Config) { c.SetupTimeout = 500 * time.Millisecond })
	w.res.set("b.test", silentAddr(t), false)

	a.send(presence("alice@a.test", "bob@b.test", "subscribe"))
	a.send(presence("alice@a.test/r", "bob@b.test", ""))
	a.send(message("alice@a.test", "bob@b.test", "early"))
	got := a.router.wait(t, wait, "the subscribe's error", isPresenceError(stanza.RemoteServerTimeout))
	if got.st.Get("type") != "error" || got.to.String() != "alice@a.test" || got.st.Get("from") != "bob@b.test" {
		t.Fatalf("error: %s to %s", got.st, got.to)
	}
	a.router.wait(t, wait, "the message bounce", func(x routed) bool {
		return x.st.Name.Local == "message" && isError(stanza.RemoteServerTimeout)(x)
	})
	eventually(t, wait, "a link in backoff", func() bool {
		li, ok := a.link(Outbound, "b.test")
		return ok && li.State == "backoff" && li.Queued == 1 && li.Failures >= 1
	})
	// While in backoff, a message and a subscription answer bounce at
	// once; the answer is kept for the retry too.
	a.send(message("alice@a.test", "bob@b.test", "during backoff"))
	a.send(presence("alice@a.test", "carol@b.test", "subscribed"))
	eventually(t, wait, "the errors during backoff", func() bool {
		return a.router.count(isError(stanza.RemoteServerTimeout)) == 4
	})

	b := w.start("b.test", true) // the resolver now points at it
	b.router.wait(t, wait, "the subscription at b", func(x routed) bool {
		return x.st.Name.Local == "presence" && x.st.Get("type") == "subscribe" && x.to.String() == "bob@b.test"
	})
	b.router.wait(t, wait, "the subscribed at b", func(x routed) bool {
		return x.st.Name.Local == "presence" && x.st.Get("type") == "subscribed"
	})
	if n := a.router.count(isPresenceError(stanza.RemoteServerTimeout)); n != 2 {
		t.Errorf("%d presence errors, want one per subscription stanza", n)
	}
	if n := b.router.count(func(x routed) bool { return x.st.Name.Local == "message" }); n != 0 {
		t.Errorf("%d bounced messages delivered anyway", n)
	}
}

// TestSubscriptionRetryExpires: a kept subscription stanza is dropped
// after SubscriptionRetry without a second error; its sender was told.
func TestSubscriptionRetryExpires(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true, func(c *Config) {
		c.SubscriptionRetry = 300 * time.Millisecond
		c.SetupTimeout = 200 * time.Millisecond
	})
	w.res.set("b.test", silentAddr(t), false)
	a.send(presence("alice@a.test", "bob@b.test", "subscribe"))
	a.router.wait(t, wait, "the subscribe's error", isPresenceError(stanza.RemoteServerTimeout))
	eventually(t, wait, "the link gone", func() bool { _, ok := a.link(Outbound, "b.test"); return !ok })
	if n := len(a.router.all()); n != 1 {
		t.Errorf("%d stanzas back to the sender, want the one error: %v", n, a.router.all())
	}
}

// TestSubscriptionToMissingDomain: every subscription stanza to a domain
// that does not exist (NXDOMAIN from a real DNS server) comes back at once
// as remote-server-not-found (RFC 6121 3.1.2, 3.2.2, 3.3.2; RFC 6120
// 8.3.3.15), and nothing waits for a retry.
func TestSubscriptionToMissingDomain(t *testing.T) {
	d := newTestDNS(t, "a.test. 300 IN A 127.0.0.1")
	w := newWorld(t)
	a := w.start("a.test", true, func(c *Config) { c.Resolver = newTestResolver(d.addr) })
	start := time.Now()
	for _, typ := range []string{"subscribe", "subscribed", "unsubscribe", "unsubscribed"} {
		a.send(presence("alice@a.test", "bob@nowhere.test", typ))
	}
	eventually(t, wait, "four errors", func() bool {
		return a.router.count(isPresenceError(stanza.RemoteServerNotFound)) == 4
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("errors took %v", took)
	}
	for _, x := range a.router.all() {
		if x.to.String() != "alice@a.test" || x.st.Get("from") != "bob@nowhere.test" {
			t.Errorf("error %s to %s", x.st, x.to)
		}
	}
	eventually(t, wait, "no link left", func() bool { _, ok := a.link(Outbound, "nowhere.test"); return !ok })
}

func TestQueuedStanzasFlushedInOrder(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	b := w.start("b.test", true)
	const n = 300
	for i := range n {
		a.send(message("alice@a.test", "bob@b.test", itoa(i)))
	}
	eventually(t, wait, "all messages", func() bool { return len(b.router.all()) >= n })
	for i, x := range b.router.all() {
		if body(x.st) != itoa(i) {
			t.Fatalf("message %d is %q", i, body(x.st))
		}
	}
	eventually(t, wait, "Out = n", func() bool { li, _ := a.link(Outbound, "b.test"); return li.Out == n })
}

func TestQueueFullBounces(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true, func(c *Config) { c.MaxQueue = 5 })
	// A listener that accepts and never answers: the link stays in setup.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w.res.set("slow.test", ln.Addr(), false)
	for i := range 8 {
		a.send(message("alice@a.test", "x@slow.test", itoa(i)))
	}
	eventually(t, wait, "three bounces", func() bool {
		return a.router.count(isError(stanza.ResourceConstraint)) == 3
	})
	if li, _ := a.link(Outbound, "slow.test"); li.State != "connecting" || li.Queued != 5 {
		t.Errorf("link: %+v", li)
	}
}

func TestSpoofedFromClosesOnlyThatStream(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	b := w.start("b.test", true)
	a.send(message("alice@a.test", "bob@b.test", "before"))
	b.router.wait(t, wait, "before", hasBody("before"))

	p := authed(t, w, b.ln.Addr(), "a.test", "b.test")
	p.send(`<message from='mallory@c.test' to='bob@b.test'><body>spoofed</body></message>`)
	p.expectStreamError(xmlstream.InvalidFrom)

	a.send(message("alice@a.test", "bob@b.test", "after"))
	b.router.wait(t, wait, "after", hasBody("after"))
	if b.router.count(hasBody("spoofed")) != 0 {
		t.Error("the spoofed stanza was routed")
	}
}

func TestForeignToIsHostUnknown(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", true)
	p := authed(t, w, b.ln.Addr(), "a.test", "b.test")
	p.send(`<message from='alice@a.test' to='x@c.test'><body>relay me</body></message>`)
	p.expectStreamError(xmlstream.HostUnknown)
	if n := len(b.router.all()); n != 0 {
		t.Errorf("%d stanzas routed", n)
	}
}

func TestMissingAddressesAreImproper(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", true)
	p := authed(t, w, b.ln.Addr(), "a.test", "b.test")
	p.send(`<message from='alice@a.test'><body>to whom?</body></message>`)
	p.expectStreamError(xmlstream.ImproperAddressing)
}

func TestGarbageClosesOnlyThatStream(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	b := w.start("b.test", true, func(c *Config) { c.Limits.MaxStanza = 4096 })
	a.send(message("alice@a.test", "bob@b.test", "before"))
	b.router.wait(t, wait, "before", hasBody("before"))

	p := authed(t, w, b.ln.Addr(), "a.test", "b.test")
	p.send(`<message from='alice@a.test' to='bob@b.test'><body>x</bod></message>`)
	p.expectStreamError(xmlstream.NotWellFormed)

	q := authed(t, w, b.ln.Addr(), "a.test", "b.test")
	q.send(`<message from='alice@a.test' to='bob@b.test'><body>` + strings.Repeat("x", 5000) + `</body></message>`)
	q.expectStreamError(xmlstream.PolicyViolation)

	// Before TLS too.
	r := dialRaw(t, b.ln.Addr())
	r.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='b.test' version='1.0'><!DOCTYPE x>`)
	r.expectStreamError(xmlstream.RestrictedXML)

	a.send(message("alice@a.test", "bob@b.test", "after"))
	b.router.wait(t, wait, "after", hasBody("after"))
}

// A peer over the rate is held back and loses nothing; one that stays
// over it for MaxThrottle is cut off.
func TestRateLimit(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", true, func(c *Config) { c.RateLimit = 10; c.RateBurst = 20; c.MaxThrottle = 500 * time.Millisecond })
	p := authed(t, w, b.ln.Addr(), "a.test", "b.test")
	var sb strings.Builder
	for i := range 100 {
		sb.WriteString(`<message from='alice@a.test' to='bob@b.test'><body>` + itoa(i) + `</body></message>`)
	}
	p.send(sb.String())
	p.expectStreamError(xmlstream.PolicyViolation)
	if n := len(b.router.all()); n < 20 || n > 30 {
		t.Errorf("%d stanzas got through a burst of 20 and half a second at 10/s", n)
	}
}

func TestRateLimitHoldsBackWithoutLoss(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", true, func(c *Config) { c.RateLimit = 200; c.RateBurst = 10; c.MaxThrottle = 10 * time.Second })
	p := authed(t, w, b.ln.Addr(), "a.test", "b.test")
	var sb strings.Builder
	for i := range 60 {
		sb.WriteString(`<message from='alice@a.test' to='bob@b.test'><body>` + itoa(i) + `</body></message>`)
	}
	p.send(sb.String())
	deadline := time.Now().Add(10 * time.Second)
	for len(b.router.all()) < 60 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(b.router.all()); n != 60 {
		t.Fatalf("%d of 60 stanzas delivered over a throttled stream", n)
	}
}

func TestStreamHeaderChecks(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", true)

	p := dialRaw(t, b.ln.Addr())
	p.send(streamHeader("a.test", "c.test", "jabber:server"))
	p.expectStreamError(xmlstream.HostUnknown)

	p = dialRaw(t, b.ln.Addr())
	p.send(streamHeader("a.test", "b.test", "jabber:client"))
	p.expectStreamError(xmlstream.InvalidNamespace)

	// Stanzas before TLS.
	p = dialRaw(t, b.ln.Addr())
	p.open("a.test", "b.test")
	p.send(`<message from='alice@a.test' to='bob@b.test'/>`)
	p.expectStreamError(xmlstream.NotAuthorized)

	// Dialback before TLS.
	p = dialRaw(t, b.ln.Addr())
	p.open("a.test", "b.test")
	p.send(`<db:result from='a.test' to='b.test'>k</db:result>`)
	p.expectStreamError(xmlstream.PolicyViolation)

	// Stanzas after TLS but before authentication.
	p = dialRaw(t, b.ln.Addr())
	p.open("a.test", "b.test")
	p.startTLS(nil, "b.test")
	f := p.open("a.test", "b.test")
	if f.Child(nsSASL, "mechanisms") != nil {
		t.Errorf("EXTERNAL offered without a certificate: %s", f)
	}
	if f.Child(nsDialbackFeature, "dialback") == nil {
		t.Errorf("no dialback feature: %s", f)
	}
	p.send(`<message from='alice@a.test' to='bob@b.test'/>`)
	p.expectStreamError(xmlstream.InvalidFrom)
}

func TestVerifyAnswers(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", true)
	p := dialRaw(t, b.ln.Addr())
	p.open("a.test", "b.test")
	p.startTLS(nil, "b.test")
	p.open("a.test", "b.test")

	check := func(req, wantType string, wantCond stanza.Condition) {
		t.Helper()
		p.send(req)
		el := p.next()
		d, ok := parseDB(el)
		if !ok || !d.verify || d.typ != wantType || d.cond != wantCond || d.id != "S1" || d.to != "a.test" {
			t.Errorf("%s\n  answered %s", req, el)
		}
	}
	check(`<db:verify from='a.test' to='b.test' id='S1'>0123456789abcdef</db:verify>`, "invalid", "")
	key := b.srv.dialbackKey("a.test", "b.test", "S1")
	check(`<db:verify from='a.test' to='b.test' id='S1'>`+key+`</db:verify>`, "valid", "")
	check(`<db:verify from='a.test' to='b.test' id='S1'> `+key+"\n</db:verify>", "valid", "")
	// The key is bound to the stream id and to both domains.
	check(`<db:verify from='a.test' to='b.test' id='S1'>`+b.srv.dialbackKey("a.test", "b.test", "S2")+`</db:verify>`, "invalid", "")
	p.send(`<db:verify from='a.test' to='c.test' id='S1'>` + key + `</db:verify>`)
	if d, _ := parseDB(p.next()); d.typ != "error" || d.cond != stanza.ItemNotFound || d.from != "c.test" {
		t.Errorf("unknown domain: %+v", d)
	}
	// An unsolicited answer is ignored; the stream lives on.
	p.send(`<db:result from='a.test' to='b.test' type='valid'/>`)
	check(`<db:verify from='a.test' to='b.test' id='S1'>`+key+`</db:verify>`, "valid", "")
}

// TestForgedDialbackKey: a server claims a.test with a key a.test's
// authoritative server does not recognise: b dials back, learns "invalid",
// answers "invalid" and closes the stream.
func TestForgedDialbackKey(t *testing.T) {
	w := newWorld(t)
	w.start("a.test", false)
	b := w.start("b.test", false)
	p := dialRaw(t, b.ln.Addr())
	p.open("a.test", "b.test")
	p.startTLS(nil, "b.test")
	p.open("a.test", "b.test")
	p.send(`<db:result from='a.test' to='b.test'>` + strings.Repeat("ab", 32) + `</db:result>`)
	el := p.next()
	if d, ok := parseDB(el); !ok || d.typ != "invalid" {
		t.Fatalf("answer: %s", el)
	}
	if ev, err := p.dec.Next(); err == nil && ev.Kind != xmlstream.StreamClose {
		t.Errorf("the stream goes on: %v", ev.Kind)
	}
	if _, ok := b.link(Inbound, "a.test"); ok {
		t.Error("a.test authenticated on a forged key")
	}
}

func TestDialbackUnknownTarget(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", false)
	p := dialRaw(t, b.ln.Addr())
	p.open("a.test", "b.test")
	p.startTLS(nil, "b.test")
	p.open("a.test", "b.test")
	p.send(`<db:result from='a.test' to='c.test'>k</db:result>`)
	if d, _ := parseDB(p.next()); d.typ != "error" || d.cond != stanza.ItemNotFound {
		t.Errorf("answer: %+v", d)
	}
	// a.test cannot be reached to verify: remote-server-not-found.
	p.send(`<db:result from='a.test' to='b.test'>k</db:result>`)
	if d, _ := parseDB(p.next()); d.typ != "error" || d.cond != stanza.RemoteServerNotFound {
		t.Errorf("answer: %+v", d)
	}
}

func TestIdleLinksCloseAndReopen(t *testing.T) {
	w := newWorld(t)
	idle := func(c *Config) { c.IdleTimeout = 300 * time.Millisecond }
	a := w.start("a.test", true, idle)
	b := w.start("b.test", true, idle)
	a.send(message("alice@a.test", "bob@b.test", "one"))
	b.router.wait(t, wait, "one", hasBody("one"))
	eventually(t, wait, "both ends closed", func() bool {
		_, out := a.link(Outbound, "b.test")
		return !out && len(b.srv.Links()) == 0
	})
	a.send(message("alice@a.test", "bob@b.test", "two"))
	b.router.wait(t, wait, "two", hasBody("two"))
	eventually(t, wait, "a new link with Out = 1", func() bool { li, ok := a.link(Outbound, "b.test"); return ok && li.Out == 1 })
}

// TestLinkDropReconnects: the peer goes away with stanzas queued behind a
// dead connection: they go out on a new one.
func TestPeerRestartReconnects(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	b := w.start("b.test", true)
	a.send(message("alice@a.test", "bob@b.test", "one"))
	b.router.wait(t, wait, "one", hasBody("one"))
	// b kicks every inbound stream; a's link goes down.
	for _, c := range b.srv.streams.List() {
		c.kick(xmlstream.NewError(xmlstream.Reset, ""))
	}
	eventually(t, wait, "a's link down", func() bool { _, ok := a.link(Outbound, "b.test"); return !ok })
	a.send(message("alice@a.test", "bob@b.test", "two"))
	b.router.wait(t, wait, "two", hasBody("two"))
}

func TestDirectTLS(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	b := w.start("b.test", true)
	w.res.set("b.test", b.lnTLS.Addr(), true)
	a.send(message("alice@a.test", "bob@b.test", "direct"))
	b.router.wait(t, wait, "direct", hasBody("direct"))
	if li, _ := a.link(Outbound, "b.test"); li.Auth != AuthCert {
		t.Errorf("link: %+v", li)
	}

	// XEP-0368: ALPN xmpp-server.
	tc, err := tls.Dial("tcp", b.lnTLS.Addr().String(), &tls.Config{
		ServerName: "b.test", InsecureSkipVerify: true, NextProtos: []string{"xmpp-server"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if p := tc.ConnectionState().NegotiatedProtocol; p != "xmpp-server" {
		t.Errorf("ALPN: %q", p)
	}
	// And another protocol is refused.
	if c, err := tls.Dial("tcp", b.lnTLS.Addr().String(), &tls.Config{
		ServerName: "b.test", InsecureSkipVerify: true, NextProtos: []string{"xmpp-client"},
	}); err == nil {
		c.Close()
		t.Error("ALPN xmpp-client accepted on the server port")
	}
}

func TestShutdownBouncesWaiting(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w.res.set("slow.test", ln.Addr(), false)
	a.send(message("alice@a.test", "x@slow.test", "waiting"))
	eventually(t, wait, "the link", func() bool { _, ok := a.link(Outbound, "slow.test"); return ok })
	start := time.Now()
	shutdown(t, a.srv)
	if time.Since(start) > 2*time.Second {
		t.Errorf("Shutdown took %v", time.Since(start))
	}
	if a.router.count(isError(stanza.RemoteServerTimeout)) != 1 {
		t.Errorf("routed: %v", a.router.all())
	}
	// Send after Shutdown bounces.
	a.send(message("alice@a.test", "x@slow.test", "late"))
	if a.router.count(isError(stanza.RemoteServerTimeout)) != 2 {
		t.Errorf("routed: %v", a.router.all())
	}
}

func shutdown(t testing.TB, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestSendIgnoresNonRemotePairs(t *testing.T) {
	w := newWorld(t)
	a := w.start("a.test", true)
	a.send(message("alice@a.test", "bob@a.test", "local"))
	a.send(message("alice@z.test", "bob@b.test", "not ours"))
	if n := len(a.srv.Links()); n != 0 {
		t.Errorf("%d links", n)
	}
}
