package service

import (
	"slices"
	"testing"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

func directed(to, typ string) *stanza.Element {
	p := stanza.NewElement(stanza.NSClient, "presence").Set("from", "juliet@example.com/r").Set("to", to)
	if typ != "" {
		p.Set("type", typ)
	}
	return p
}

// A resource's directed presence is remembered for at most MaxDirected
// entities: past it the presence is refused with policy-violation and not
// routed; directed unavailable frees a place; the remembered entities get
// the unavailable presence when the resource goes.
func TestDirectedBounded(t *testing.T) {
	s, _, send := svcService()
	s.MaxDirected = 3
	full := jid.MustParse("juliet@example.com/r")
	rooms := []string{"a@muc.other.org/j", "b@muc.other.org/j", "c@muc.other.org/j", "d@muc.other.org/j"}
	for _, r := range rooms {
		s.Directed(full, jid.MustParse(r), directed(r, ""))
	}
	svcExpect(t, "routed", send.takeRemote(), "available "+rooms[0], "available "+rooms[1], "available "+rooms[2])
	svcExpect(t, "juliet after the fourth", send.take(full.Bare()), "presence error "+rooms[3])
	if st := s.Stats(); st.Directed != 3 || st.DirectedRefused != 1 {
		t.Fatalf("stats %+v, want 3 remembered and 1 refused", st)
	}
	// Again to one already remembered: routed, nothing refused.
	s.Directed(full, jid.MustParse(rooms[0]), directed(rooms[0], ""))
	svcExpect(t, "again to a", send.takeRemote(), "available "+rooms[0])
	// Leaving one room makes room for the fourth.
	s.Directed(full, jid.MustParse(rooms[1]), directed(rooms[1], "unavailable"))
	s.Directed(full, jid.MustParse(rooms[3]), directed(rooms[3], ""))
	svcExpect(t, "after leaving b", send.takeRemote(), "unavailable "+rooms[1], "available "+rooms[3])
	if st := s.Stats(); st.Directed != 3 || st.DirectedRefused != 1 {
		t.Fatalf("stats %+v, want 3 remembered and 1 refused", st)
	}

	un := stanza.NewElement(stanza.NSClient, "presence").Set("type", "unavailable")
	s.Unavailable(full, un)
	got := send.takeRemote()
	slices.Sort(got)
	svcExpect(t, "when juliet goes", got, "unavailable "+rooms[0], "unavailable "+rooms[2], "unavailable "+rooms[3])
	if st := s.Stats(); st.Directed != 0 {
		t.Fatalf("stats %+v after unavailable, want nothing remembered", st)
	}
}

// RFC 6121 4.6.2 item 3: directed presence sent by a resource that never
// became available is owed unavailable when its session ends, and that
// session sends no broadcast.
func TestEndedWithoutPresence(t *testing.T) {
	s, _, send := svcService()
	juliet, romeo := jid.MustParse("juliet@example.com"), jid.MustParse("romeo@example.com")
	// romeo is subscribed to juliet: a broadcast would reach him.
	s.Outbound(romeo, juliet, stanza.NewElement(stanza.NSClient, "presence").Set("type", "subscribe"))
	if err := s.Answer(juliet, romeo, true); err != nil {
		t.Fatal(err)
	}
	send.take(romeo)
	send.take(juliet)
	full := jid.MustParse("juliet@example.com/r")
	room := "a@muc.other.org/j"
	s.Directed(full, jid.MustParse(room), directed(room, ""))
	send.takeRemote()
	s.Ended(full, stanza.NewElement(stanza.NSClient, "presence").Set("type", "unavailable"))
	svcExpect(t, "the room", send.takeRemote(), "unavailable "+room)
	svcExpect(t, "romeo", send.take(romeo))
	if st := s.Stats(); st.Directed != 0 {
		t.Fatalf("stats %+v, want nothing remembered", st)
	}
}
