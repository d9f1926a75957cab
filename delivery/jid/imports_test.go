package jid

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure holds the house rule in place: jid imports no network, file
// system or clock packages (STYLE.md, "Imports point one way").
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
			case path == "net/netip": // a value type; imports no socket code
			case path == "net", path == "os", path == "time", path == "syscall",
				strings.HasPrefix(path, "net/"), strings.HasPrefix(path, "os/"):
				t.Errorf("%s imports %q", name, path)
			}
		}
	}
}
