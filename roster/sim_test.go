package roster

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// party is one user's server's record of the other user, and what that
// user has been shown. The simulation runs the user's Outbound and the
// contact's Inbound in sequence, as two servers (or one server, for two
// local users) do, with lossless in-order delivery.
type party struct {
	name      string
	state     State
	exists    bool   // the roster item exists
	stored    bool   // a pending request stanza is stored (3.1.3 item 4)
	delivered []Kind // subscription stanzas shown to the user
	pushes    int
	presence  []PresenceAction // sent to the other party
}

type sim struct {
	t    *testing.T
	a, b *party
}

func newSim(t *testing.T) *sim {
	return &sim{t: t, a: &party{name: "juliet"}, b: &party{name: "romeo"}}
}

func (s *sim) other(p *party) *party {
	if p == s.a {
		return s.b
	}
	return s.a
}

// send: p's user sends a stanza of kind k to the other party.
func (s *sim) send(p *party, k Kind) {
	d := Outbound(p.state, p.exists, k)
	p.state = d.Next
	p.exists = p.exists || d.CreateItem
	if d.DropPending {
		p.stored = false
	}
	if d.Push {
		p.pushes++
	}
	if d.Presence != NoPresence {
		p.presence = append(p.presence, d.Presence)
	}
	if d.Route {
		s.receive(s.other(p), k, 0)
	}
}

// receive: p's server gets a stanza of kind k from the other party; depth
// counts auto-replies.
func (s *sim) receive(p *party, k Kind, depth int) {
	if depth > 1 {
		s.t.Fatalf("auto-reply to an auto-reply: %s receives %s", p.name, k)
	}
	d := Inbound(p.state, p.exists, k)
	p.state = d.Next
	if d.KeepPending {
		p.stored = true
	}
	if d.DropPending {
		p.stored = false
	}
	if d.Deliver {
		p.delivered = append(p.delivered, k)
	}
	if d.Push {
		p.pushes++
	}
	if d.Presence != NoPresence {
		p.presence = append(p.presence, d.Presence)
	}
	if d.HasAutoReply {
		s.receive(s.other(p), d.AutoReply, depth+1)
	}
}

// remove: p's user deletes the item (2.5.2).
func (s *sim) remove(p *party) {
	if ValidateRemove(Item{JID: "x@example.com", State: p.state, RequestOnly: !p.exists}, p.exists) != nil {
		return
	}
	for _, k := range RemovalStanzas(p.state) {
		s.send(p, k)
	}
	if p.state.Sub != None || p.state.PendingOut || p.state.PendingIn {
		s.t.Fatalf("%s: %s after the removal stanzas", p.name, p.state)
	}
	*p = party{name: p.name, delivered: p.delivered, pushes: p.pushes + 1, presence: p.presence}
}

// consistent checks that the two records agree: what one side holds as To
// the other holds as From, and a pending request on one side is pending on
// the other.
func (s *sim) consistent(step string) {
	s.t.Helper()
	a, b := s.a, s.b
	if a.state.Sub.HasTo() != b.state.Sub.HasFrom() || a.state.Sub.HasFrom() != b.state.Sub.HasTo() ||
		a.state.PendingOut != b.state.PendingIn || a.state.PendingIn != b.state.PendingOut {
		s.t.Fatalf("%s: %s has %s, %s has %s", step, a.name, a.state, b.name, b.state)
	}
	for _, p := range []*party{a, b} {
		if p.stored != p.state.PendingIn {
			s.t.Fatalf("%s: %s stored=%v in %s", step, p.name, p.stored, p.state)
		}
		if !p.exists && !p.state.Itemless() {
			s.t.Fatalf("%s: %s has no item in %s", step, p.name, p.state)
		}
	}
}

// TestHandshake: the subscribe/subscribed handshake of 3.1, both ways, from
// strangers to "Both" on both sides.
func TestHandshake(t *testing.T) {
	s := newSim(t)
	s.send(s.a, Subscribe) // 3.1.1-3.1.3
	s.consistent("juliet subscribes")
	if s.a.state != st(t, "None + Pending Out") || !s.a.exists ||
		s.b.state != st(t, "None + Pending In") || s.b.exists || !s.b.stored {
		t.Fatalf("after subscribe: %+v %+v", s.a, s.b)
	}
	s.send(s.b, Subscribed) // 3.1.5, 3.1.6
	s.consistent("romeo approves")
	if s.a.state != st(t, "To") || s.b.state != st(t, "From") || !s.b.exists {
		t.Fatalf("after approval: %s %s", s.a.state, s.b.state)
	}
	s.send(s.b, Subscribe)
	s.send(s.a, Subscribed)
	s.consistent("mutual")
	if s.a.state != st(t, "Both") || s.b.state != st(t, "Both") {
		t.Fatalf("after the second handshake: %s %s", s.a.state, s.b.state)
	}
	if want := []Kind{Subscribed, Subscribe}; !slices.Equal(s.a.delivered, want) {
		t.Errorf("juliet was shown %v, want %v", s.a.delivered, want)
	}
	if want := []Kind{Subscribe, Subscribed}; !slices.Equal(s.b.delivered, want) {
		t.Errorf("romeo was shown %v, want %v", s.b.delivered, want)
	}
	if want := []PresenceAction{SendAvailable}; !slices.Equal(s.a.presence, want) || !slices.Equal(s.b.presence, want) {
		t.Errorf("presence sent: %v %v, want one SendAvailable each", s.a.presence, s.b.presence)
	}

	// Tear down (3.2, 3.3): back to "None", unavailable presence from
	// each side as its contact's subscription ends.
	s.send(s.a, Unsubscribe)
	s.consistent("juliet unsubscribes")
	s.send(s.a, Unsubscribed)
	s.consistent("juliet cancels")
	if s.a.state != (State{}) || s.b.state != (State{}) {
		t.Fatalf("after teardown: %s %s", s.a.state, s.b.state)
	}
	if !slices.Contains(s.a.presence, SendUnavailable) || !slices.Contains(s.b.presence, SendUnavailable) {
		t.Errorf("no unavailable presence on teardown: %v %v", s.a.presence, s.b.presence)
	}
}

