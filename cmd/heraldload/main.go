// Command heraldload is Herald's load tool: it drives any XMPP server
// (Herald, Prosody, ejabberd) over real TCP+TLS so that their figures can
// be compared in the same run on the same machine.
//
// Modes:
//
//	heraldload idle -addr H:P -domain D -users u%d -password P -n 1000 -pid PID
//	    logs in n sessions (STARTTLS, PLAIN, bind, initial presence), and
//	    reports the server process's RSS growth per idle session (read from
//	    /proc/PID/status before and after, with the sessions held open).
//	heraldload chat -addr H:P -domain D -users u%d -password P -pairs 50 -duration 10s -pid PID
//	    pairs of sessions send chat messages to each other as fast as the
//	    server delivers them; reports delivered msgs/s and, with -pid,
//	    server CPU time per message (from /proc/PID/stat). After the run
//	    it waits for the messages still in flight and reports any that
//	    never arrived as lost.
//
//	heraldload create -admin SOCKET -n 1000
//	    only creates the accounts, through Herald's admin API.
//
//	heraldload subs -addr H:P -domain D [-addr2 H2:P2 -domain2 D2] -pairs 20 -duration 10s
//	    pairs run subscription handshakes (subscribe, subscribed,
//	    unsubscribe: RFC 6121 3.1, 3.3) as fast as the servers carry
//	    them, and report complete cycles per second; with -addr2 the
//	    contacts are on another domain, so every stanza crosses s2s.
//
// With -addr2, the receiving half of each chat/subs pair (odd account
// numbers) logs in to the second server, so that every message crosses a
// federation link.
//
// Accounts load0..load(n-1) must exist; `-create` makes them through
// Herald's admin API first (-admin SOCKET).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/ops"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	addr, domain, users, password, admin string
	addr2, domain2                       string
	n, pairs, pid                        int
	duration                             time.Duration
	create                               bool
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "idle" && args[0] != "chat" && args[0] != "create" && args[0] != "subs") {
		fmt.Fprintln(stderr, "usage: heraldload idle|chat|subs|create [flags]  (see go doc ./cmd/heraldload)")
		return 2
	}
	mode := args[0]
	fs := flag.NewFlagSet("heraldload "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.addr, "addr", "127.0.0.1:5222", "server c2s address (STARTTLS)")
	fs.StringVar(&o.domain, "domain", "localhost", "XMPP domain")
	fs.StringVar(&o.users, "users", "load%d", "account localpart pattern, %d is the index")
	fs.StringVar(&o.password, "password", "load-password", "password of every account")
	fs.StringVar(&o.admin, "admin", "", "Herald admin socket, used with -create")
	fs.StringVar(&o.addr2, "addr2", "", "chat/subs: receivers connect here instead (a second server, for federation)")
	fs.StringVar(&o.domain2, "domain2", "", "chat/subs: the receivers' XMPP domain with -addr2")
	fs.BoolVar(&o.create, "create", false, "create the accounts first through Herald's admin API")
	fs.IntVar(&o.n, "n", 1000, "idle: number of sessions")
	fs.IntVar(&o.pairs, "pairs", 50, "chat: number of sender/receiver pairs")
	fs.IntVar(&o.pid, "pid", 0, "server process id, to read its memory and CPU from /proc")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "chat: how long to send")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	count := o.n
	if mode == "chat" || mode == "subs" {
		count = 2 * o.pairs
	}
	if mode == "create" {
		o.create = true
	}
	if o.create {
		if err := createUsers(o, count); err != nil {
			fmt.Fprintln(stderr, "heraldload:", err)
			return 1
		}
	}
	var err error
	if mode == "create" {
		return 0
	}
	switch mode {
	case "idle":
		err = idle(o, stdout)
	case "chat":
		err = chat(o, stdout)
	case "subs":
		err = subs(o, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "heraldload:", err)
		return 1
	}
	return 0
}

func (o options) user(i int) string { return fmt.Sprintf(o.users, i) }

func createUsers(o options, n int) error {
	if o.admin == "" {
		return errors.New("-create needs -admin SOCKET")
	}
	c := ops.Dial(o.admin)
	ctx := context.Background()
	for i := 0; i < n; i++ {
		err := c.CreateUser(ctx, o.user(i)+"@"+o.domain, o.password)
		if err != nil && !errors.Is(err, ops.ErrExists) {
			return err
		}
	}
	return nil
}

