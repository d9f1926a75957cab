package mux

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

var testSecret = []byte("herald-test-cluster-secret-0123456789")

// patience bounds every wait: the machine is small and busy.
const patience = 30 * time.Second

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ctxPatience(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

// The handshake over a pipe: the same secret passes both ways and names the
// channel; a different one fails on both sides.
func TestHandshake(t *testing.T) {
	for _, tc := range []struct {
		name           string
		dialer, lister []byte
		ch             byte
		wantErr        bool
	}{
		{"raft", testSecret, testSecret, ChanRaft, false},
		{"forward", testSecret, testSecret, ChanForward, false},
		{"wrong secret", []byte("another-secret-of-some-length"), testSecret, ChanRaft, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			errc := make(chan error, 1)
			go func() {
				err := dialHandshake(a, tc.dialer, tc.ch)
				if err != nil {
					a.Close() // as the dialer does: the listener's read fails
				}
				errc <- err
			}()
			ch, lerr := acceptHandshake(b, tc.lister)
			derr := <-errc
			if tc.wantErr {
				if !errors.Is(derr, ErrAuth) {
					t.Errorf("dialer: %v, want ErrAuth", derr)
				}
				if lerr == nil {
					t.Error("listener accepted")
				}
				return
			}
			if derr != nil || lerr != nil || ch != tc.ch {
				t.Errorf("dialer %v, listener %v, channel %q", derr, lerr, ch)
			}
		})
	}
}

// The listener checks the dialer's MAC, whatever the dialer did with the
// listener's; unknown channels and versions are refused before any MAC.
func TestHandshakeListenerChecks(t *testing.T) {
	for name, hello := range map[string][]byte{
		"bad channel": append([]byte{'X', handshakeVersion}, make([]byte, nonceLen)...),
		"bad version": append([]byte{ChanRaft, 99}, make([]byte, nonceLen)...),
	} {
		a, b := net.Pipe()
		go a.Write(hello)
		if _, err := acceptHandshake(b, testSecret); err == nil {
			t.Errorf("%s: accepted", name)
		}
		a.Close()
		b.Close()
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		var hello [2 + nonceLen]byte
		hello[0], hello[1] = ChanForward, handshakeVersion
		a.Write(hello[:])
		var reply [nonceLen + sha256.Size]byte
		io.ReadFull(a, reply[:])
		// Replay the listener's own MAC as the dialer's.
		a.Write(reply[nonceLen:])
	}()
	if _, err := acceptHandshake(b, testSecret); !errors.Is(err, ErrAuth) {
		t.Errorf("a reflected MAC: %v, want ErrAuth", err)
	}
}

// Isolating a node cuts its connections and refuses new ones both ways.
func TestIsolate(t *testing.T) {
	cn, err := Listen("127.0.0.1:0", "", testSecret, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	served := make(chan net.Conn, 4)
	cn.Start(func(c net.Conn) {
		served <- c
		io.Copy(io.Discard, c)
	}, func(c net.Conn) { c.Close() })
	other, err := Listen("127.0.0.1:0", "", testSecret, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	ctx := ctxPatience(t)
	c, err := other.Dial(ctx, cn.Addr(), ChanForward)
	if err != nil {
		t.Fatal(err)
	}
	<-served
	cn.Isolate(true)
	c.SetReadDeadline(time.Now().Add(patience))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection survived the isolation")
	}
	if _, err := other.Dial(ctx, cn.Addr(), ChanForward); err == nil {
		t.Error("dialed an isolated node")
	}
	if _, err := cn.Dial(ctx, other.Addr(), ChanForward); !errors.Is(err, ErrIsolated) {
		t.Errorf("an isolated node dialed out: %v", err)
	}
	cn.Isolate(false)
	if _, err := other.Dial(ctx, cn.Addr(), ChanForward); err != nil {
		t.Errorf("after healing: %v", err)
	}
}
