package c2s

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkRouteMessage measures one chat message from a bound session to
// another's full JID over real TLS on loopback: the server reads and parses
// it, stamps 'from', routes it and serializes it to the recipient's queue,
// and the recipient reads it. The sender keeps up to window messages in
// flight, so the pipeline stays full without overrunning MaxQueue.
//
// The figures are for the whole process, so they include the two clients'
// TLS work. The clients are kept lean to make that small: the sender writes
// a prepared message per Write, the receiver counts </message> in the raw
// bytes instead of parsing them.
func BenchmarkRouteMessage(b *testing.B) {
	e := newEnv(b, nil)
	sender := e.login(b, "romeo", "bench")
	receiver := e.login(b, "juliet", "bench")
	msg := []byte(fmt.Sprintf(`<message to='%s' type='chat' id='b'>`+
		`<body>Good night, good night! Parting is such sweet sorrow.</body></message>`, receiver.jid))
	end := []byte("</message>")

	const window = 256
	tokens := make(chan struct{}, window)
	errc := make(chan error, 1)
	deadline := time.Now().Add(5 * time.Minute)
	sender.conn.SetWriteDeadline(deadline)
	receiver.conn.SetReadDeadline(deadline)

	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			tokens <- struct{}{}
			if _, err := sender.conn.Write(msg); err != nil {
				errc <- err
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	carry := 0 // bytes kept from the last read: a </message> may straddle reads
	for got := 0; got < b.N; {
		n, err := receiver.conn.Read(buf[carry:])
		if err != nil {
			select {
			case serr := <-errc:
				b.Fatalf("sender: %v", serr)
			default:
			}
			b.Fatalf("receiver: %v", err)
		}
		data := buf[:carry+n]
		k := bytes.Count(data, end)
		for range k {
			<-tokens
		}
		got += k
		// Keep a tail too short to hold a whole </message>.
		carry = copy(buf, data[max(0, len(data)-len(end)+1):])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// Environment of the client process of BenchmarkIdleSessionMemory.
const (
	envIdleAddr = "HERALD_C2S_IDLE_ADDR"
	envIdleN    = "HERALD_C2S_IDLE_N"
	envIdleCert = "HERALD_C2S_IDLE_CERT" // base64 DER of the server certificate
)

// idleSessions is how many sessions BenchmarkIdleSessionMemory opens. The
// server process holds one descriptor per session and the client process
// one per connection; Go raises the soft RLIMIT_NOFILE to the hard limit
// at start, so this fits the usual limits (here: 20000).
const idleSessions = 500

// BenchmarkIdleSessionMemory reports the memory the server holds per idle,
// authenticated, bound and available client session (after STARTTLS,
// PLAIN and initial presence), as HeapInuse+StackInuse after GC.
//
// Method: the clients must not be counted, so they run in a second process
// (this test binary again, running TestIdleClientsHelper). This process
// then holds only the server side: the listener's accepted connection, the
// TLS state, the session, its decoder, its registry entry and its reader
// goroutine's stack. The benchmark reads runtime.MemStats after two GCs
// (which also empty sync.Pools) before the clients connect and once all
// of them are bound and available, and divides the difference by the
// number of sessions. Run it with -benchtime=1x; ns/op is not meaningful
// and is suppressed.
func BenchmarkIdleSessionMemory(b *testing.B) {
	n := idleSessions
	e := newEnv(b, nil)
	for i := range n {
		e.accounts.add(fmt.Sprintf("idle%d", i))
	}
	g0 := runtime.NumGoroutine()
	m0 := memInUse()

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envIdleAddr+"="+e.addr,
		envIdleN+"="+strconv.Itoa(n),
		envIdleCert+"="+base64.StdEncoding.EncodeToString(testCert().Certificate[0]),
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close() // the helper exits, closing its connections
		cmd.Wait()
	}()
	// Wait for the helper to say every session is bound and available; it
	// has then seen each one's own presence come back from the server.
	sc := bufio.NewScanner(stdout)
	var out []string
	ready := false
	for !ready && sc.Scan() {
		out = append(out, sc.Text())
		ready = sc.Text() == "ready"
	}
	if !ready {
		cmd.Wait()
		b.Fatalf("client process failed:\n%s\n%s", strings.Join(out, "\n"), stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	if s := e.srv.Sessions(); s != n {
		b.Fatalf("%d sessions, want %d", s, n)
	}
	avail := 0
	for r := range e.router.Registry.All {
		if r.Available {
			avail++
		}
	}
	if avail != n {
		b.Fatalf("%d available resources, want %d", avail, n)
	}

	m1 := memInUse()
	g1 := runtime.NumGoroutine()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(int64(m1.total()-m0.total()))/float64(n), "bytes/session")
	b.ReportMetric(float64(int64(m1.heap-m0.heap))/float64(n), "heap-bytes/session")
	b.ReportMetric(float64(int64(m1.stack-m0.stack))/float64(n), "stack-bytes/session")
	b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/session")
}

type memSample struct{ heap, stack uint64 }

func (m memSample) total() uint64 { return m.heap + m.stack }

func memInUse() memSample {
	// Two cycles: the first moves sync.Pool contents to the victim cache,
	// the second frees them.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapInuse, stack: ms.StackInuse}
}

// TestIdleClientsHelper is the client process of
// BenchmarkIdleSessionMemory, not a test: it logs in the requested number
// of sessions, says "ready" and holds them until its stdin closes.
func TestIdleClientsHelper(t *testing.T) {
	addr := os.Getenv(envIdleAddr)
	if addr == "" {
		t.Skip("the client process of BenchmarkIdleSessionMemory")
	}
	n, err := strconv.Atoi(os.Getenv(envIdleN))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{addr: addr}
	for i := range n {
		c := e.login(t, fmt.Sprintf("idle%d", i), "")
		c.available()
		// Keep only the connection: nothing is read from here on.
		c.dec = nil
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}
