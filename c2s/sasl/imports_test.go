package sasl

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure holds the house rule in place: sasl imports no network, file
// system or clock packages (STYLE.md, "Imports point one way"). Randomness
// comes from crypto/rand or Config.Rand.
//
// This checks the package's own imports only: github.com/xdg-go/scram
// imports crypto/tls (for its client-side binding helpers), which brings
// "net" into the dependency graph without this package using it.
func TestPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case path == "net", path == "os", path == "time", path == "syscall", path == "crypto/tls",
				strings.HasPrefix(path, "net/"), strings.HasPrefix(path, "os/"):
				t.Errorf("%s imports %q", name, path)
			}
		}
	}
}
