package consensus

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"
)

// rawDial opens a cluster connection the way an intruder would: it ignores
// the listener's MAC and answers with one made from secret. It speaks the
// handshake of package mux from its specification (channel, version 1, a
// 32-byte nonce; the dialer's MAC over "herald cluster dialer" 0 channel
// version and both nonces), not through mux's code.
func rawDial(t *testing.T, addr string, ch byte, secret []byte) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, patience)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(patience))
	const version, nonceLen = 1, 32
	var hello [2 + nonceLen]byte
	hello[0], hello[1] = ch, version
	rand.Read(hello[2:])
	c.Write(hello[:])
	var reply [nonceLen + sha256.Size]byte
	if _, err := io.ReadFull(c, reply[:]); err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("herald cluster dialer"))
	m.Write([]byte{0, ch, version})
	m.Write(hello[2:])
	m.Write(reply[:nonceLen])
	c.Write(m.Sum(nil))
	c.SetDeadline(time.Time{})
	return c
}