// TestCrossedRequests: both users ask before either answers.
func TestCrossedRequests(t *testing.T) {
	s := newSim(t)
	s.send(s.a, Subscribe)
	s.send(s.b, Subscribe)
	s.consistent("crossed")
	if s.a.state != st(t, "None + Pending Out+In") || s.b.state != st(t, "None + Pending Out+In") {
		t.Fatalf("crossed: %s %s", s.a.state, s.b.state)
	}
	s.send(s.a, Subscribed)
	s.send(s.b, Subscribed)
	s.consistent("answered")
	if s.a.state != st(t, "Both") || s.b.state != st(t, "Both") {
		t.Fatalf("answered: %s %s", s.a.state, s.b.state)
	}
}

// TestPreApprovalFlow: 3.4. The request meets the pre-approval and is
// approved without being shown to the user.
func TestPreApprovalFlow(t *testing.T) {
	s := newSim(t)
	s.send(s.a, Subscribed)
	if s.a.state != st(t, "None + Approved") || !s.a.exists || s.b.state != (State{}) {
		t.Fatalf("pre-approval: %+v %+v", s.a, s.b)
	}
	s.send(s.b, Subscribe)
	s.consistent("pre-approved request")
	if s.a.state != st(t, "From") || s.b.state != st(t, "To") || len(s.a.delivered) != 0 {
		t.Fatalf("after the request: %+v %+v", s.a, s.b)
	}
	if !slices.Equal(s.a.presence, []PresenceAction{SendAvailable}) {
		t.Errorf("presence sent by juliet: %v", s.a.presence)
	}
}

// TestResync: the auto-replies and probe answers repair records that
// disagree (3.1.3 item 2, 4.3.2 item 1).
func TestResync(t *testing.T) {
	// Romeo's server lost his record; Juliet still has "To". Her server
	// probes at login, Romeo's answers "unsubscribed".
	s := newSim(t)
	s.a.state, s.a.exists = st(t, "To"), true
	if !ProbeOnInitial(s.a.state) {
		t.Fatal("no probe for To")
	}
	if a := AnswerProbe(s.b.state, true); a != ProbeUnsubscribed {
		t.Fatalf("answer %s", a)
	}
	s.receive(s.a, Unsubscribed, 0)
	s.consistent("after the probe")

	// Juliet's server lost her record; Romeo still has "From". Her new
	// request is confirmed at once, with presence.
	s = newSim(t)
	s.b.state, s.b.exists = st(t, "From"), true
	s.send(s.a, Subscribe)
	s.consistent("after the request")
	if s.a.state != st(t, "To") || len(s.b.delivered) != 0 || !slices.Equal(s.b.presence, []PresenceAction{SendAvailable}) {
		t.Fatalf("resync by request: %+v %+v", s.a, s.b)
	}
}

// TestRandomWalk drives both users with random stanzas and removals and
// checks after every step that the two records agree and that the stored
// requests follow the state. The seed is fixed: the walk is the same on
// every run.
func TestRandomWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(6121, 2011))
	s := newSim(t)
	seen := map[[2]State]bool{}
	for i := range 20000 {
		p := s.a
		if r.IntN(2) == 1 {
			p = s.b
		}
		if n := r.IntN(len(kinds) + 1); n < len(kinds) {
			s.send(p, kinds[n])
		} else {
			s.remove(p)
		}
		s.consistent("step " + strconv.Itoa(i))
		seen[[2]State{s.a.state, s.b.state}] = true
	}
	// The walk reaches every consistent pair of states. Nine pairs of A.1
	// states; a pre-approval can sit on a side in "None", "None + Pending
	// Out" or "To": None/None takes one on either side or both (+3), and
	// None+PO/None+PI, To/From and their mirrors one each (+4): 16.
	if len(seen) != 16 {
		t.Errorf("the walk reached %d state pairs, want all 16", len(seen))
	}
}
