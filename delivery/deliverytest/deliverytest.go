// Package deliverytest holds the test doubles the stanza plane's tests
// share: a sink that records what a resource was sent, and a set of
// accounts. It imports only the value packages, so the router's own tests
// and every service's tests can use it without services importing each
// other.
package deliverytest

import (
	"sync"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Sink records every stanza delivered to it, serialized in the client
// namespace. It is safe for concurrent use.
type Sink struct {
	mu  sync.Mutex
	got []string
}

// Deliver records st and reports it delivered.
func (s *Sink) Deliver(st *stanza.Element) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, string(st.AppendXML(nil, stanza.NSClient)))
	return true
}

// Take returns what was delivered since the last Take and forgets it.
func (s *Sink) Take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.got
	s.got = nil
	return g
}

// Accounts is a set of bare JIDs that exist.
type Accounts map[string]bool

// Exists reports whether b is one of the accounts.
func (a Accounts) Exists(b jid.JID) bool { return a[b.String()] }

// Keep puts stanzas taken earlier back in front of anything recorded since,
// for a test that looks for one answer among other deliveries.
func (s *Sink) Keep(xml ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(append([]string(nil), xml...), s.got...)
}
