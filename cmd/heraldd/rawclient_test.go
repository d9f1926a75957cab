package main

// A wire-level XMPP client for tests that need exact bytes on the wire
// (a stanza of exactly max_stanza bytes, the most attributes): real TCP,
// STARTTLS verified against the server's certificate, SASL PLAIN, resource
// binding. Reads go through the same xmlstream.Decoder the server uses and
// every read has a deadline: a test waits for answers and never sleeps.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// rawTimeout bounds one wait for the server; generous for a loaded machine.
const rawTimeout = 30 * time.Second

type rawClient struct {
	t    testing.TB
	conn net.Conn
	dec  *xmlstream.Decoder
	jid  string
	ids  int
}

// rawLogin connects to addr (a STARTTLS port) and logs in as user
// (user@localhost/resource) with PLAIN over TLS; it does not send
// presence.
func rawLogin(t testing.TB, s server, user, password, resource string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.c2s, rawTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn}
	c.dec = xmlstream.NewDecoder(conn, xmlstream.Limits{MaxStanza: 4 << 20, MaxAttrs: 1024})
	c.open()
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.expect("proceed")
	pem, err := os.ReadFile(s.cafile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tc := tls.Client(conn, &tls.Config{ServerName: "localhost", RootCAs: roots})
	tc.SetDeadline(time.Now().Add(rawTimeout))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS: %v", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
	if err := c.dec.Reset(tc); err != nil {
		t.Fatal(err)
	}
	c.open()
	cred := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + cred + `</auth>`)
	c.expect("success")
	c.dec.Restart()
	c.open()
	c.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>` + resource + `</resource></bind></iq>`)
	res := c.expect("iq")
	if res.Get("type") != "result" {
		t.Fatalf("bind: %s", res.AppendXML(nil, ""))
	}
	c.jid = res.FirstElement().Child("", "jid").Text()
	return c
}

func (c *rawClient) open() {
	c.t.Helper()
	c.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
	if ev, err := c.event(); err != nil || ev.Kind != xmlstream.StreamOpen {
		c.t.Fatalf("stream header: %v %v", ev.Kind, err)
	}
	c.expect("features")
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if err := c.write(s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// write sends s; it fails no test, so another goroutine may use it.
func (c *rawClient) write(s string) error {
	c.conn.SetWriteDeadline(time.Now().Add(rawTimeout))
	_, err := io.WriteString(c.conn, s)
	return err
}

func (c *rawClient) event() (xmlstream.Event, error) {
	c.conn.SetReadDeadline(time.Now().Add(rawTimeout))
	return c.dec.Next()
}

// next returns the next element, or nil and the error.
func (c *rawClient) next() (*stanza.Element, error) {
	ev, err := c.event()
	if err != nil {
		return nil, err
	}
	if ev.Kind != xmlstream.Element {
		return nil, fmt.Errorf("got %v, want an element", ev.Kind)
	}
	return ev.Element, nil
}

// expect reads the next element and checks its local name.
func (c *rawClient) expect(local string) *stanza.Element {
	c.t.Helper()
	el, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for <%s/>: %v", local, err)
	}
	if el.Name.Local != local {
		c.t.Fatalf("got %s, want <%s/>", el.AppendXML(nil, ""), local)
	}
	return el
}

// ping sends an XEP-0199 ping to the server and returns everything that
// arrived before its answer. The server handles a client's stanzas in
// order, so a message sent before the ping has been stored, or refused
// with an error that arrives before the answer, once the answer is in.
func (c *rawClient) ping() ([]*stanza.Element, error) {
	c.ids++
	id := fmt.Sprintf("ping%d", c.ids)
	var got []*stanza.Element
	if err := c.write(`<iq type='get' to='localhost' id='` + id + `'><ping xmlns='urn:xmpp:ping'/></iq>`); err != nil {
		return got, err
	}
	for {
		el, err := c.next()
		if err != nil {
			return got, err
		}
		if el.Name.Local == "iq" && el.Get("id") == id {
			return got, nil
		}
		got = append(got, el)
	}
}

// messages reads until it has n messages, then pings: it fails if more
// arrive before the answer.
func (c *rawClient) messages(n int) []*stanza.Element {
	c.t.Helper()
	var got []*stanza.Element
	for len(got) < n {
		el, err := c.next()
		if err != nil {
			c.t.Fatalf("%d of %d messages arrived: %v", len(got), n, err)
		}
		if el.Name.Local == "message" {
			got = append(got, el)
		}
	}
	more, err := c.ping()
	if err != nil || len(more) > 0 {
		c.t.Fatalf("after %d messages: %d more elements (err %v)", n, len(more), err)
	}
	return got
}

// errorOf returns the stanza error condition of el, or "".
func errorOf(el *stanza.Element) string {
	e := el.Child("", "error")
	if el.Get("type") != "error" || e == nil || e.FirstElement() == nil {
		return ""
	}
	return e.FirstElement().Name.Local
}

// bodyOf returns the body of a message.
func bodyOf(el *stanza.Element) string {
	if b := el.Child("", "body"); b != nil {
		return b.Text()
	}
	return ""
}

// padMessage returns a message to 'to' whose serialized size, as sent, is
// exactly size bytes; extra goes into the start tag.
func padMessage(to, id, extra string, size int) string {
	head := `<message to='` + to + `' id='` + id + `' type='chat'` + extra + `><body>`
	const tail = `</body></message>`
	return head + strings.Repeat("b", size-len(head)-len(tail)) + tail
}
