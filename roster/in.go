package roster

// InDecision is what the user's server does with a subscription stanza a
// contact sends to the user (RFC 6121 A.3). The caller performs the effects
// in this order: Deliver, Push (3.1.6 item 1, 3.2.3 item 1, 3.3.3 item 1:
// delivery "MUST occur before sending the roster push"), SendUnavailable,
// the auto-reply, SendAvailable (the PresenceAction ordering).
//
// An auto-reply is routed to the contact as it is, from the user's bare JID.
// It is not fed back through Outbound: its effect on the user's state is
// already in Next. Auto-replies are only ever "subscribed" or "unsubscribed",
// and neither earns an auto-reply from the other side, so an exchange
// between two local users ends after at most three steps (outbound, inbound,
// inbound auto-reply).
type InDecision struct {
	// Next is the contact's new state. It equals the current state when
	// nothing changes. Inbound never creates a roster item (3.1.3, Security
	// Warning): if the user had none, Next is "None" or "None + Pending In".
	Next State
	// Deliver: the user must see the stanza. For "subscribe" that means
	// every available resource (3.1.3 item 3), or, with none available,
	// at the next available presence from the stored request (KeepPending,
	// 3.1.3 item 4). For the others the sections name the interested
	// resources (3.1.6, 3.2.3, 3.3.3).
	Deliver bool
	// AutoReply is the kind the server sends back to the contact on the
	// user's behalf, 0 for none. HasAutoReply reports whether there is one.
	AutoReply    Kind
	HasAutoReply bool
	// Push: send a roster push of the item to the user's interested
	// resources: the item's subscription, ask or approved changed.
	Push bool
	// Presence is presence the server sends the contact for the user.
	Presence PresenceAction
	// KeepPending: store the complete request stanza until the user
	// answers it, and deliver it at each new available resource until then
	// (3.1.3 item 4).
	KeepPending bool
	// DropPending: the stored request is void (the contact withdrew it with
	// "unsubscribe", 3.3.3) and must be deleted.
	DropPending bool
}

// Inbound decides the processing of a subscription stanza of kind k from a
// contact whose current state (from the user's perspective) is cur; exists
// reports whether the user has a roster item for the contact
// (Item.Visible).
//
// Delivery and the new state are those of RFC 6121 A.3, Tables 6 to 9, row
// for row, with the footnotes and the prose of 3.1.3, 3.1.6, 3.2.3, 3.3.3
// and 3.4.2 cited in the code.
//
// Inputs outside the state machine get a decision that changes nothing and
// does nothing, as for Outbound.
func Inbound(cur State, exists bool, k Kind) InDecision {
	d := InDecision{Next: cur}
	if !admissible(cur, exists, k) {
		return d
	}
	c, next := lookup(inTables[k], cur)
	switch k {
	case Subscribe:
		switch {
		case c.note == noteAutoSubscribed:
			// A.3.1 Table 6 "From", "From + Pending Out", "Both": SHOULD NOT
			// deliver, no state change, [2] SHOULD auto-reply "subscribed";
			// 3.1.3 item 2 makes the auto-reply a MUST. The contact asks
			// again because it lost track of the subscription it has, so it
			// also gets the user's current presence, as after any approval
			// (3.1.5).
			d.AutoReply = Subscribed
			d.Presence = SendAvailable
		case cur.Approved:
			// 3.4.2: with approved='true' the server MUST NOT deliver the
			// request and MUST auto-reply "subscribed". Table 6 [1] (MAY)
			// also moves the state on as if the user had approved: the
			// inbound row, then the approval row of Table 4, so "None" ->
			// "From", "None + Pending Out" -> "From + Pending Out", "To" ->
			// "Both". The pre-approval is spent (3.4.2, first
			// Implementation Note: keeping it is local policy; Herald does
			// not). Current presence follows the approval (3.1.5).
			_, next = lookup(&table4, next)
			next.Approved = false
			d.Next = next
			d.AutoReply = Subscribed
			d.Presence = SendAvailable
		case c.v == must:
			// Table 6 MUST rows; 3.1.3 items 1, 3, 4: never approve on the
			// user's behalf; deliver, and keep the request until answered.
			d.Next = next
			d.Deliver = true
		default:
			// Table 6 "… + Pending In" rows: SHOULD NOT deliver, no state
			// change. 3.1.3 item 4: store only one request per contact;
			// Herald keeps the first.
		}

	case Unsubscribe:
		if c.v == must {
			// A.3.2 Table 7 MUST rows: change the state, deliver, [1]
			// SHOULD auto-reply "unsubscribed". 3.3.3 item 3: when the
			// contact's subscription to the user ends, send it unavailable
			// presence from each available resource. A withdrawn request
			// is deleted (3.3.3, last paragraph).
			d.Next = next
			d.Deliver = true
			d.AutoReply = Unsubscribed
			if cur.Sub.HasFrom() {
				d.Presence = SendUnavailable
			}
		}
		// Otherwise Table 7 S.N.; 3.3.3: MUST NOT change the state, SHOULD
		// NOT deliver.

	case Subscribed:
		// A.3.3 Table 8; 3.1.6: only a pending outbound request turns into
		// a subscription; otherwise silently ignore.
		if c.v == must {
			d.Next = next
			d.Deliver = true
		}

	case Unsubscribed:
		// A.3.4 Table 9; 3.2.3: a pending request or the user's
		// subscription ends; otherwise silently ignore.
		if c.v == must {
			d.Next = next
			d.Deliver = true
		}
	}
	d.HasAutoReply = d.AutoReply != 0
	d.KeepPending = !cur.PendingIn && d.Next.PendingIn
	d.DropPending = cur.PendingIn && !d.Next.PendingIn
	d.Push = exists && cur.wire() != d.Next.wire()
	return d
}
