package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// writeBackend fails every user creation with err.
type writeBackend struct {
	Backend
	err error
}

func (b writeBackend) CreateUser(context.Context, string, string) error { return b.err }

// A write that was not made and one that may have been cross the socket as
// different errors, each with a sentence that says which.
func TestWriteOutcomeErrors(t *testing.T) {
	for _, tc := range []struct {
		err      error
		sentinel error
		say      string
	}{
		{fmt.Errorf("%w: consensus: no quorum", ErrNoQuorum), ErrNoQuorum, "the cluster cannot accept writes; nothing was changed"},
		{fmt.Errorf("%w: consensus: leader changed", ErrOutcomeUnknown), ErrOutcomeUnknown, "the write may or may not have been applied"},
	} {
		sock := filepath.Join(t.TempDir(), "admin.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: Handler(writeBackend{err: tc.err}, nil)}
		go srv.Serve(ln)
		err = Dial(sock).CreateUser(context.Background(), "a@b", "password")
		srv.Close()
		if !errors.Is(err, tc.sentinel) || !strings.Contains(err.Error(), tc.say) {
			t.Errorf("CreateUser failing with %v: client got %v, want %v saying %q", tc.err, err, tc.sentinel, tc.say)
		}
		if other := map[error]error{ErrNoQuorum: ErrOutcomeUnknown, ErrOutcomeUnknown: ErrNoQuorum}[tc.sentinel]; errors.Is(err, other) {
			t.Errorf("%v is also %v", err, other)
		}
	}
}
