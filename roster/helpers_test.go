package roster

import "testing"

// st returns the state named as RFC 6121 A.1 names it ("None + Pending
// Out+In"), with an optional " + Approved" suffix, so that test rows read
// like the RFC's tables. TestNames ties the names to the fields.
func st(t testing.TB, name string) State {
	t.Helper()
	for _, s := range AllStates() {
		if s.Name() == name {
			return s
		}
	}
	t.Fatalf("no state named %q", name)
	return State{}
}

// The nine rows of every Appendix A table, in the RFC's order.
var rowNames = [9]string{
	"None",
	"None + Pending Out",
	"None + Pending In",
	"None + Pending Out+In",
	"To",
	"To + Pending In",
	"From",
	"From + Pending Out",
	"Both",
}

// checkRows fails unless the first nine cases of a table test are the
// table's nine rows, in order, with an item: the tests transcribe every row.
func checkRows(t *testing.T, table string, curs []string, exists []bool, cites []string) {
	t.Helper()
	if len(curs) < 9 {
		t.Fatalf("%s: %d cases, want at least the nine rows", table, len(curs))
	}
	for i, want := range rowNames {
		if curs[i] != want || !exists[i] || cites[i] != "" {
			t.Errorf("%s: case %d is %q (exists=%v, cite=%q), want the row %q with an item",
				table, i, curs[i], exists[i], cites[i], want)
		}
	}
}

// label names a case: the table row it transcribes, or the section that
// adds it.
func label(table, cur string, exists bool, cite string) string {
	l := table + " row '" + cur + "'"
	if cite != "" {
		l = cite + ", " + l
	}
	if !exists {
		l += " without an item"
	}
	return l
}
