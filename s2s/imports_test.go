package s2s

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the house rules in place (STYLE.md, "Imports point
// one way"): s2s never imports its sibling c2s, nor the router (it reaches
// it through the Router interface), nor the store.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "github.com/heraldxmpp/herald/delivery",
			strings.HasPrefix(p, "github.com/heraldxmpp/herald/c2s"),
			strings.HasPrefix(p, "github.com/heraldxmpp/herald/consensus"),
			strings.HasPrefix(p, "github.com/heraldxmpp/herald/roster"),
			strings.HasPrefix(p, "github.com/heraldxmpp/herald/cmd"):
			t.Errorf("s2s depends on %s", p)
		}
	}
}
