package roster

import "testing"

// inCase is one row of an A.3 table, or a case a section adds to it (cite
// names the section). Every field of InDecision is asserted.
type inCase struct {
	cite     string // "" for the table's own rows
	cur      string
	noItem   bool // the user has no roster item for the contact
	next     string
	deliver  bool
	reply    Kind
	push     bool
	presence PresenceAction
	keep     bool
	drop     bool
}

func runIn(t *testing.T, table string, k Kind, cases []inCase) {
	t.Helper()
	curs, exists, cites := make([]string, len(cases)), make([]bool, len(cases)), make([]string, len(cases))
	for i, c := range cases {
		curs[i], exists[i], cites[i] = c.cur, !c.noItem, c.cite
	}
	checkRows(t, table, curs, exists, cites)
	for _, c := range cases {
		t.Run(label(table, c.cur, !c.noItem, c.cite), func(t *testing.T) {
			want := InDecision{
				Next:         st(t, c.next),
				Deliver:      c.deliver,
				AutoReply:    c.reply,
				HasAutoReply: c.reply != 0,
				Push:         c.push,
				Presence:     c.presence,
				KeepPending:  c.keep,
				DropPending:  c.drop,
			}
			if got := Inbound(st(t, c.cur), !c.noItem, k); got != want {
				t.Errorf("Inbound(%s, %s)\n got %+v\nwant %+v", c.cur, k, got, want)
			}
		})
	}
}

// A.3.1, Table 6: inbound "subscribe". MUST rows deliver and keep the
// request (3.1.3 items 3, 4); a pending request is not delivered twice;
// [2] an existing subscription is confirmed with "subscribed" (3.1.3 item
// 2) and current presence (3.1.5). Pending In has no wire attribute, so
// nothing is pushed.
func TestTable6InboundSubscribe(t *testing.T) {
	runIn(t, "A.3.1 Table 6", Subscribe, []inCase{
		{cur: "None", next: "None + Pending In", deliver: true, keep: true},
		{cur: "None + Pending Out", next: "None + Pending Out+In", deliver: true, keep: true},
		{cur: "None + Pending In", next: "None + Pending In"},
		{cur: "None + Pending Out+In", next: "None + Pending Out+In"},
		{cur: "To", next: "To + Pending In", deliver: true, keep: true},
		{cur: "To + Pending In", next: "To + Pending In"},
		{cur: "From", next: "From", reply: Subscribed, presence: SendAvailable},
		{cur: "From + Pending Out", next: "From + Pending Out", reply: Subscribed, presence: SendAvailable},
		{cur: "Both", next: "Both", reply: Subscribed, presence: SendAvailable},

		// A.1 state 3, 3.1.3 Security Warning: a stranger's request is
		// kept and delivered, but no item is created.
		{cite: "3.1.3", cur: "None", noItem: true, next: "None + Pending In", deliver: true, keep: true},
		{cite: "3.1.3 item 4", cur: "None + Pending In", noItem: true, next: "None + Pending In"},
		// Table 6 [1], 3.4.2: a pre-approved request is answered
		// "subscribed", not delivered; the pre-approval is spent.
		{cite: "Table 6 [1], 3.4.2", cur: "None + Approved", next: "From", reply: Subscribed, push: true, presence: SendAvailable},
		{cite: "3.4.2", cur: "None + Pending Out + Approved", next: "From + Pending Out", reply: Subscribed, push: true, presence: SendAvailable},
		{cite: "3.4.2", cur: "To + Approved", next: "Both", reply: Subscribed, push: true, presence: SendAvailable},
	})
}

