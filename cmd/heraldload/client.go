package main

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// client is a minimal XMPP client for load: STARTTLS, SASL PLAIN, bind,
// initial presence. The load tool measures servers, so it trusts any
// certificate (it only ever talks to the server under test on loopback).
type client struct {
	conn net.Conn
	dec  *xmlstream.Decoder
	jid  string
	wmu  sync.Mutex
}

func dial(addr, domain, user, password, resource string) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fail := func(step string, err error) (*client, error) {
		conn.Close()
		return nil, fmt.Errorf("%s@%s: %s: %w", user, domain, step, err)
	}
	open := func() error {
		_, err := c.conn.Write(xmlstream.AppendStreamHeader(nil, xmlstream.Header{To: domain, Version: "1.0", DefaultNS: stanza.NSClient}))
		if err != nil {
			return err
		}
		if ev, err := c.dec.Next(); err != nil || ev.Kind != xmlstream.StreamOpen {
			return fmt.Errorf("no stream header: %v", err)
		}
		ev, err := c.dec.Next()
		if err != nil {
			return err
		}
		if ev.Element == nil || ev.Element.Name.Local != "features" {
			return fmt.Errorf("expected features")
		}
		return nil
	}
	c.dec = xmlstream.NewDecoder(conn, xmlstream.Limits{})
	if err := open(); err != nil {
		return fail("stream", err)
	}
	if _, err := conn.Write([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")); err != nil {
		return fail("starttls", err)
	}
	if ev, err := c.dec.Next(); err != nil || ev.Element == nil || ev.Element.Name.Local != "proceed" {
		return fail("starttls", fmt.Errorf("no proceed: %v", err))
	}
	tc := tls.Client(conn, &tls.Config{ServerName: domain, InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		return fail("tls", err)
	}
	c.conn = tc
	if err := c.dec.Reset(tc); err != nil {
		return fail("tls", err)
	}
	if err := open(); err != nil {
		return fail("stream after tls", err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if _, err := tc.Write([]byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>")); err != nil {
		return fail("auth", err)
	}
	if ev, err := c.dec.Next(); err != nil || ev.Element == nil || ev.Element.Name.Local != "success" {
		if err == nil && ev.Element != nil {
			err = fmt.Errorf("%s", ev.Element.String())
		}
		return fail("auth", fmt.Errorf("not accepted: %v", err))
	}
	c.dec.Restart()
	if err := open(); err != nil {
		return fail("stream after auth", err)
	}
	if _, err := tc.Write([]byte("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")); err != nil {
		return fail("bind", err)
	}
	ev, err := c.dec.Next()
	if err != nil || ev.Element == nil || ev.Element.Get("type") != "result" {
		return fail("bind", fmt.Errorf("refused: %v", err))
	}
	if b := ev.Element.Child("", "bind"); b != nil {
		if j := b.Child("", "jid"); j != nil {
			c.jid = j.Text()
		}
	}
	// The roster (some servers hand subscription stanzas only to clients
	// that asked for it), initial presence, then a ping so that everything
	// the server sends at login (presence echo, offline messages) is read
	// here.
	if _, err := tc.Write([]byte("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq><presence/><iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")); err != nil {
		return fail("presence", err)
	}
	for {
		ev, err := c.dec.Next()
		if err != nil {
			return fail("ping", err)
		}
		if ev.Element != nil && ev.Element.Name.Local == "iq" && ev.Element.Get("id") == "p" {
			break
		}
	}
	conn.SetDeadline(time.Time{})
	tc.SetDeadline(time.Time{})
	return c, nil
}

func (c *client) send(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(b)
	return err
}

// readElement returns the next first-level element.
func (c *client) readElement() (*stanza.Element, error) {
	ev, err := c.dec.Next()
	if err != nil {
		return nil, err
	}
	if ev.Kind != xmlstream.Element {
		return nil, fmt.Errorf("stream ended")
	}
	return ev.Element, nil
}

// readStanza returns the local name of the next stanza.
func (c *client) readStanza() (string, error) {
	ev, err := c.dec.Next()
	if err != nil {
		return "", err
	}
	if ev.Kind != xmlstream.Element {
		return "", fmt.Errorf("stream ended")
	}
	return ev.Element.Name.Local, nil
}

func (c *client) close() {
	c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.send([]byte(xmlstream.StreamCloseTag))
	c.conn.Close()
}
