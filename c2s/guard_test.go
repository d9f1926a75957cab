package c2s

import (
	"net"
	"testing"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/delivery/gate"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// gatedClient connects to a listener of e's server behind g and
// negotiates TLS.
func gatedClient(t *testing.T, e *env, g *gate.Gate) *client {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(g.Listener(raw, gate.Client), false)
	conn, err := net.DialTimeout("tcp", raw.Addr().String(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, raw: conn, conn: conn, dec: xmlstream.NewDecoder(conn, xmlstream.Limits{})}
	c.open()
	c.startTLS()
	return c
}

// Refused mechanisms and channel bindings are not failed logins for the
// guard either; wrong passwords are, up to a refusal.
func TestGuardCountsOnlyWrongCredentials(t *testing.T) {
	e := newEnv(t, nil)
	g := gate.New(gate.Config{Log: testLog(), Auth: gate.AuthConfig{BanAfter: 2}})
	c := gatedClient(t, e, g)
	for _, a := range []string{
		authElement(sasl.SCRAMSHA256Plus, b64("p=tls-unique,,n=juliet,r=abcdefgh")),
		authElement(sasl.SCRAMSHA256, b64("y,,n=juliet,r=abcdefgh")),
	} {
		c.send(a)
		c.saslFailure(string(sasl.NotAuthorized))
	}
	c.authPlain("juliet")
	if st := g.Stats().Auth; st.Failures != 0 || st.Successes != 1 {
		t.Fatalf("guard counted %+v after two mismatches and a login", st)
	}

	c = gatedClient(t, e, g)
	for range 2 {
		c.send(authElement(sasl.Plain, plainResponse("juliet", "not-the-password")))
		c.saslFailure(string(sasl.NotAuthorized))
	}
	c.send(authElement(sasl.Plain, plainResponse("juliet", testPassword)))
	c.saslFailure(string(sasl.TemporaryAuthFailure))
	if st := g.Stats().Auth; st.Failures != 2 || st.Bans != 1 || st.Refused != 1 {
		t.Fatalf("guard counted %+v", st)
	}
}