// A.3.2, Table 7: inbound "unsubscribe". A change is delivered with [1]
// an "unsubscribed" auto-reply; the end of the contact's subscription sends
// it unavailable presence (3.3.3 item 3); a withdrawn request is deleted.
func TestTable7InboundUnsubscribe(t *testing.T) {
	runIn(t, "A.3.2 Table 7", Unsubscribe, []inCase{
		{cur: "None", next: "None"},
		{cur: "None + Pending Out", next: "None + Pending Out"},
		{cur: "None + Pending In", next: "None", deliver: true, reply: Unsubscribed, drop: true},
		{cur: "None + Pending Out+In", next: "None + Pending Out", deliver: true, reply: Unsubscribed, drop: true},
		{cur: "To", next: "To"},
		{cur: "To + Pending In", next: "To", deliver: true, reply: Unsubscribed, drop: true},
		{cur: "From", next: "None", deliver: true, reply: Unsubscribed, push: true, presence: SendUnavailable},
		{cur: "From + Pending Out", next: "None + Pending Out", deliver: true, reply: Unsubscribed, push: true, presence: SendUnavailable},
		{cur: "Both", next: "To", deliver: true, reply: Unsubscribed, push: true, presence: SendUnavailable},

		// 3.3.3, last paragraph: the record of a stranger's request is
		// removed; Table 7 still delivers (see DESIGN.md).
		{cite: "3.3.3", cur: "None + Pending In", noItem: true, next: "None", deliver: true, reply: Unsubscribed, drop: true},
		{cite: "3.3.3", cur: "None", noItem: true, next: "None"},
		// The user's pre-approval is not the contact's to withdraw.
		{cite: "3.4", cur: "None + Approved", next: "None + Approved"},
		{cite: "3.4", cur: "To + Approved", next: "To + Approved"},
	})
}

// A.3.3, Table 8: inbound "subscribed". Only a pending outbound request
// becomes a subscription (3.1.6); everything else is silently ignored.
func TestTable8InboundSubscribed(t *testing.T) {
	runIn(t, "A.3.3 Table 8", Subscribed, []inCase{
		{cur: "None", next: "None"},
		{cur: "None + Pending Out", next: "To", deliver: true, push: true},
		{cur: "None + Pending In", next: "None + Pending In"},
		{cur: "None + Pending Out+In", next: "To + Pending In", deliver: true, push: true},
		{cur: "To", next: "To"},
		{cur: "To + Pending In", next: "To + Pending In"},
		{cur: "From", next: "From"},
		{cur: "From + Pending Out", next: "Both", deliver: true, push: true},
		{cur: "Both", next: "Both"},

		// 3.1.6: not in the roster, silently ignored.
		{cite: "3.1.6", cur: "None", noItem: true, next: "None"},
		{cite: "3.1.6", cur: "None + Pending In", noItem: true, next: "None + Pending In"},
		// The pre-approval survives the contact's approval of the user.
		{cite: "3.4", cur: "None + Pending Out + Approved", next: "To + Approved", deliver: true, push: true},
		{cite: "3.4", cur: "None + Approved", next: "None + Approved"},
	})
}

// A.3.4, Table 9: inbound "unsubscribed". A pending request or the user's
// subscription ends (3.2.3); everything else is silently ignored.
func TestTable9InboundUnsubscribed(t *testing.T) {
	runIn(t, "A.3.4 Table 9", Unsubscribed, []inCase{
		{cur: "None", next: "None"},
		{cur: "None + Pending Out", next: "None", deliver: true, push: true},
		{cur: "None + Pending In", next: "None + Pending In"},
		{cur: "None + Pending Out+In", next: "None + Pending In", deliver: true, push: true},
		{cur: "To", next: "None", deliver: true, push: true},
		{cur: "To + Pending In", next: "None + Pending In", deliver: true, push: true},
		{cur: "From", next: "From"},
		{cur: "From + Pending Out", next: "From", deliver: true, push: true},
		{cur: "Both", next: "From", deliver: true, push: true},

		{cite: "3.2.3", cur: "None", noItem: true, next: "None"},
		{cite: "3.2.3", cur: "None + Pending In", noItem: true, next: "None + Pending In"},
		// The user's pre-approval of the contact is independent of the
		// contact's answer to the user.
		{cite: "3.4", cur: "To + Approved", next: "None + Approved", deliver: true, push: true},
		{cite: "3.4", cur: "None + Pending Out + Approved", next: "None + Approved", deliver: true, push: true},
	})
}
