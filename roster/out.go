package roster

// OutDecision is what the user's server does with a subscription stanza the
// user sends to a contact (RFC 6121 A.2). The caller performs the effects in
// this order: SendUnavailable, Route, Push, SendAvailable (3.2.2 sends
// unavailable presence before the "unsubscribed"; 3.1.2 and 3.1.5 route,
// then push, then send presence).
type OutDecision struct {
	// Next is the contact's new state. It equals the current state when
	// nothing changes.
	Next State
	// Route: deliver the stanza to a local contact or route it to the
	// contact's domain, stamped with the user's bare JID (RFC 6121 3,
	// Implementation Note), addressed to the contact's bare JID (3.1.2
	// item 1).
	Route bool
	// Push: send a roster push of the item to the user's interested
	// resources (2.1.6, 2.2). Push is set when the item is created or what
	// it shows a client (subscription, ask, approved) changes, and where a
	// section demands a push although nothing visible changed (3.2.2 item
	// 3, a denial). Per 2.6.3
	// a push is a roster modification: the roster version moves with it.
	Push bool
	// Presence is presence the server sends the contact for the user.
	Presence PresenceAction
	// CreateItem: the user had no roster item for the contact and now has
	// one, holding Next (3.1.2; 3.1.5; 3.4.2 item 4). If the user had no
	// item and CreateItem is false, the user still has none, and Next is
	// "None" or "None + Pending In" (State.Itemless).
	CreateItem bool
	// DropPending: the stored inbound request from the contact (3.1.3 item
	// 4) is answered, by approval or denial, and must be deleted.
	DropPending bool
}

// Outbound decides the processing of a subscription stanza of kind k that
// the user sends to a contact whose current state is cur; exists reports
// whether the user has a roster item for the contact (Item.Visible).
//
// The routing and the new state are those of RFC 6121 A.2, Tables 2 to 5,
// row for row. What the tables leave to the prose is decided here with the
// section cited in the code. Pre-approval (3.4) is supported.
//
// Inputs outside the state machine (an invalid state, a state that needs an
// item while exists is false, an unknown kind) get a decision that changes
// nothing and does nothing.
func Outbound(cur State, exists bool, k Kind) OutDecision {
	d := OutDecision{Next: cur}
	if !admissible(cur, exists, k) {
		return d
	}
	c, next := lookup(outTables[k], cur)
	switch k {
	case Subscribe:
		// A.2.1 Table 2: MUST route in every row. 3.1.2: after routing,
		// the server MUST push the potential contact with ask='subscribe',
		// so a contact the user never added gets an item now.
		d.Route = c.v == must
		d.Next = next
		d.CreateItem = !exists

	case Unsubscribe:
		// A.2.2 Table 3: MUST route in every row; 3.3.2: push the item,
		// now "none" or "from".
		d.Route = c.v == must
		d.Next = next

	case Subscribed:
		switch {
		case c.v == must:
			// A.2.3 Table 4 "None + Pending In", "None + Pending Out+In",
			// "To + Pending In"; 3.4.2 item 2: a normal approval (3.1.5):
			// route, push the item (created if the request was all the
			// user had, 3.1.3 Security Warning), then send the user's
			// current presence to the new subscriber (3.1.5: "MUST then
			// also send current presence to the user from each of the
			// contact's available resources").
			d.Route = true
			d.Next = next
			d.Presence = SendAvailable
			d.CreateItem = !exists
		case c.note == notePreApproval:
			// Table 4 [1]; 3.4.2 item 3: note the pre-approval and push,
			// MUST NOT route; item 4: a contact not yet in the roster gets
			// an item in state "None" with approved='true'.
			next.Approved = true
			d.Next = next
			d.CreateItem = !exists
		default:
			// Table 4 "From", "From + Pending Out", "Both" (M.N., no state
			// change); 3.4.2 item 1: MUST silently ignore.
		}

	case Unsubscribed:
		switch {
		case c.v == must:
			// A.2.4 Table 5 MUST rows; 3.2.2 item 3: route the
			// "unsubscribed" and MUST push to the user. When it cancels the
			// contact's subscription, unavailable presence goes first,
			// "while the user is still subscribed" (3.2.2). When it only
			// denies a pending request there was no subscription and no
			// presence to withdraw, so none is sent (see DESIGN.md).
			d.Route = true
			d.Next = next
			d.Push = exists
			if cur.Sub.HasFrom() {
				d.Presence = SendUnavailable
			}
		case cur.Approved:
			// Table 5 [1]; 3.2.2 item 2: remove the pre-approval and MUST
			// NOT route; 3.4.2 (Implementation Note): push the item with
			// the 'approved' attribute removed.
			next.Approved = false
			d.Next = next
		default:
			// Table 5 S.N. rows without a pre-approval; 3.2.2 item 1:
			// SHOULD NOT route, and no state change. Herald does not route.
		}
	}
	d.DropPending = cur.PendingIn && !d.Next.PendingIn
	if d.CreateItem || (exists && cur.wire() != d.Next.wire()) {
		d.Push = true
	}
	return d
}

// admissible reports whether the tables answer (cur, exists, k): a valid
// state, an item wherever the state needs one, and one of the four kinds.
func admissible(cur State, exists bool, k Kind) bool {
	return cur.Valid() && (exists || cur.Itemless()) && k >= Subscribe && k <= Unsubscribed
}
