package consensus

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHclogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := newHclog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Info("chatty", "k", 1) // below the Warn floor
	l.Named("raft").With("node", "n1").Warn("heartbeat", "term", 2)
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERR] transport: boom")

	out := buf.String()
	if strings.Contains(out, "chatty") {
		t.Errorf("Info passed the Warn floor:\n%s", out)
	}
	for _, want := range []string{`level=WARN msg="raft: heartbeat" node=n1 term=2`, `level=ERROR msg="transport: boom"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if l.IsInfo() || !l.IsWarn() {
		t.Error("IsInfo/IsWarn disagree with the Warn floor")
	}
}

func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	if n, err := Open(Config{Dir: dir}); err == nil {
		n.Close()
		t.Fatal("second Open of a live dir succeeded")
	}
}
