package main

import (
	"strings"
	"testing"
)

// TestStatusReady: status prints the readiness and the failing checks;
// with --ready it exits 1 when the server is not ready, so a script can
// wait on it.
func TestStatusReady(t *testing.T) {
	sock, b := serve(t)
	o := ctl("", "--socket", sock, "status", "--ready")
	if o.code != 0 || !strings.Contains(o.stdout, "ready     yes\n") {
		t.Fatalf("ready server: exit %d stdout %q stderr %q", o.code, o.stdout, o.stderr)
	}
	b.mu.Lock()
	b.notReady = true
	b.mu.Unlock()
	o = ctl("", "--socket", sock, "status", "--ready")
	if o.code != 1 || !strings.Contains(o.stdout, "ready     no\nfailing   caught_up: applied 3 of commit 9\n") {
		t.Fatalf("not ready, --ready: exit %d stdout %q stderr %q", o.code, o.stdout, o.stderr)
	}
	if o = ctl("", "--socket", sock, "status"); o.code != 0 || !strings.Contains(o.stdout, "failing   caught_up") {
		t.Fatalf("not ready, plain status: exit %d stdout %q", o.code, o.stdout)
	}
	if o = ctl("", "--socket", sock, "status", "--bogus"); o.code != 2 {
		t.Fatalf("bad flag: exit %d stderr %q", o.code, o.stderr)
	}
}
