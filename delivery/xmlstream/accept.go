package xmlstream

import (
	"errors"
	"net"
	"time"
)

// Accept runs the accept loop of a listener for XML streams (client or server
// connections) until ln fails for good, handing each connection to
// handle. Temporary failures, running out of file descriptors (EMFILE,
// ENFILE) above all, back off as net/http's Server.Serve does (the same
// net.Error test), from 5 ms doubling to a second, rather than spin or give
// up: the listener serves again as soon as descriptors are free. It
// returns ln's final error (net.ErrClosed after a shutdown). heraldd's
// listeners go through delivery/gate, which retries these failures itself
// with a log line and a metric.
func Accept(ln net.Listener, handle func(net.Conn)) error {
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne interface{ Temporary() bool }
			if errors.As(err, &ne) && ne.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		handle(conn)
	}
}
