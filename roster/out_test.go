package roster

import "testing"

// outCase is one row of an A.2 table, or a case a section adds to it (cite
// names the section). Every field of OutDecision is asserted.
type outCase struct {
	cite     string // "" for the table's own rows
	cur      string
	noItem   bool // the user has no roster item for the contact
	next     string
	route    bool
	push     bool
	presence PresenceAction
	create   bool
	drop     bool
}

func runOut(t *testing.T, table string, k Kind, cases []outCase) {
	t.Helper()
	curs, exists, cites := make([]string, len(cases)), make([]bool, len(cases)), make([]string, len(cases))
	for i, c := range cases {
		curs[i], exists[i], cites[i] = c.cur, !c.noItem, c.cite
	}
	checkRows(t, table, curs, exists, cites)
	for _, c := range cases {
		t.Run(label(table, c.cur, !c.noItem, c.cite), func(t *testing.T) {
			want := OutDecision{
				Next:        st(t, c.next),
				Route:       c.route,
				Push:        c.push,
				Presence:    c.presence,
				CreateItem:  c.create,
				DropPending: c.drop,
			}
			if got := Outbound(st(t, c.cur), !c.noItem, k); got != want {
				t.Errorf("Outbound(%s, %s)\n got %+v\nwant %+v", c.cur, k, got, want)
			}
		})
	}
}

// A.2.1, Table 2: outbound "subscribe". MUST route in every row; [1] the
// change to pending out sets ask, so the item is pushed (3.1.2).
func TestTable2OutboundSubscribe(t *testing.T) {
	runOut(t, "A.2.1 Table 2", Subscribe, []outCase{
		{cur: "None", next: "None + Pending Out", route: true, push: true},
		{cur: "None + Pending Out", next: "None + Pending Out", route: true},
		{cur: "None + Pending In", next: "None + Pending Out+In", route: true, push: true},
		{cur: "None + Pending Out+In", next: "None + Pending Out+In", route: true},
		{cur: "To", next: "To", route: true},
		{cur: "To + Pending In", next: "To + Pending In", route: true},
		{cur: "From", next: "From + Pending Out", route: true, push: true},
		{cur: "From + Pending Out", next: "From + Pending Out", route: true},
		{cur: "Both", next: "Both", route: true},

		// 3.1.2: the push names "the potential contact": it gets an item.
		{cite: "3.1.2", cur: "None", noItem: true, next: "None + Pending Out", route: true, push: true, create: true},
		{cite: "3.1.2", cur: "None + Pending In", noItem: true, next: "None + Pending Out+In", route: true, push: true, create: true},
		// 3.4: a pre-approval is untouched by the user's own request.
		{cite: "3.4", cur: "None + Approved", next: "None + Pending Out + Approved", route: true, push: true},
		{cite: "3.4", cur: "None + Pending Out + Approved", next: "None + Pending Out + Approved", route: true},
		{cite: "3.4", cur: "To + Approved", next: "To + Approved", route: true},
	})
}

// A.2.2, Table 3: outbound "unsubscribe". MUST route in every row; push
// when the item changes (3.3.2).
func TestTable3OutboundUnsubscribe(t *testing.T) {
	runOut(t, "A.2.2 Table 3", Unsubscribe, []outCase{
		{cur: "None", next: "None", route: true},
		{cur: "None + Pending Out", next: "None", route: true, push: true},
		{cur: "None + Pending In", next: "None + Pending In", route: true},
		{cur: "None + Pending Out+In", next: "None + Pending In", route: true, push: true},
		{cur: "To", next: "None", route: true, push: true},
		{cur: "To + Pending In", next: "None + Pending In", route: true, push: true},
		{cur: "From", next: "From", route: true},
		{cur: "From + Pending Out", next: "From", route: true, push: true},
		{cur: "Both", next: "From", route: true, push: true},

		// Unsubscribing creates no item.
		{cite: "3.3.2", cur: "None", noItem: true, next: "None", route: true},
		{cite: "3.3.2", cur: "None + Pending In", noItem: true, next: "None + Pending In", route: true},
		// The pre-approval is about the contact's subscription, not the
		// user's: it stays.
		{cite: "3.4", cur: "None + Pending Out + Approved", next: "None + Approved", route: true, push: true},
		{cite: "3.4", cur: "To + Approved", next: "None + Approved", route: true, push: true},
	})
}

