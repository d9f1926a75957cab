package component

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

type routed struct {
	st       *stanza.Element
	from, to jid.JID
	err      *stanza.Error
}

type fakeRouter struct {
	got chan routed
}

func (r *fakeRouter) Route(st *stanza.Element, from, to jid.JID) {
	r.got <- routed{st: st, from: from, to: to}
}

func (r *fakeRouter) Bounce(st *stanza.Element, from jid.JID, err *stanza.Error) {
	r.got <- routed{st: st, from: from, err: err}
}

const secret = "s3cret"

func start(t *testing.T, lim ...xmlstream.Limits) (*Server, *fakeRouter, string) {
	t.Helper()
	r := &fakeRouter{got: make(chan routed, 16)}
	cfg := Config{Domains: map[string]string{"bot.example.org": secret, "other.example.org": "x"}}
	if len(lim) > 0 {
		cfg.Limits = lim[0]
	}
	s := New(cfg, r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, r, ln.Addr().String()
}

type peer struct {
	nc net.Conn
	rd *bufio.Reader
	id string
}

var idRE = regexp.MustCompile(`id=['"]([^'"]+)['"]`)

func dial(t *testing.T, addr, to string) *peer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(nc, `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='%s'>`, to)
	p := &peer{nc: nc, rd: bufio.NewReader(nc)}
	head := p.until(t, ">", "<stream:stream")
	if m := idRE.FindStringSubmatch(head); m != nil {
		p.id = m[1]
	}
	return p
}

// until reads until what was read contains all of marks.
func (p *peer) until(t *testing.T, marks ...string) string {
	t.Helper()
	var sb strings.Builder
	for {
		b, err := p.rd.ReadByte()
		if err != nil {
			t.Fatalf("read %q: %v (waiting for %q)", sb.String(), err, marks)
		}
		sb.WriteByte(b)
		all := true
		for _, m := range marks {
			all = all && strings.Contains(sb.String(), m)
		}
		if all && b == '>' {
			return sb.String()
		}
	}
}

func (p *peer) handshake(t *testing.T, sec string) {
	sum := sha1.Sum([]byte(p.id + sec))
	fmt.Fprintf(p.nc, "<handshake>%s</handshake>", hex.EncodeToString(sum[:]))
}

func TestHandshake(t *testing.T) {
	s, _, addr := start(t)
	p := dial(t, addr, "bot.example.org")
	if p.id == "" {
		t.Fatal("no stream id")
	}
	p.handshake(t, secret)
	p.until(t, "<handshake/>")
	if l := s.List(); !l[0].Connected || l[0].Domain != "bot.example.org" || l[1].Connected {
		t.Fatalf("list: %+v", l)
	}
}

func TestStreamErrors(t *testing.T) {
	_, _, addr := start(t)
	t.Run("host-unknown", func(t *testing.T) {
		nc, _ := net.Dial("tcp", addr)
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprint(nc, `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='nope.example.org'>`)
		(&peer{nc: nc, rd: bufio.NewReader(nc)}).until(t, "<host-unknown", "</stream:stream>")
	})
	t.Run("not-authorized", func(t *testing.T) {
		p := dial(t, addr, "bot.example.org")
		p.handshake(t, "wrong")
		p.until(t, "<not-authorized", "</stream:stream>")
	})
	t.Run("conflict", func(t *testing.T) {
		p := dial(t, addr, "other.example.org")
		p.handshake(t, "x")
		p.until(t, "<handshake/>")
		q := dial(t, addr, "other.example.org")
		q.handshake(t, "x")
		q.until(t, "<conflict", "</stream:stream>")
	})
	t.Run("restricted-xml", func(t *testing.T) {
		nc, _ := net.Dial("tcp", addr)
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprint(nc, `<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='bot.example.org'>`)
		(&peer{nc: nc, rd: bufio.NewReader(nc)}).until(t, "<restricted-xml", "</stream:stream>")
	})
}

// The stream limits hold as on client streams: a stanza past MaxStanza
// ends the stream with <policy-violation/>.
func TestStanzaTooBig(t *testing.T) {
	_, _, addr := start(t, xmlstream.Limits{MaxStanza: 4096})
	p := dial(t, addr, "bot.example.org")
	p.handshake(t, secret)
	p.until(t, "<handshake/>")
	fmt.Fprintf(p.nc, "<message from='a@bot.example.org' to='alice@example.org'><body>%s</body></message>", strings.Repeat("x", 8192))
	p.until(t, "<policy-violation", "</stream:stream>")
}

func TestRouting(t *testing.T) {
	s, r, addr := start(t)
	mux := delivery.NewMux()
	for _, d := range s.Domains() {
		mux.Component(d, s.Endpoint(d))
	}
	if got := mux.Components(); strings.Join(got, ",") != "bot.example.org,other.example.org" {
		t.Fatalf("components %v", got)
	}
	// Not connected: bounced with service-unavailable.
	ep := endpoint{s, "bot.example.org"}
	msg := stanza.NewElement(stanza.NSClient, "message").Set("to", "bot.example.org")
	ep.HandleStanza(msg, jid.MustParse("alice@example.org/a"), jid.MustParse("bot.example.org"))
	if got := <-r.got; got.err == nil || got.err.Condition != stanza.ServiceUnavailable {
		t.Fatalf("bounce %+v", got)
	}

	p := dial(t, addr, "bot.example.org")
	p.handshake(t, secret)
	p.until(t, "<handshake/>")

	// To the component: written in its namespace.
	msg = stanza.NewElement(stanza.NSClient, "message").Set("to", "echo@bot.example.org").Set("from", "alice@example.org/a")
	msg.Append(stanza.NewElement(stanza.NSClient, "body").AppendText("hi"))
	ep.HandleStanza(msg, jid.MustParse("alice@example.org/a"), jid.MustParse("echo@bot.example.org"))
	if got := p.until(t, "</message>"); !strings.Contains(got, "<body>hi</body>") || strings.Contains(got, "jabber:client") {
		t.Fatalf("component read %q", got)
	}

	// From the component: routed as from its domain, in jabber:client.
	fmt.Fprint(p.nc, `<message from='echo@bot.example.org' to='alice@example.org/a'><body>back</body></message>`)
	got := <-r.got
	if got.from.String() != "echo@bot.example.org" || got.to.String() != "alice@example.org/a" ||
		got.st.Name.Space != stanza.NSClient || got.st.Child(stanza.NSClient, "body").Text() != "back" {
		t.Fatalf("routed %+v %s", got, got.st)
	}
	if l := s.List(); l[0].In != 1 || l[0].Out != 1 {
		t.Fatalf("counts %+v", l[0])
	}

	// A 'from' outside its domain ends the stream.
	fmt.Fprint(p.nc, `<message from='mallory@example.org' to='alice@example.org/a'/>`)
	p.until(t, "<invalid-from", "</stream:stream>")
}
