package piefxis

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// FuzzReader checks that the reader never panics, that every failure is an
// *Error, and that whatever accounts it reads write out and read back the
// same. Seeds live in testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Add(prosodyDoc)
	f.Fuzz(func(t *testing.T, doc string) {
		var got []*Account
		rd := NewReader(strings.NewReader(doc))
		for {
			a, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("error %v (%T) is no *Error", err, err)
				}
				return
			}
			got = append(got, a)
		}
		var b bytes.Buffer
		w := NewWriter(&b)
		for _, a := range got {
			if err := w.Write(a); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var again []*Account
		rd = NewReader(&b)
		for {
			a, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("written document does not read back: %v\n%s", err, b.String())
			}
			again = append(again, a)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip differs:\n%#v\n%#v", got, again)
		}
	})
}
