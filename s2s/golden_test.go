package s2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata")

// Golden transcripts of whole conversations, byte for byte on our side:
// C: is the initiating server, S: the receiving one. Random stream ids
// are replaced by ID. Run with -update after a deliberate change and
// review the diff.

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from %s (run go test -update and review the diff):\n%s", path, got)
	}
}

// recorder keeps what a reader returned.
type recorder struct {
	r   io.Reader
	buf *bytes.Buffer
}

func (r recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// scripted plays one side of a conversation and writes the transcript.
type scripted struct {
	t      *testing.T
	conn   net.Conn
	dec    *xmlstream.Decoder
	got    bytes.Buffer // read since the last line
	out    strings.Builder
	me     string // "S" or "C"
	peer   string
	scrubs []*regexp.Regexp
}

func newScripted(t *testing.T, conn net.Conn, me, peer string) *scripted {
	s := &scripted{t: t, conn: conn, me: me, peer: peer}
	s.dec = xmlstream.NewDecoder(recorder{conn, &s.got}, xmlstream.Limits{})
	s.scrubs = []*regexp.Regexp{regexp.MustCompile(`id='[0-9a-f]{24}'`)}
	return s
}

func (s *scripted) line(who, text string) {
	for _, re := range s.scrubs {
		text = re.ReplaceAllString(text, "id='ID'")
	}
	s.out.WriteString(who + ": " + text + "\n")
}

func (s *scripted) flush() {
	if s.got.Len() > 0 {
		s.line(s.peer, s.got.String())
		s.got.Reset()
	}
}

func (s *scripted) send(text string) {
	s.t.Helper()
	s.flush()
	s.line(s.me, text)
	if _, err := s.conn.Write([]byte(text)); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// next reads one event.
func (s *scripted) next() xmlstream.Event {
	s.t.Helper()
	ev, err := s.dec.Next()
	if err != nil {
		s.t.Fatalf("read: %v (transcript so far:\n%s)", err, s.out.String())
	}
	return ev
}

func (s *scripted) element(local string) {
	s.t.Helper()
	ev := s.next()
	if ev.Kind != xmlstream.Element || ev.Element.Name.Local != local {
		s.t.Fatalf("expected <%s/>, got %v %v", local, ev.Kind, ev.Element)
	}
}

func (s *scripted) header() {
	s.t.Helper()
	if ev := s.next(); ev.Kind != xmlstream.StreamOpen {
		s.t.Fatalf("expected a header, got %v", ev.Kind)
	}
}

// tls switches to TLS, as server or client.
func (s *scripted) tls(server bool, cert tls.Certificate, name string) {
	s.t.Helper()
	s.flush()
	s.out.WriteString("-- TLS --\n")
	var tc *tls.Conn
	if server {
		tc = tls.Server(s.conn, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
	} else {
		tc = tls.Client(s.conn, &tls.Config{Certificates: []tls.Certificate{cert}, ServerName: name, InsecureSkipVerify: true})
	}
	if err := tc.Handshake(); err != nil {
		s.t.Fatal(err)
	}
	s.conn = tc
	if err := s.dec.Reset(recorder{tc, &s.got}); err != nil {
		s.t.Fatal(err)
	}
}

const peerHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' from='b.test' to='a.test' version='1.0' id='`

// outboundScript runs a Server for a.test whose connection to b.test is a
// pipe to the script.
func outboundScript(t *testing.T, trusted bool, play func(s *scripted)) {
	w := newWorld(t)
	ours, theirs := net.Pipe()
	a := w.start("a.test", trusted, func(c *Config) {
		c.DialbackSecret = []byte("golden secret")
		c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) { return ours, nil }
	})
	w.res.m["b.test"] = []Target{{Host: "192.0.2.1", Port: 5269}}
	// Queued before the link exists, flushed once it is up.
	a.send(message("alice@a.test/r", "bob@b.test", "one"))
	a.send(presence("alice@a.test", "bob@b.test", "subscribe"))
	theirs.SetDeadline(time.Now().Add(10 * time.Second))
	s := newScripted(t, theirs, "S", "C")
	play(s)
	// The stanzas, then a clean close from our side.
	s.element("message")
	s.element("presence")
	s.send(`</stream:stream>`)
	if ev := s.next(); ev.Kind != xmlstream.StreamClose {
		t.Fatalf("expected the closing tag, got %v", ev.Kind)
	}
	s.flush()
	theirs.Close()
}

func TestGoldenOutboundExternal(t *testing.T) {
	var s *scripted
	outboundScript(t, true, func(sc *scripted) {
		s = sc
		cert := testPKI(t).cert(t, "b.test")
		s.header()
		s.send(peerHeader + `S1'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
		s.element("starttls")
		s.send(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		s.tls(true, cert, "")
		s.header()
		s.send(peerHeader + `S2'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>`)
		s.element("auth")
		s.send(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
		s.dec.Restart()
		s.header()
		s.send(peerHeader + `S3'><stream:features/>`)
	})
	checkGolden(t, "outbound-external", s.out.String())
}

func TestGoldenOutboundDialback(t *testing.T) {
	var s *scripted
	outboundScript(t, false, func(sc *scripted) {
		s = sc
		cert := testPKI(t).cert(t, "b.test")
		s.header()
		s.send(peerHeader + `S1'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
		s.element("starttls")
		s.send(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		s.tls(true, cert, "")
		s.header()
		s.send(peerHeader + `S2'><stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>`)
		s.element("result")
		// An unrelated answer first: it must be ignored (XEP-0220 3.1).
		s.send(`<db:result from='c.test' to='a.test' type='valid'/>`)
		s.send(`<db:result from='b.test' to='a.test' type='valid'/>`)
	})
	checkGolden(t, "outbound-dialback", s.out.String())
}

// TestGoldenInbound: what b.test says to an initiating server that does
// STARTTLS, SASL EXTERNAL, sends a stanza and closes; and on a second
// connection, answers db:verify.
func TestGoldenInbound(t *testing.T) {
	w := newWorld(t)
	b := w.start("b.test", true, func(c *Config) { c.DialbackSecret = []byte("golden secret") })
	conn, err := net.Dial("tcp", b.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	s := newScripted(t, conn, "C", "S")
	hdr := `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' xmlns:stream='http://etherx.jabber.org/streams' from='a.test' to='b.test' version='1.0'>`
	s.send(hdr)
	s.header()
	s.element("features")
	s.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	s.element("proceed")
	s.tls(false, w.pki.cert(t, "a.test"), "b.test")
	s.send(hdr)
	s.header()
	s.element("features")
	s.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>YS50ZXN0</auth>`)
	s.element("success")
	s.dec.Restart()
	s.send(hdr)
	s.header()
	s.element("features")
	s.send(`<message from='alice@a.test/r' to='bob@b.test' type='chat'><body>hi</body></message>`)
	b.router.wait(t, wait, "the message", hasBody("hi"))
	s.send(`<db:verify from='a.test' to='b.test' id='S1'>` + b.srv.dialbackKey("a.test", "b.test", "S1") + `</db:verify>`)
	s.element("verify")
	s.send(`<db:verify from='a.test' to='b.test' id='S1'>00</db:verify>`)
	s.element("verify")
	s.send(`</stream:stream>`)
	if ev := s.next(); ev.Kind != xmlstream.StreamClose {
		t.Fatalf("expected the closing tag, got %v", ev.Kind)
	}
	s.flush()
	checkGolden(t, "inbound-external", s.out.String())
}
