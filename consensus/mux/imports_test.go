package mux

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the split in place: the cluster port moves bytes and
// knows nothing of what they mean, so it imports no Herald package
// (consensus imports it, never the reverse).
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/heraldxmpp/herald") && p != "github.com/heraldxmpp/herald/consensus/mux" {
			t.Errorf("mux depends on %s", p)
		}
	}
}
