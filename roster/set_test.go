package roster

import (
	"strings"
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

func TestValidateSet(t *testing.T) {
	long := strings.Repeat("x", 1024)
	small := Limits{MaxName: 4, MaxGroup: 3, MaxGroups: 2}
	for _, c := range []struct {
		name   string
		items  int
		sub    string
		handle string
		groups []string
		limits Limits
		want   stanza.Condition // "" for accepted
	}{
		{"plain add (2.3.1)", 1, "", "Nurse", []string{"Servants"}, Limits{}, ""},
		{"no name, no group (2.1.2.4, 2.1.2.6)", 1, "", "", nil, Limits{}, ""},
		{"no item (2.1.5 rule 1)", 0, "", "", nil, Limits{}, stanza.BadRequest},
		{"two items (2.3.3)", 2, "", "", nil, Limits{}, stanza.BadRequest},
		{"two items, remove (2.1.5 rule 1)", 2, "remove", "", nil, Limits{}, stanza.BadRequest},
		{"subscription ignored (2.1.2.5)", 1, "both", "Romeo", nil, Limits{}, ""},
		{"subscription ignored, unknown (2.1.5 rule 2)", 1, "frobnicate", "", nil, Limits{}, ""},
		{"remove skips name/group checks (2.5.1)", 1, "remove", long, []string{"", "a", "a"}, Limits{}, ""},
		{"name at default limit", 1, "", long[:1023], nil, Limits{}, ""},
		{"name over default limit (2.3.3)", 1, "", long, nil, Limits{}, stanza.NotAcceptable},
		{"name over configured limit", 1, "", "Romeo", nil, small, stanza.NotAcceptable},
		{"empty group (2.3.3)", 1, "", "", []string{"Friends", ""}, Limits{}, stanza.NotAcceptable},
		{"group over default limit (2.3.3)", 1, "", "", []string{long}, Limits{}, stanza.NotAcceptable},
		{"group over configured limit", 1, "", "", []string{"abcd"}, small, stanza.NotAcceptable},
		{"too many groups", 1, "", "", []string{"a", "b", "c"}, small, stanza.NotAcceptable},
		{"64 groups by default", 1, "", "", groups(64), Limits{}, ""},
		{"65 groups by default", 1, "", "", groups(65), Limits{}, stanza.NotAcceptable},
		{"duplicate groups (2.3.3)", 1, "", "", []string{"Friends", "Family", "Friends"}, Limits{}, stanza.BadRequest},
		{"duplicate after NFC (2.3.3, OpaqueString)", 1, "", "", []string{"Caf\u00e9", "Cafe\u0301"}, Limits{}, stanza.BadRequest},
		{"case differs: distinct groups", 1, "", "", []string{"friends", "Friends"}, Limits{}, ""},
	} {
		got := ValidateSet(c.items, c.sub, c.handle, c.groups, c.limits)
		switch {
		case c.want == "" && got != nil:
			t.Errorf("%s: %v, want accepted", c.name, got)
		case c.want != "" && (got == nil || got.Condition != c.want):
			t.Errorf("%s: %v, want %s", c.name, got, c.want)
		}
	}
}

func groups(n int) []string {
	g := make([]string, n)
	for i := range g {
		g[i] = "g" + string(rune('A'+i/26)) + string(rune('a'+i%26))
	}
	return g
}

func TestParseItemJID(t *testing.T) {
	user := jid.MustParse("juliet@example.com/balcony")
	for _, c := range []struct {
		attr, want string
		cond       stanza.Condition
	}{
		{"romeo@example.net", "romeo@example.net", ""},
		{"Romeo@Example.NET", "romeo@example.net", ""},
		{"icq.example.com", "icq.example.com", ""}, // a service
		{"", "", stanza.BadRequest},
		{"@example.net", "", stanza.JIDMalformed},
		{"romeo@", "", stanza.JIDMalformed},
		{"romeo@example.net/orchard", "", stanza.BadRequest},
		{"juliet@example.com", "", stanza.NotAllowed},
		{"JULIET@example.com", "", stanza.NotAllowed},
	} {
		j, err := ParseItemJID(user, c.attr)
		switch {
		case c.cond == "" && (err != nil || j.String() != c.want):
			t.Errorf("ParseItemJID(%q) = %v, %v; want %s", c.attr, j, err, c.want)
		case c.cond != "" && (err == nil || err.Condition != c.cond || !j.IsZero()):
			t.Errorf("ParseItemJID(%q) = %v, %v; want %s", c.attr, j, err, c.cond)
		}
	}
}

func TestValidateRemove(t *testing.T) {
	it := Item{JID: "romeo@example.net", State: st(t, "Both")}
	if err := ValidateRemove(it, true); err != nil {
		t.Errorf("existing item: %v", err)
	}
	if err := ValidateRemove(Item{}, false); err == nil || err.Condition != stanza.ItemNotFound {
		t.Errorf("absent item: %v", err)
	}
	pending := Item{JID: "romeo@example.net", State: st(t, "None + Pending In"), RequestOnly: true}
	if err := ValidateRemove(pending, true); err == nil || err.Condition != stanza.ItemNotFound {
		t.Errorf("request-only record: %v", err)
	}
}

func TestCheckCapacity(t *testing.T) {
	if err := CheckCapacity(999, Limits{}); err != nil {
		t.Errorf("999 of 1000: %v", err)
	}
	if err := CheckCapacity(1000, Limits{}); err == nil || err.Condition != stanza.NotAcceptable {
		t.Errorf("1000 of 1000: %v", err)
	}
	if err := CheckCapacity(2, Limits{MaxItems: 2}); err == nil {
		t.Error("2 of 2 accepted")
	}
}

func TestSetErrorStanza(t *testing.T) {
	for _, c := range []struct {
		cond stanza.Condition
		typ  stanza.ErrorType
	}{
		{stanza.BadRequest, stanza.Modify},    // 2.3.3 examples
		{stanza.NotAcceptable, stanza.Modify}, // 2.3.3 examples
		{stanza.ItemNotFound, stanza.Modify},  // 2.5.3 example
		{stanza.JIDMalformed, stanza.Modify},
		{stanza.NotAllowed, stanza.Cancel},
	} {
		e := &SetError{c.cond, "text"}
		se := e.Stanza()
		if se.Condition != c.cond || se.Type != c.typ || se.Text != "text" {
			t.Errorf("%s: %+v", c.cond, se)
		}
		if e.Error() != "roster: "+string(c.cond)+": text" {
			t.Errorf("Error() = %q", e.Error())
		}
	}
}

func TestDefaultLimits(t *testing.T) {
	if got := (Limits{}).norm(); got != DefaultLimits() {
		t.Errorf("zero limits = %+v", got)
	}
	if got := (Limits{MaxName: -1, MaxItems: 5}).norm(); got.MaxName != 1023 || got.MaxItems != 5 {
		t.Errorf("norm = %+v", got)
	}
}
