package roster

// This file is RFC 6121 Appendix A transcribed as data: one array per table,
// one element per row, in the RFC's row order, so that each can be read
// side by side with the RFC. Outbound (out.go) and Inbound (in.go) look the
// row up and then apply what the footnotes and the prose of sections 3.1 to
// 3.4 add. Nothing else in Herald decides a subscription state.

// idx is a row of the tables: one of the nine states of A.1, in the RFC's
// order. The pre-approval flag is not part of it; the tables do not know it.
type idx uint8

const (
	iNone             idx = iota // "None"
	iNonePendingOut              // "None + Pending Out"
	iNonePendingIn               // "None + Pending In"
	iNonePendingOutIn            // "None + Pending Out+In"
	iTo                          // "To"
	iToPendingIn                 // "To + Pending In"
	iFrom                        // "From"
	iFromPendingOut              // "From + Pending Out"
	iBoth                        // "Both"
)

// nine maps a row to its state.
var nine = [...]State{
	iNone:             {},
	iNonePendingOut:   {PendingOut: true},
	iNonePendingIn:    {PendingIn: true},
	iNonePendingOutIn: {PendingOut: true, PendingIn: true},
	iTo:               {Sub: To},
	iToPendingIn:      {Sub: To, PendingIn: true},
	iFrom:             {Sub: From},
	iFromPendingOut:   {Sub: From, PendingOut: true},
	iBoth:             {Sub: Both},
}

// row returns the table row of a valid state (the flag aside).
func (s State) row() idx {
	var i idx
	switch s.Sub {
	case None:
		i = iNone
		if s.PendingOut {
			i++
		}
		if s.PendingIn {
			i += 2
		}
	case To:
		i = iTo
		if s.PendingIn {
			i++
		}
	case From:
		i = iFrom
		if s.PendingOut {
			i++
		}
	default:
		i = iBoth
	}
	return i
}

// verdict is the ROUTE? column of A.2 or the DELIVER? column of A.3.
type verdict uint8

const (
	must      verdict = iota + 1 // MUST route / deliver
	shouldNot                    // "S.N.": SHOULD NOT
	mustNot                      // "M.N.": MUST NOT
)

// note is a row's footnote mark.
type note uint8

const (
	noNote note = iota
	// Table 2 [1]: the state change to pending out sets ask='subscribe'.
	// State.PendingOut is that flag, so the note needs no code.
	noteAsk
	// Table 4 [1]: pre-approval, 3.4.
	notePreApproval
	// Table 5 [1]: can cancel a pre-approval, 3.4.
	noteCancelPreApproval
	// Table 6 [1]: if the user pre-approved, the server MAY auto-reply
	// "subscribed" and move to "From" instead.
	notePreApproved
	// Table 6 [2]: the server SHOULD auto-reply "subscribed".
	noteAutoSubscribed
	// Table 7 [1]: the server SHOULD auto-reply "unsubscribed".
	noteAutoUnsubscribed
)

// cell is one row of a table. For "no state change" next is the row itself.
type cell struct {
	v    verdict
	next idx
	note note
}

// Table 2: processing of outbound "subscribe" stanzas (A.2.1).
var table2 = [...]cell{
	iNone:             {must, iNonePendingOut, noteAsk},
	iNonePendingOut:   {must, iNonePendingOut, noNote},
	iNonePendingIn:    {must, iNonePendingOutIn, noteAsk},
	iNonePendingOutIn: {must, iNonePendingOutIn, noNote},
	iTo:               {must, iTo, noNote},
	iToPendingIn:      {must, iToPendingIn, noNote},
	iFrom:             {must, iFromPendingOut, noteAsk},
	iFromPendingOut:   {must, iFromPendingOut, noNote},
	iBoth:             {must, iBoth, noNote},
}

// Table 3: processing of outbound "unsubscribe" stanzas (A.2.2).
var table3 = [...]cell{
	iNone:             {must, iNone, noNote},
	iNonePendingOut:   {must, iNone, noNote},
	iNonePendingIn:    {must, iNonePendingIn, noNote},
	iNonePendingOutIn: {must, iNonePendingIn, noNote},
	iTo:               {must, iNone, noNote},
	iToPendingIn:      {must, iNonePendingIn, noNote},
	iFrom:             {must, iFrom, noNote},
	iFromPendingOut:   {must, iFrom, noNote},
	iBoth:             {must, iFrom, noNote},
}

// Table 4: processing of outbound "subscribed" stanzas (A.2.3).
var table4 = [...]cell{
	iNone:             {mustNot, iNone, notePreApproval},
	iNonePendingOut:   {mustNot, iNonePendingOut, notePreApproval},
	iNonePendingIn:    {must, iFrom, noNote},
	iNonePendingOutIn: {must, iFromPendingOut, noNote},
	iTo:               {mustNot, iTo, notePreApproval},
	iToPendingIn:      {must, iBoth, noNote},
	iFrom:             {mustNot, iFrom, noNote},
	iFromPendingOut:   {mustNot, iFromPendingOut, noNote},
	iBoth:             {mustNot, iBoth, noNote},
}

