package xmlstream

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata")

// TestGolden decodes each testdata/*.xml, the bytes a real peer sends on
// one connection, into a text transcript and compares it with the .golden
// file beside it. The harness restarts the stream where the server would:
// after <starttls/> (TLS, RFC 6120 5.4.3.3) and after <auth/> (SASL PLAIN
// succeeds in one step, 6.4.6). Run with -update to rewrite.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatal("no transcripts", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := goldenTranscript(strings.NewReader(string(raw)))
			for _, r := range []io.Reader{
				iotest.OneByteReader(strings.NewReader(string(raw))),
				iotest.HalfReader(strings.NewReader(string(raw))),
			} {
				if other := goldenTranscript(r); other != got {
					t.Errorf("transcript depends on read sizes:\n%s", other)
				}
			}
			golden := strings.TrimSuffix(f, ".xml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("transcript differs from %s (run go test -update and review the diff):\n%s", golden, got)
			}
		})
	}
}

func goldenTranscript(r io.Reader) string {
	var b strings.Builder
	d := NewDecoder(r, Limits{})
	for {
		ev, err := d.Next()
		if err != nil {
			b.WriteString("error " + describeErr(err) + "\n")
			return b.String()
		}
		dumpEvent(&b, ev)
		if ev.Kind != Element {
			continue
		}
		switch ev.Element.Name {
		case stanza.Name{Space: "urn:ietf:params:xml:ns:xmpp-tls", Local: "starttls"},
			stanza.Name{Space: "urn:ietf:params:xml:ns:xmpp-sasl", Local: "auth"}:
			b.WriteString("-- restart --\n")
			d.Restart()
		}
	}
}

func writeFile(path, s string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
