package roster

import (
	"testing"
)

// TestPresenceDecisions: 4.2.2, 4.3.1, 4.3.2, 4.4.2, 4.5.2 for every state.
func TestPresenceDecisions(t *testing.T) {
	for _, c := range []struct {
		state     string
		probe     bool // ProbeOnInitial
		broadcast bool // BroadcastTo
		online    ProbeAnswer
		offline   ProbeAnswer
	}{
		{"None", false, false, ProbeUnsubscribed, ProbeUnsubscribed},
		{"None + Pending Out", false, false, ProbeUnsubscribed, ProbeUnsubscribed},
		{"None + Pending In", false, false, ProbeUnsubscribed, ProbeUnsubscribed},
		{"None + Pending Out+In", false, false, ProbeUnsubscribed, ProbeUnsubscribed},
		{"To", true, false, ProbeUnsubscribed, ProbeUnsubscribed},
		{"To + Pending In", true, false, ProbeUnsubscribed, ProbeUnsubscribed},
		{"From", false, true, ProbePresence, ProbeUnavailable},
		{"From + Pending Out", false, true, ProbePresence, ProbeUnavailable},
		{"Both", true, true, ProbePresence, ProbeUnavailable},
		{"None + Approved", false, false, ProbeUnsubscribed, ProbeUnsubscribed},
		{"None + Pending Out + Approved", false, false, ProbeUnsubscribed, ProbeUnsubscribed},
		{"To + Approved", true, false, ProbeUnsubscribed, ProbeUnsubscribed},
	} {
		s := st(t, c.state)
		if got := ProbeOnInitial(s); got != c.probe {
			t.Errorf("ProbeOnInitial(%s) = %v", s, got)
		}
		if got := BroadcastTo(s); got != c.broadcast {
			t.Errorf("BroadcastTo(%s) = %v", s, got)
		}
		if got := AnswerProbe(s, true); got != c.online {
			t.Errorf("AnswerProbe(%s, available) = %s, want %s", s, got, c.online)
		}
		if got := AnswerProbe(s, false); got != c.offline {
			t.Errorf("AnswerProbe(%s, unavailable) = %s, want %s", s, got, c.offline)
		}
	}
	// An invalid state grants nothing.
	bad := State{Sub: Both, PendingIn: true}
	if ProbeOnInitial(bad) || BroadcastTo(bad) || AnswerProbe(bad, true) != ProbeUnsubscribed {
		t.Error("an invalid state grants presence")
	}
}