// connectAll logs in n sessions, 16 at a time.
func connectAll(o options, n int, first int) ([]*client, error) {
	out := make([]*client, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			addr, domain := o.addr, o.domain
			if o.addr2 != "" && (first+i)%2 == 1 {
				// Receivers of a pair live on the second server.
				addr, domain = o.addr2, o.domain2
			}
			c, err := dial(addr, domain, o.user(first+i), o.password, "load")
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			out[i] = c
		}(i)
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		for _, c := range out {
			if c != nil {
				c.close()
			}
		}
		return nil, err
	}
	return out, nil
}

func idle(o options, stdout io.Writer) error {
	before := rss(o.pid)
	start := time.Now()
	clients, err := connectAll(o, o.n, 0)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	// Let the server settle (and its GC run) before reading its memory.
	time.Sleep(3 * time.Second)
	after := rss(o.pid)
	fmt.Fprintf(stdout, "sessions %d logged in in %v (%.0f logins/s)\n", o.n, elapsed.Round(time.Millisecond), float64(o.n)/elapsed.Seconds())
	if o.pid != 0 {
		fmt.Fprintf(stdout, "server rss before %d KiB, after %d KiB, per idle session %.1f KiB\n",
			before, after, float64(after-before)/float64(o.n))
	}
	for _, c := range clients {
		c.close()
	}
	return nil
}

func chat(o options, stdout io.Writer) error {
	clients, err := connectAll(o, 2*o.pairs, 0)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	var delivered, sent atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	cpu0 := cpuTime(o.pid)
	start := time.Now()
	var wg, senders sync.WaitGroup
	for p := 0; p < o.pairs; p++ {
		a, b := clients[2*p], clients[2*p+1]
		wg.Add(1)
		senders.Add(1)
		// Receiver: counts messages; sender: keeps a window of 32 in flight
		// so the server, not the client, is the bottleneck.
		window := make(chan struct{}, 32)
		go func() {
			defer wg.Done()
			for {
				kind, err := b.readStanza()
				if err != nil {
					return
				}
				if kind == "message" {
					delivered.Add(1)
					select {
					case <-window:
					default:
					}
				}
			}
		}()
		go func() {
			defer senders.Done()
			msg := []byte("<message type='chat' to='" + b.jid + "'><body>load test message with a body of ordinary length</body></message>")
			for ctx.Err() == nil {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				if err := a.send(msg); err != nil {
					return
				}
				sent.Add(1)
			}
		}()
	}
	<-ctx.Done()
	elapsed := time.Since(start)
	n := delivered.Load()
	cpu1 := cpuTime(o.pid)
	// The senders stop; wait for what is still in flight, until all has
	// arrived or nothing more has for 2s (10s at most), so that messages a
	// server dropped show up as lost rather than as in flight. A sender
	// stuck in a write to a server that stopped reading gives up after 10s.
	for _, c := range clients {
		c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	}
	senders.Wait()
	total := sent.Load()
	for last, quiet, end := delivered.Load(), time.Now(), time.Now().Add(10*time.Second); last < total && time.Since(quiet) < 2*time.Second && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
		if d := delivered.Load(); d != last {
			last, quiet = d, time.Now()
		}
	}
	lost := total - delivered.Load()
	for _, c := range clients {
		c.close()
	}
	wg.Wait()
	fmt.Fprintf(stdout, "pairs %d delivered %d messages in %v: %.0f msgs/s\n", o.pairs, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	fmt.Fprintf(stdout, "sent %d, lost %d (never delivered)\n", total, lost)
	if o.pid != 0 && n > 0 {
		fmt.Fprintf(stdout, "server cpu %.2fs, %.1f us per message\n", (cpu1 - cpu0).Seconds(), float64((cpu1-cpu0).Microseconds())/float64(n))
	}
	return nil
}

// rss returns VmRSS in KiB of pid, or 0.
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// cpuTime returns user+system CPU time of pid from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	// fields after the command: state(0) ... utime(11) stime(12)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	_ = runtime.GOOS
	return time.Duration(ut+st) * time.Second / clkTck
}
