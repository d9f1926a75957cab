package herald

// The layering test holds ARCHITECTURE.md's import rules in place for every
// package of the module. It reads the import graph from `go list -json
// ./...` (the build for this machine's GOOS/GOARCH, non-test files only:
// a test may reach further, as the daemon's integration tests do) and
// checks it against the layer table below. Without the go command it fails:
// a rule that cannot be checked is not held.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is the module path; rules and messages name packages relative to
// it ("delivery/jid").
const module = "github.com/heraldxmpp/herald"

// A layer is a set of packages. A package imports only packages of lower
// layers, and packages of its own unit (a table entry ending in "/*" or
// "/...": a folder and its subpackages). So imports point one way, and the
// units of one layer, siblings, never import each other.
type layer struct {
	name string
	// pure packages import none of the forbidden standard packages
	// (forbiddenInPure) themselves.
	pure bool
	// pkgs are package paths relative to the module. A path ending in
	// "/*" stands for every package under that folder not named elsewhere
	// in the table, one unit per first path element below the folder
	// ("delivery/*" holds delivery/disco and delivery/disco/items as the
	// unit delivery/disco). A path ending in "/..." stands for the folder
	// and everything under it as one unit.
	pkgs []string
}

// layers is the house, bottom first. ARCHITECTURE.md explains it.
var layers = []layer{
	{name: "values", pure: true, pkgs: []string{"delivery/jid", "delivery/stanza"}},
	{name: "protocol logic", pure: true, pkgs: []string{"c2s/sasl", "roster"}},
	{name: "stream", pkgs: []string{"delivery/xmlstream"}},
	{name: "plane", pkgs: []string{"delivery"}},
	{name: "services", pkgs: []string{"delivery/*"}},
	{name: "transports", pkgs: []string{"c2s", "s2s", "s2s/component", "roster/service"}},
	{name: "replicated state", pkgs: []string{"consensus/..."}},
	{name: "admin API", pkgs: []string{"ops/..."}},
	{name: "command support", pkgs: []string{"cmd/internal/*"}},
	{name: "commands", pkgs: []string{"cmd/*"}},
}

// forbiddenInPure are the standard packages a pure package does not import
// itself: no sockets, no files or environment, no clock, no locks or
// goroutine coordination, no cancellation contexts, no logging. The rule is about the package's own imports, not
// its whole dependency graph: golang.org/x/text and crypto/tls-using
// libraries reach "sync" and "net" inside, which says nothing about what the
// pure package does. net/netip is allowed: a value type with no socket code.
func forbiddenInPure(path string) bool {
	if path == "net/netip" {
		return false
	}
	for _, p := range []string{"net", "os", "time", "sync", "syscall", "context", "log"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// pureOutside are the only packages from outside the standard library and
// the module that pure packages import: a new one is a decision, made here.
var pureOutside = map[string]bool{
	"golang.org/x/text/secure/precis": true, // RFC 8264 profiles: jid, sasl, roster
	"golang.org/x/net/idna":           true, // IDNA domain labels: jid
	"github.com/xdg-go/scram":         true, // SCRAM primitives: sasl
}

// inPlane reports whether rel is in the stanza plane: delivery and
// everything under it. The plane knows no transport and no store: those
// plug into it.
func inPlane(rel string) bool { return under(rel, "delivery") }

// notInPlane are the packages the plane never imports.
var notInPlane = []string{"c2s", "s2s", "consensus"}

// extra are rules beyond the layers, each with its reason.
var extra = []struct {
	from, to, why string
}{
	{"s2s", "delivery", "s2s reaches the router through its Router interface"},
}

// pkg is what the test needs of `go list -json`.
type pkg struct {
	ImportPath string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
}

// place is where a package sits in the table.
type place struct {
	layer int
	unit  string
}

// locate finds rel's place: an exact entry first, then the "/..." and "/*"
// entries with the longest folder.
func locate(rel string) (place, bool) {
	best, bestLen, found := place{}, -1, false
	for i, l := range layers {
		for _, p := range l.pkgs {
			switch {
			case p == rel:
				return place{i, rel}, true
			case strings.HasSuffix(p, "/..."):
				dir := strings.TrimSuffix(p, "/...")
				if under(rel, dir) && len(dir) > bestLen {
					best, bestLen, found = place{i, dir}, len(dir), true
				}
			case strings.HasSuffix(p, "/*"):
				dir := strings.TrimSuffix(p, "/*")
				if strings.HasPrefix(rel, dir+"/") && len(dir) > bestLen {
					first, _, _ := strings.Cut(strings.TrimPrefix(rel, dir+"/"), "/")
					best, bestLen, found = place{i, dir + "/" + first}, len(dir), true
				}
			}
		}
	}
	return best, found
}

// check returns every broken rule in pkgs, one line each.
func check(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		rel, ok := relative(p.ImportPath)
		if !ok || len(p.GoFiles)+len(p.CgoFiles) == 0 {
			continue // not ours, or tests only: no imports to hold
		}
		from, ok := locate(rel)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is in no layer: place it in the layer table (and ARCHITECTURE.md)", rel))
			continue
		}
		for _, imp := range p.Imports {
			irel, ours := relative(imp)
			if !ours {
				if imp == "flag" && !under(rel, "cmd") {
					bad = append(bad, fmt.Sprintf("%s imports flag: only the commands under cmd/ read flags", rel))
				}
				if layers[from.layer].pure && forbiddenInPure(imp) {
					bad = append(bad, fmt.Sprintf("%s is pure but imports %s", rel, imp))
				}
				if layers[from.layer].pure && strings.Contains(strings.Split(imp, "/")[0], ".") && !pureOutside[imp] {
					bad = append(bad, fmt.Sprintf("%s is pure and imports %s, which is not in pureOutside", rel, imp))
				}
				continue
			}
			if inPlane(rel) && slices.ContainsFunc(notInPlane, func(t string) bool { return under(irel, t) }) {
				bad = append(bad, fmt.Sprintf("%s is in the stanza plane but imports the transport or store %s", rel, irel))
			}
			for _, r := range extra {
				if under(rel, r.from) && irel == r.to {
					bad = append(bad, fmt.Sprintf("%s imports %s: %s", rel, irel, r.why))
				}
			}
			to, ok := locate(irel)
			switch {
			case !ok:
				// reported when the imported package itself is checked
			case to.unit == from.unit:
				// one unit: a package and its own subpackages
			case to.layer == from.layer:
				bad = append(bad, fmt.Sprintf("%s imports its sibling %s (both %s)", rel, irel, layers[from.layer].name))
			case to.layer > from.layer:
				bad = append(bad, fmt.Sprintf("%s (%s) imports %s from a higher layer (%s)", rel, layers[from.layer].name, irel, layers[to.layer].name))
			}
		}
	}
	return bad
}

