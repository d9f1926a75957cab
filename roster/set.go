package roster

import (
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"golang.org/x/text/secure/precis"
)

// SetError is a roster set the server refuses (RFC 6121 2.3.3, 2.5.3).
// Condition is one of bad-request, not-acceptable, jid-malformed,
// not-allowed and item-not-found; Text is for humans and carries no
// internal detail. The c2s layer answers with Stanza().
type SetError struct {
	Condition stanza.Condition
	Text      string
}

func (e *SetError) Error() string { return "roster: " + string(e.Condition) + ": " + e.Text }

// Stanza returns the stanza error to answer the roster set with: the
// condition's usual type (RFC 6120 8.3.3), except item-not-found, which
// RFC 6121 2.5.3 shows with type modify.
func (e *SetError) Stanza() *stanza.Error {
	se := stanza.NewError(e.Condition, e.Text)
	if e.Condition == stanza.ItemNotFound {
		se.Type = stanza.Modify
	}
	return se
}

// Limits are the server-configured limits of 2.3.3 and the size of a
// roster. A zero or negative field means its default.
type Limits struct {
	MaxName   int // bytes of the 'name' attribute; default 1023
	MaxGroup  int // bytes of one <group/>; default 1023
	MaxGroups int // <group/> elements in one item; default 64
	MaxItems  int // items in one roster; default 1000
}

// DefaultLimits returns the limits used for zero fields. 1023 bytes is the
// limit RFC 7622 3.1 puts on each part of a JID: a name or a group may hold
// a JID, and no client needs more.
func DefaultLimits() Limits {
	return Limits{MaxName: 1023, MaxGroup: 1023, MaxGroups: 64, MaxItems: 1000}
}

func (l Limits) norm() Limits {
	def := DefaultLimits()
	if l.MaxName <= 0 {
		l.MaxName = def.MaxName
	}
	if l.MaxGroup <= 0 {
		l.MaxGroup = def.MaxGroup
	}
	if l.MaxGroups <= 0 {
		l.MaxGroups = def.MaxGroups
	}
	if l.MaxItems <= 0 {
		l.MaxItems = def.MaxItems
	}
	return l
}

// ValidateSet checks a roster set (2.1.5, 2.3.3, 2.4.3) given the number
// of <item/> children of its <query/>, the item's 'subscription' attribute,
// its 'name' attribute and the text of its <group/> children. It returns
// nil if the set is acceptable.
//
// Decisions, with their sections:
//   - not exactly one item: bad-request (2.1.5 rule 1, 2.3.3);
//   - subscription="remove" deletes the item (2.5.1): name and groups do
//     not matter and are not checked; any other subscription value is
//     ignored, not refused (2.1.2.5, 2.1.5 rule 2: "MUST ignore");
//   - the 'ask' and 'approved' attributes, which a client MUST NOT send
//     (2.1.2.1, 2.1.2.2), are ignored: the caller never reads them, and
//     only presence stanzas change State;
//   - name longer than MaxName bytes: not-acceptable (2.3.3);
//   - an empty group: not-acceptable (2.3.3);
//   - a group longer than MaxGroup bytes: not-acceptable (2.3.3);
//   - more than MaxGroups groups: not-acceptable, a server-configured limit
//     like the others of 2.3.3;
//   - duplicate groups: bad-request (2.3.3). Groups are compared after the
//     PRECIS OpaqueString profile, the comparison 2.3.3 suggests (the
//     resourcepart rules of RFC 7622 3.4), so two spellings of one group
//     that differ only by Unicode normalisation are duplicates.
//
// The 'jid' attribute is checked by ParseItemJID, removal of an absent item
// by ValidateRemove, and the roster's size by CheckCapacity.
func ValidateSet(itemCount int, subscriptionAttr string, name string, groups []string, limits Limits) *SetError {
	if itemCount != 1 {
		// 2.1.5 rule 1: one and only one <item/>; 2.3.3: bad-request.
		return &SetError{stanza.BadRequest, "a roster set contains exactly one item"}
	}
	if subscriptionAttr == "remove" {
		return nil // 2.5.1
	}
	l := limits.norm()
	if len(name) > l.MaxName {
		return &SetError{stanza.NotAcceptable, "the name is too long"} // 2.3.3
	}
	if len(groups) > l.MaxGroups {
		return &SetError{stanza.NotAcceptable, "too many groups"}
	}
	seen := make(map[string]bool, len(groups))
	for _, g := range groups {
		if g == "" {
			// 2.3.3: "to remove an item from all groups, the client
			// instead needs to exclude any <group/> element".
			return &SetError{stanza.NotAcceptable, "a group name is empty"}
		}
		if len(g) > l.MaxGroup {
			return &SetError{stanza.NotAcceptable, "a group name is too long"} // 2.3.3
		}
		key := g
		if k, err := precis.OpaqueString.String(g); err == nil {
			key = k
		}
		if seen[key] {
			return &SetError{stanza.BadRequest, "duplicate group"} // 2.3.3
		}
		seen[key] = true
	}
	return nil
}

// ParseItemJID checks the 'jid' attribute of a roster set item (2.1.2.3)
// sent by the account user and returns the contact's canonical JID, which
// is the item's key.
//
//   - missing: bad-request (2.1.2.3: REQUIRED);
//   - not a JID: jid-malformed (RFC 7622; RFC 6120 8.3.3.8);
//   - a full JID: bad-request. Subscriptions, probes and presence broadcast
//     work on bare JIDs (3.1.1, 4.3), so an item with a resource could never
//     hold a subscription; storing it would only hide the mistake. A
//     domain-only JID (a service, a gateway) is accepted;
//   - the user's own bare JID: not-allowed, as the 2.3.3 Interoperability
//     Note reports of some servers. The user is implicitly subscribed to
//     itself (4.2.2); an item would make the server route subscription
//     stanzas from the account to itself.
func ParseItemJID(user jid.JID, attr string) (jid.JID, *SetError) {
	if attr == "" {
		return jid.JID{}, &SetError{stanza.BadRequest, "the item has no jid"}
	}
	j, err := jid.Parse(attr)
	if err != nil {
		return jid.JID{}, &SetError{stanza.JIDMalformed, "the item's jid is not a valid JID"}
	}
	if !j.IsBare() {
		return jid.JID{}, &SetError{stanza.BadRequest, "roster items are bare JIDs"}
	}
	if j == user.Bare() {
		return jid.JID{}, &SetError{stanza.NotAllowed, "the roster cannot hold its own account"}
	}
	return j, nil
}

// ValidateRemove checks a roster set with subscription="remove" against the
// stored record for its JID (found reports whether there is one): an item
// that is not in the roster is item-not-found (2.5.3). A request-only record
// is not in the roster.
func ValidateRemove(it Item, found bool) *SetError {
	if !found || !it.Visible() {
		return &SetError{stanza.ItemNotFound, "no such item"} // 2.5.3
	}
	return nil
}

// CheckCapacity checks that a roster holding items items can take one more
// (a roster set adding an item, or a CreateItem decision). It answers
// not-acceptable, the condition 2.3.3 gives for exceeding the other
// server-configured limits.
func CheckCapacity(items int, limits Limits) *SetError {
	if items >= limits.norm().MaxItems {
		return &SetError{stanza.NotAcceptable, "the roster is full"}
	}
	return nil
}