// A.2.3, Table 4: outbound "subscribed". Approval of a pending request
// routes, pushes and sends current presence (3.1.5, 3.4.2 item 2);
// otherwise pre-approval (3.4.2 items 3, 4) or silence (item 1).
func TestTable4OutboundSubscribed(t *testing.T) {
	runOut(t, "A.2.3 Table 4", Subscribed, []outCase{
		{cur: "None", next: "None + Approved", push: true},
		{cur: "None + Pending Out", next: "None + Pending Out + Approved", push: true},
		{cur: "None + Pending In", next: "From", route: true, push: true, presence: SendAvailable, drop: true},
		{cur: "None + Pending Out+In", next: "From + Pending Out", route: true, push: true, presence: SendAvailable, drop: true},
		{cur: "To", next: "To + Approved", push: true},
		{cur: "To + Pending In", next: "Both", route: true, push: true, presence: SendAvailable, drop: true},
		{cur: "From", next: "From"},
		{cur: "From + Pending Out", next: "From + Pending Out"},
		{cur: "Both", next: "Both"},

		// 3.4.2 item 4: a contact not in the roster gets an item "None"
		// with approved='true', pushed, not routed.
		{cite: "3.4.2 item 4", cur: "None", noItem: true, next: "None + Approved", push: true, create: true},
		// 3.1.3 Security Warning, 3.1.5: approving a request that is all the
		// user has of the contact adds the contact to the roster.
		{cite: "3.1.5", cur: "None + Pending In", noItem: true, next: "From", route: true, push: true, presence: SendAvailable, create: true, drop: true},
		// A repeated pre-approval changes nothing and pushes nothing.
		{cite: "3.4.2 item 3", cur: "None + Approved", next: "None + Approved"},
		{cite: "3.4.2 item 3", cur: "To + Approved", next: "To + Approved"},
	})
}

// A.2.4, Table 5: outbound "unsubscribed". Cancelling the contact's
// subscription sends unavailable presence first (3.2.2); denying a request
// routes and pushes (3.2.2 item 3); [1] cancels a pre-approval without
// routing (3.2.2 item 2).
func TestTable5OutboundUnsubscribed(t *testing.T) {
	runOut(t, "A.2.4 Table 5", Unsubscribed, []outCase{
		{cur: "None", next: "None"},
		{cur: "None + Pending Out", next: "None + Pending Out"},
		{cur: "None + Pending In", next: "None", route: true, push: true, drop: true},
		{cur: "None + Pending Out+In", next: "None + Pending Out", route: true, push: true, drop: true},
		{cur: "To", next: "To"},
		{cur: "To + Pending In", next: "To", route: true, push: true, drop: true},
		{cur: "From", next: "None", route: true, push: true, presence: SendUnavailable},
		{cur: "From + Pending Out", next: "None + Pending Out", route: true, push: true, presence: SendUnavailable},
		{cur: "Both", next: "To", route: true, push: true, presence: SendUnavailable},

		// Table 5 [1], 3.2.2 item 2: remove the pre-approval, push, do not
		// route.
		{cite: "3.2.2 item 2", cur: "None + Approved", next: "None", push: true},
		{cite: "3.2.2 item 2", cur: "None + Pending Out + Approved", next: "None + Pending Out", push: true},
		{cite: "3.2.2 item 2", cur: "To + Approved", next: "To", push: true},
		// Denying a request from a contact the user never added: route,
		// forget the request, nothing to push.
		{cite: "3.2.2 item 3", cur: "None + Pending In", noItem: true, next: "None", route: true, drop: true},
		// 3.2.2 item 1: a stranger with nothing pending.
		{cite: "3.2.2 item 1", cur: "None", noItem: true, next: "None"},
	})
}