func relative(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// listModule runs `go list -json ./...` from the module root.
func listModule(t *testing.T) []pkg {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the layering rules need the go command: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-json", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestLayering(t *testing.T) {
	pkgs := listModule(t)
	// The rules must have something to hold: the packages every layer
	// names explicitly are all there.
	seen := map[string]bool{}
	for _, p := range pkgs {
		if rel, ok := relative(p.ImportPath); ok {
			seen[rel] = true
		}
	}
	for _, want := range []string{"delivery/jid", "delivery/stanza", "c2s/sasl", "roster", "delivery/xmlstream",
		"delivery", "c2s", "s2s", "consensus", "ops", "cmd/heraldd", "cmd/heraldctl"} {
		if !seen[want] {
			t.Errorf("go list did not report %s", want)
		}
	}
	for _, msg := range check(pkgs) {
		t.Error(msg)
	}
}

// TestLayeringCatches holds the checker itself: each rule, broken once in a
// made-up graph, is reported.
func TestLayeringCatches(t *testing.T) {
	const m = module + "/"
	p := func(path string, imports ...string) pkg {
		return pkg{ImportPath: m + path, GoFiles: []string{"x.go"}, Imports: imports}
	}
	cases := []struct {
		name string
		pkg  pkg
		want string // a substring of the one message expected; "" for none
	}{
		{"down is fine", p("c2s", m+"delivery", m+"delivery/xmlstream", m+"c2s/sasl", "strings"), ""},
		{"own subpackage", p("consensus/wire", m+"consensus/codec"), ""},
		{"service unit", p("delivery/disco/items", m+"delivery/disco", m+"delivery"), ""},
		{"pure imports net", p("delivery/jid", "net"), "pure but imports net"},
		{"pure imports net/http", p("roster", "net/http"), "pure but imports net/http"},
		{"pure imports os", p("c2s/sasl", "os"), "pure but imports os"},
		{"pure imports time", p("delivery/stanza", "time"), "pure but imports time"},
		{"pure imports sync/atomic", p("roster", "sync/atomic"), "pure but imports sync/atomic"},
		{"pure may use netip", p("delivery/jid", "net/netip"), ""},
		{"pure uses a listed library", p("delivery/jid", "golang.org/x/net/idna"), ""},
		{"pure uses another library", p("roster", "github.com/example/lru"), "not in pureOutside"},
		{"impure may use net", p("delivery/xmlstream", "net", "time", "sync"), ""},
		{"siblings c2s and s2s", p("c2s", m+"s2s"), "imports its sibling s2s"},
		{"sibling services", p("delivery/pep", m+"delivery/disco"), "imports its sibling delivery/disco"},
		{"sibling pure packages", p("roster", m+"c2s/sasl"), "imports its sibling c2s/sasl"},
		{"roster service and c2s", p("roster/service", m+"c2s"), "imports its sibling c2s"},
		{"upward", p("delivery/stanza", m+"delivery/xmlstream"), "from a higher layer"},
		{"ops upward", p("ops", m+"cmd/internal/config"), "from a higher layer"},
		{"plane imports consensus", p("delivery/pep", m+"consensus"), "stanza plane"},
		{"plane imports c2s", p("delivery", m+"c2s"), "stanza plane"},
		{"s2s imports the router", p("s2s", m+"delivery"), "Router interface"},
		{"flags outside cmd", p("consensus", "flag"), "only the commands"},
		{"flags in a command", p("cmd/heraldctl", "flag"), ""},
		{"unplaced package", p("widget"), "in no layer"},
		{"tests only", pkg{ImportPath: module, Imports: nil}, ""},
		{"not ours", pkg{ImportPath: "example.org/x", GoFiles: []string{"x.go"}, Imports: []string{"net"}}, ""},
	}
	for _, c := range cases {
		got := check([]pkg{c.pkg})
		switch {
		case c.want == "" && len(got) != 0:
			t.Errorf("%s: unexpected %q", c.name, got)
		case c.want != "" && !slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, c.want) }):
			t.Errorf("%s: want a message containing %q, got %q", c.name, c.want, got)
		}
	}
}
