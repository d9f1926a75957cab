package roster

// NSRoster is the roster namespace (RFC 6121 2.1).
const NSRoster = "jabber:iq:roster"

// Item is one contact of a user's roster (RFC 6121 2.1.2), or the record the
// server keeps of a contact that has only asked for a subscription.
type Item struct {
	JID    string   // the contact's bare JID, in canonical form (2.1.2.3)
	Name   string   // the user's handle for the contact, opaque (2.1.2.4)
	Groups []string // the user's groups, opaque, no duplicates (2.1.2.6)
	State  State

	// RequestOnly marks a record that exists only to hold an inbound
	// subscription request the user has not answered, for a contact the
	// user never added: state "None + Pending In" without a roster item
	// (A.1 state 3; 3.1.3, Security Warning). It is not part of the roster:
	// not returned, not pushed, not removable. A roster set for its JID
	// turns it into an item (RequestOnly false) keeping its State; an
	// approval does the same (OutDecision.CreateItem).
	RequestOnly bool

	// Removed marks an item in a roster push that announces its deletion
	// (2.5.2): only JID is meaningful, and the subscription attribute is
	// "remove".
	Removed bool
}

// Visible reports whether the item is part of the user's roster, that is
// whether the user created it (or approved the contact). It is the exists
// argument of Outbound and Inbound.
func (it Item) Visible() bool { return !it.RequestOnly }

// Valid reports whether the record is one a store may hold: a valid state,
// and a request-only record holds nothing but a pending request.
func (it Item) Valid() bool {
	if !it.State.Valid() || it.JID == "" {
		return false
	}
	if it.RequestOnly {
		return it.State == State{PendingIn: true} && it.Name == "" && len(it.Groups) == 0 && !it.Removed
	}
	return true
}

// SubscriptionAttr returns the 'subscription' attribute of the item in a
// roster result or push: "none", "to", "from" or "both" (2.1.2.5), or
// "remove" for a removed item (2.5.2). Pending states show the primary
// state: "None + Pending In" is "none", "To + Pending In" is "to" (A.1).
func (it Item) SubscriptionAttr() string {
	if it.Removed {
		return "remove"
	}
	return it.State.Sub.String()
}

// Ask reports whether the item carries ask='subscribe': the user's request
// to the contact is pending (2.1.2.2, A.1).
func (it Item) Ask() bool { return !it.Removed && it.State.PendingOut }

// Approved reports whether the item carries approved='true': the user
// pre-approved the contact (2.1.2.1, 3.4.2). Herald includes the attribute,
// as 2.1.2.1 says it SHOULD.
func (it Item) Approved() bool { return !it.Removed && it.State.Approved }

// RemovalStanzas returns the subscription stanzas the user's server sends to
// the contact when the user deletes the item (2.5.2), in order:
//
//   - "unsubscribe" if the user is subscribed to the contact (To, Both;
//     2.5.2 items 1 and 3, MUST), and also if the user's request is still
//     pending ("… + Pending Out"), to withdraw it;
//   - "unsubscribed" if the contact is subscribed to the user (From, Both;
//     2.5.2 items 2 and 3, MUST), and also if the contact's request is
//     still pending ("… + Pending In"), to deny it.
//
// The two pending cases go beyond 2.5.2: without them the contact would keep
// a request open, or keep asking, for an item that no longer exists. A
// pre-approval needs no stanza; it was never routed (3.4.2) and dies with
// the item (3.4.2, Implementation Note).
//
// The caller feeds each stanza through Outbound in order, acting on its
// Route, Presence and DropPending (the "unsubscribed" that ends a
// subscription is preceded by unavailable presence, 3.2.2), but not on its
// Push: the deletion itself is pushed once, with subscription='remove'.
// Folding Outbound over the result leaves "None" (with any pre-approval),
// and then the record is deleted.
func RemovalStanzas(s State) []Kind {
	var ks []Kind
	if s.Sub.HasTo() || s.PendingOut {
		ks = append(ks, Unsubscribe)
	}
	if s.Sub.HasFrom() || s.PendingIn {
		ks = append(ks, Unsubscribed)
	}
	return ks
}
