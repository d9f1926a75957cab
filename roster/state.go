package roster

import "strconv"

// Subscription is the primary subscription state of RFC 6121 A.1 (and the
// values of the 'subscription' attribute, 2.1.2.5), seen from the user.
type Subscription uint8

const (
	None Subscription = iota // neither is subscribed to the other
	To                       // the user is subscribed to the contact's presence
	From                     // the contact is subscribed to the user's presence
	Both                     // the union of To and From
)

// String returns the value of the 'subscription' attribute (2.1.2.5).
func (s Subscription) String() string {
	switch s {
	case None:
		return "none"
	case To:
		return "to"
	case From:
		return "from"
	case Both:
		return "both"
	}
	return "Subscription(" + strconv.Itoa(int(s)) + ")"
}

// HasTo reports whether the user is subscribed to the contact (To or Both).
func (s Subscription) HasTo() bool { return s == To || s == Both }

// HasFrom reports whether the contact is subscribed to the user (From or
// Both).
func (s Subscription) HasFrom() bool { return s == From || s == Both }

// State is the complete subscription state of one contact from the user's
// perspective: one of the nine states of RFC 6121 A.1, plus the pre-approval
// flag of 3.4 (the 'approved' attribute, 2.1.2.1).
//
// The zero State is "None": no subscription either way and nothing pending,
// which is also the state of a contact that is not in the roster at all
// (A.1, Implementation Note).
type State struct {
	Sub        Subscription
	PendingOut bool // the user asked the contact (ask='subscribe', 2.1.2.2)
	PendingIn  bool // the contact asked the user and awaits an answer (3.1.3)
	Approved   bool // the user pre-approved the contact (approved='true', 3.4)
}

// Valid reports whether s is one of the states AllStates lists:
//
//   - PendingIn is impossible once the contact is subscribed (From, Both):
//     there is nothing left to ask for (A.1 lists no "From + Pending In").
//   - PendingOut is impossible once the user is subscribed (To, Both), for
//     the same reason (A.1 lists no "To + Pending Out").
//   - Approved only exists while the contact has no subscription from the
//     user and no request pending: a pre-approval is noted only in "None",
//     "None + Pending Out" and "To" (3.4.2 item 3). An inbound request
//     meets a pre-approval with an automatic approval instead of becoming
//     pending (3.4.2), and an outbound "subscribed" meets a pending request
//     with an approval instead of a pre-approval (A.2.3, Table 4), so
//     Approved with PendingIn is unreachable.
func (s State) Valid() bool {
	switch {
	case s.Sub > Both:
		return false
	case s.PendingIn && s.Sub.HasFrom():
		return false
	case s.PendingOut && s.Sub.HasTo():
		return false
	case s.Approved && (s.Sub.HasFrom() || s.PendingIn):
		return false
	}
	return true
}

// Name returns the state's name exactly as RFC 6121 A.1 spells it ("None +
// Pending Out+In", "From + Pending Out"), with " + Approved" appended when
// the pre-approval flag is set. An invalid state is named by its fields.
func (s State) Name() string {
	if !s.Valid() {
		return "invalid(sub=" + s.Sub.String() +
			" out=" + strconv.FormatBool(s.PendingOut) +
			" in=" + strconv.FormatBool(s.PendingIn) +
			" approved=" + strconv.FormatBool(s.Approved) + ")"
	}
	n := [...]string{None: "None", To: "To", From: "From", Both: "Both"}[s.Sub]
	switch {
	case s.PendingOut && s.PendingIn:
		n += " + Pending Out+In"
	case s.PendingOut:
		n += " + Pending Out"
	case s.PendingIn:
		n += " + Pending In"
	}
	if s.Approved {
		n += " + Approved"
	}
	return n
}

// String returns Name, so that states print readably in tests and logs.
func (s State) String() string { return s.Name() }

// AllStates returns every valid state: the nine states of A.1 in the RFC's
// order, then the three that can carry a pre-approval ("None", "None +
// Pending Out" and "To", 3.4.2 item 3) with Approved set.
func AllStates() []State {
	all := make([]State, 0, len(nine)+3)
	all = append(all, nine[:]...)
	for _, s := range nine {
		s.Approved = true
		if s.Valid() {
			all = append(all, s)
		}
	}
	return all
}

// Itemless reports whether s can be held without a roster item: a contact
// the user never added is in state "None", or "None + Pending In" while its
// request waits for the user (A.1 state 3; 3.1.3, Security Warning). Every
// other state implies an item.
func (s State) Itemless() bool {
	return s == State{} || s == State{PendingIn: true}
}

// wire is what a roster item shows a client of its state (2.1.2): the
// subscription attribute, ask='subscribe' and approved='true'. PendingIn
// has no attribute.
type wire struct {
	sub      Subscription
	ask      bool
	approved bool
}

func (s State) wire() wire { return wire{s.Sub, s.PendingOut, s.Approved} }

// Kind is the type of a subscription-related presence stanza (RFC 6121 3).
// The zero Kind is no stanza at all.
type Kind uint8

const (
	Subscribe Kind = iota + 1
	Subscribed
	Unsubscribe
	Unsubscribed
)

// kinds lists the four kinds in the order of RFC 6121 A.2.
var kinds = [...]Kind{Subscribe, Unsubscribe, Subscribed, Unsubscribed}

// ParseKind maps a presence 'type' attribute to a Kind. Every other type
// (available, unavailable, probe, error) reports false: those are not
// subscription stanzas.
func ParseKind(presenceType string) (Kind, bool) {
	switch presenceType {
	case "subscribe":
		return Subscribe, true
	case "subscribed":
		return Subscribed, true
	case "unsubscribe":
		return Unsubscribe, true
	case "unsubscribed":
		return Unsubscribed, true
	}
	return 0, false
}

// String returns the presence 'type' attribute value of k.
func (k Kind) String() string {
	switch k {
	case Subscribe:
		return "subscribe"
	case Subscribed:
		return "subscribed"
	case Unsubscribe:
		return "unsubscribe"
	case Unsubscribed:
		return "unsubscribed"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// PresenceAction is presence the user's server must send to the contact on
// the user's behalf as part of a subscription change.
//
// SendUnavailable goes out before the routed stanza or auto-reply
// (3.2.2: "while the user is still subscribed"); SendAvailable goes out
// after it (3.1.5: "then also send current presence").
type PresenceAction uint8

const (
	NoPresence PresenceAction = iota
	// SendAvailable: send the last broadcast presence of each of the
	// user's available resources to the contact (3.1.5); nothing when the
	// user has no available resource.
	SendAvailable
	// SendUnavailable: send presence of type "unavailable" from each of the
	// user's available resources to the contact (3.2.2, 3.3.3 item 3).
	SendUnavailable
)

// String names the action.
func (p PresenceAction) String() string {
	switch p {
	case NoPresence:
		return "none"
	case SendAvailable:
		return "available"
	case SendUnavailable:
		return "unavailable"
	}
	return "PresenceAction(" + strconv.Itoa(int(p)) + ")"
}
