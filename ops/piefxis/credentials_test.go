package piefxis

import (
	"os"
	"reflect"
	"testing"
)

// The SCRAM-SHA-1 keys prosody-migrator exported for juliet (registered
// with the password r0meo) verify that password and no other.
func TestProsodyCredentialsKeepThePassword(t *testing.T) {
	f, err := os.Open("testdata/prosody-migrator-juliet.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := readAll(t, f)[0]
	c, skipped, err := Credentials(a)
	if err != nil || len(skipped) != 0 {
		t.Fatalf("Credentials: %v %v", skipped, err)
	}
	if !c.Verify("r0meo") || c.Verify("r0me0") {
		t.Fatal("imported credentials do not verify the old password alone")
	}
	// Exported again, they read back the same.
	var b Account
	SetCredentials(&b, c)
	if !reflect.DeepEqual(b.SCRAM, a.SCRAM) {
		t.Fatalf("export %+v, import %+v", b.SCRAM, a.SCRAM)
	}
}

func TestCredentialsFromPasswordAndRefusals(t *testing.T) {
	c, _, err := Credentials(&Account{Name: "n", Domain: "d", Password: "s3cret-pw"})
	if err != nil || !c.Verify("s3cret-pw") {
		t.Fatalf("password: %v", err)
	}
	bad := []*Account{
		{Name: "n", Domain: "d"},
		{Name: "n", Domain: "d", SCRAM: []SCRAM{{Mechanism: "SCRAM-SHA-1", Iter: 4096, Salt: []byte("s"), StoredKey: []byte("short"), ServerKey: []byte("short")}}},
		{Name: "n", Domain: "d", SCRAM: []SCRAM{{Mechanism: "SCRAM-SHA-512", Iter: 4096, Salt: []byte("s"), StoredKey: make([]byte, 64), ServerKey: make([]byte, 64)}}},
	}
	for i, a := range bad {
		if _, _, err := Credentials(a); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}
