package xmlstream

import (
	"errors"
	"net"
	"time"
)

// Accept runs the accept loop of a listener for XML streams (client or server
// connections) until ln fails for good, handing each connection to
// handle. Temporary failures such as running out of file descriptors back
// off, as net/http does, rather than spin. It returns ln's final error
// (net.ErrClosed after a shutdown).
func Accept(ln net.Listener, handle func(net.Conn)) error {
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
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
