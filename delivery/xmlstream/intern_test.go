package xmlstream

import "testing"

// TestInternTable checks every entry is found and the probe chains stay
// short.
func TestInternTable(t *testing.T) {
	worst := 0
	total := 0
	for i, s := range internStr {
		if k := lookup([]byte(s)); k != i {
			t.Fatalf("lookup(%q) = %d, want %d", s, k, i)
		}
		h := ihash(s) & internMask
		probes := 1
		for internTab[h] != uint16(i+1) {
			h = (h + 1) & internMask
			probes++
		}
		total += probes
		worst = max(worst, probes)
	}
	t.Logf("%d entries, mean probes %.2f, worst %d", len(internStr), float64(total)/float64(len(internStr)), worst)
	if worst > 8 {
		t.Errorf("a probe chain of %d", worst)
	}
	for _, s := range []string{"", "x1", "b@x", "messages", "jabber:clien"} {
		if k := lookup([]byte(s)); k >= 0 {
			t.Errorf("lookup(%q) = %d", s, k)
		}
	}
}
