package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/heraldxmpp/herald/ops"
)

// notifier speaks the service manager's readiness protocol (systemd's
// sd_notify, for Type=notify units): newline-separated VAR=value lines in
// one datagram to the unix socket $NOTIFY_SOCKET names ("@name" is an
// abstract socket). A nil notifier (no $NOTIFY_SOCKET) sends nothing.
type notifier struct {
	addr *net.UnixAddr
	// watchdog is $WATCHDOG_USEC: the manager restarts the service when no
	// WATCHDOG=1 arrives within it; zero when the unit sets no WatchdogSec.
	watchdog time.Duration
}

// readyPoll is how often the notifier looks at readiness until the node
// is ready.
const readyPoll = 100 * time.Millisecond

// newNotifier reads the protocol's variables through getenv; nil when
// heraldd was not started by a service manager asking for notifications.
func newNotifier(getenv func(string) string, pid int) *notifier {
	path := getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	n := &notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
	// The watchdog is for this process only when WATCHDOG_PID is unset or
	// names it.
	if p := getenv("WATCHDOG_PID"); p == "" || p == strconv.Itoa(pid) {
		if us, err := strconv.ParseUint(getenv("WATCHDOG_USEC"), 10, 63); err == nil && us > 0 {
			n.watchdog = time.Duration(us) * time.Microsecond
		}
	}
	return n
}

// send delivers one notification datagram.
func (n *notifier) send(lines ...string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(strings.Join(lines, "\n") + "\n"))
	return err
}

// run reports readiness until ctx ends: STATUS= with the failing checks
// while the node is not ready, READY=1 once ready() says so (the same
// readiness GET /ready serves), then WATCHDOG=1 at half the watchdog
// interval when the unit asks for one. It returns when ctx ends.
func (n *notifier) run(ctx context.Context, ready func() ops.Readiness, onErr func(error)) {
	if n == nil {
		return
	}
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	last := ""
	for {
		rd := ready()
		if rd.Ready {
			break
		}
		if s := "STATUS=waiting: " + strings.Join(rd.Failing(), "; "); s != last {
			if err := n.send(s); err != nil {
				onErr(err)
			}
			last = s
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	if err := n.send("READY=1", "STATUS=serving"); err != nil {
		onErr(err)
	}
	if n.watchdog <= 0 {
		return
	}
	t.Reset(n.watchdog / 2)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.send("WATCHDOG=1"); err != nil {
				onErr(err)
			}
		}
	}
}