// Table 5: processing of outbound "unsubscribed" stanzas (A.2.4).
var table5 = [...]cell{
	iNone:             {shouldNot, iNone, noteCancelPreApproval},
	iNonePendingOut:   {shouldNot, iNonePendingOut, noteCancelPreApproval},
	iNonePendingIn:    {must, iNone, noNote},
	iNonePendingOutIn: {must, iNonePendingOut, noNote},
	iTo:               {shouldNot, iTo, noteCancelPreApproval},
	iToPendingIn:      {must, iTo, noNote},
	iFrom:             {must, iNone, noNote},
	iFromPendingOut:   {must, iNonePendingOut, noNote},
	iBoth:             {must, iTo, noNote},
}

// Table 6: processing of inbound "subscribe" stanzas (A.3.1).
var table6 = [...]cell{
	iNone:             {must, iNonePendingIn, notePreApproved},
	iNonePendingOut:   {must, iNonePendingOutIn, noNote},
	iNonePendingIn:    {shouldNot, iNonePendingIn, noNote},
	iNonePendingOutIn: {shouldNot, iNonePendingOutIn, noNote},
	iTo:               {must, iToPendingIn, noNote},
	iToPendingIn:      {shouldNot, iToPendingIn, noNote},
	iFrom:             {shouldNot, iFrom, noteAutoSubscribed},
	iFromPendingOut:   {shouldNot, iFromPendingOut, noteAutoSubscribed},
	iBoth:             {shouldNot, iBoth, noteAutoSubscribed},
}

// Table 7: processing of inbound "unsubscribe" stanzas (A.3.2).
var table7 = [...]cell{
	iNone:             {shouldNot, iNone, noNote},
	iNonePendingOut:   {shouldNot, iNonePendingOut, noNote},
	iNonePendingIn:    {must, iNone, noteAutoUnsubscribed},
	iNonePendingOutIn: {must, iNonePendingOut, noteAutoUnsubscribed},
	iTo:               {shouldNot, iTo, noNote},
	iToPendingIn:      {must, iTo, noteAutoUnsubscribed},
	iFrom:             {must, iNone, noteAutoUnsubscribed},
	iFromPendingOut:   {must, iNonePendingOut, noteAutoUnsubscribed},
	iBoth:             {must, iTo, noteAutoUnsubscribed},
}

// Table 8: processing of inbound "subscribed" stanzas (A.3.3).
var table8 = [...]cell{
	iNone:             {shouldNot, iNone, noNote},
	iNonePendingOut:   {must, iTo, noNote},
	iNonePendingIn:    {shouldNot, iNonePendingIn, noNote},
	iNonePendingOutIn: {must, iToPendingIn, noNote},
	iTo:               {shouldNot, iTo, noNote},
	iToPendingIn:      {shouldNot, iToPendingIn, noNote},
	iFrom:             {shouldNot, iFrom, noNote},
	iFromPendingOut:   {must, iBoth, noNote},
	iBoth:             {shouldNot, iBoth, noNote},
}

// Table 9: processing of inbound "unsubscribed" stanzas (A.3.4).
var table9 = [...]cell{
	iNone:             {shouldNot, iNone, noNote},
	iNonePendingOut:   {must, iNone, noNote},
	iNonePendingIn:    {shouldNot, iNonePendingIn, noNote},
	iNonePendingOutIn: {must, iNonePendingIn, noNote},
	iTo:               {must, iNone, noNote},
	iToPendingIn:      {must, iNonePendingIn, noNote},
	iFrom:             {shouldNot, iFrom, noNote},
	iFromPendingOut:   {must, iFrom, noNote},
	iBoth:             {must, iFrom, noNote},
}

// outTables and inTables select a table by stanza kind.
var (
	outTables = [...]*[9]cell{Subscribe: &table2, Unsubscribe: &table3, Subscribed: &table4, Unsubscribed: &table5}
	inTables  = [...]*[9]cell{Subscribe: &table6, Unsubscribe: &table7, Subscribed: &table8, Unsubscribed: &table9}
)

// lookup returns the row of table t for cur, and the row's new state with
// cur's pre-approval carried over. No row of a table leads from a state that
// can hold a pre-approval ("None", "None + Pending Out", "To") to one that
// cannot, except the ones Outbound and Inbound handle themselves (approving
// a request), so carrying the flag keeps the state valid; the totality test
// holds this in place.
func lookup(t *[9]cell, cur State) (cell, State) {
	c := t[cur.row()]
	next := nine[c.next]
	next.Approved = cur.Approved
	return c, next
}
