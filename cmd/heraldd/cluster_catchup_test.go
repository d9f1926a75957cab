package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// A follower restarted after 1,500 accounts were created without it opens
// its client port while it is still catching up; a SCRAM login of the
// newest account there meets temporary-auth-failure (RFC 6120 6.5.11) until
// the node has caught up, and then succeeds: never not-authorized.
func TestClusterRestartedFollowerLogins(t *testing.T) {
	const accounts = 1500
	c := startCluster(t, 17460)
	c.nodes[2].kill()
	// The accounts go in through the leader while n3 is down, the last
	// one just before n3 comes back.
	ctx, cancel := context.WithTimeout(context.Background(), 5*patienceD)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, accounts)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < accounts-1; i += 8 {
				if err := c.nodes[0].client().CreateUser(ctx, fmt.Sprintf("u%d@localhost", i), "password-u"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c.nodes[0].addUser(t, "newest@localhost", "password-newest")

	start := time.Now()
	n3 := c.restart(t, 2)
	opened := time.Since(start)
	temporary := 0
	for {
		got, err := scramLogin(n3.c2s, "localhost", "newest", "password-newest")
		if err != nil {
			t.Fatalf("login on the restarted node: %v", err)
		}
		if got == "success" {
			break
		}
		if got != "temporary-auth-failure" {
			t.Fatalf("login on the restarted node after %d temporary failures: %s, want temporary-auth-failure or success\n%s",
				temporary, got, n3.stderr)
		}
		temporary++
		if time.Since(start) > patienceD {
			t.Fatalf("still refused after %s", patienceD)
		}
		// A client retrying a temporary failure: slower than the
		// connection gate's default rate per address (10/s), which
		// would otherwise close the connection before its header.
		time.Sleep(120 * time.Millisecond)
	}
	ready := time.Since(start)
	caught := regexp.MustCompile(`caught up with the cluster.* after=(\S+)`).FindStringSubmatch(n3.stderr.String())
	t.Logf("restarted n3 with %d accounts created while it was down: client port open after %s, "+
		"first login of the newest account after %s (%d temporary failures before); node says caught up after %v",
		accounts, opened, ready, temporary, caught)
	if caught == nil {
		t.Errorf("the node did not log that it caught up:\n%s", n3.stderr)
	}
}

// patienceD bounds the waits of the cluster process tests.
const patienceD = 60 * time.Second

// scramLogin opens a client stream to addr, negotiates STARTTLS and runs
// SCRAM-SHA-256 for user; it returns "success" or the SASL failure
// condition.
func scramLogin(addr, domain, user, password string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	dec := xmlstream.NewDecoder(conn, xmlstream.Limits{})
	var w net.Conn = conn
	next := func() (*stanza.Element, error) {
		ev, err := dec.Next()
		if err != nil {
			return nil, err
		}
		if ev.Element == nil {
			return nil, fmt.Errorf("unexpected stream event %v", ev.Kind)
		}
		return ev.Element, nil
	}
	open := func() error {
		if _, err := w.Write(xmlstream.AppendStreamHeader(nil, xmlstream.Header{To: domain, Version: "1.0", DefaultNS: stanza.NSClient})); err != nil {
			return err
		}
		if ev, err := dec.Next(); err != nil || ev.Kind != xmlstream.StreamOpen {
			return fmt.Errorf("no stream header: %v", err)
		}
		_, err := next() // features
		return err
	}
	if err := open(); err != nil {
		return "", err
	}
	w.Write([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
	if el, err := next(); err != nil || el.Name.Local != "proceed" {
		return "", fmt.Errorf("starttls: %v %v", el, err)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: domain, InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		return "", err
	}
	w = tc
	if err := dec.Reset(tc); err != nil {
		return "", err
	}
	if err := open(); err != nil {
		return "", err
	}
	client, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		return "", err
	}
	conv := client.NewConversation()
	msg, err := conv.Step("")
	if err != nil {
		return "", err
	}
	w.Write([]byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
		base64.StdEncoding.EncodeToString([]byte(msg)) + "</auth>"))
	for {
		el, err := next()
		if err != nil {
			return "", err
		}
		switch el.Name.Local {
		case "failure":
			for _, ch := range el.Elements() {
				if ch.Name.Local != "text" {
					return ch.Name.Local, nil
				}
			}
			return "", fmt.Errorf("failure without a condition: %s", el)
		case "challenge":
			in, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				return "", err
			}
			out, err := conv.Step(string(in))
			if err != nil {
				return "", fmt.Errorf("scram step: %w", err)
			}
			w.Write([]byte("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + base64.StdEncoding.EncodeToString([]byte(out)) + "</response>"))
		case "success":
			return "success", nil
		default:
			return "", fmt.Errorf("unexpected %s", el)
		}
	}
}
