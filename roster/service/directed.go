package service

import (
	"strconv"
	"sync"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// DefaultMaxDirected bounds the entities one resource's directed
// presence is remembered for (RFC 6121 4.6). A client sends directed
// presence to each group chat room it joins and to the odd chat partner;
// 500 rooms open at once on one resource is beyond any client in use,
// and the set of one resource stays under about 50 KB.
const DefaultMaxDirected = 500

// directedSets are, per full JID, the entities that got directed
// available presence from it and are owed unavailable presence when it
// goes away (RFC 6121 4.6.2, 4.6.3).
type directedSets struct {
	mu      sync.Mutex
	byFull  map[jid.JID]map[jid.JID]struct{}
	held    int
	refused uint64
}

// add records to for full; it reports false, and records nothing, when
// full already holds max entities (max <= 0: no bound).
func (d *directedSets) add(full, to jid.JID, max int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	set := d.byFull[full]
	if _, ok := set[to]; ok {
		return true
	}
	if max > 0 && len(set) >= max {
		d.refused++
		return false
	}
	if set == nil {
		if d.byFull == nil {
			d.byFull = map[jid.JID]map[jid.JID]struct{}{}
		}
		set = map[jid.JID]struct{}{}
		d.byFull[full] = set
	}
	set[to] = struct{}{}
	d.held++
	return true
}

// remove forgets to for full (4.6.3: directed unavailable presence).
func (d *directedSets) remove(full, to jid.JID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	set := d.byFull[full]
	if _, ok := set[to]; !ok {
		return
	}
	delete(set, to)
	d.held--
	if len(set) == 0 {
		delete(d.byFull, full)
	}
}

// take removes and returns full's set.
func (d *directedSets) take(full jid.JID) map[jid.JID]struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	set := d.byFull[full]
	delete(d.byFull, full)
	d.held -= len(set)
	return set
}

func (d *directedSets) stats() (held int, refused uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.held, d.refused
}

func (s *Service) maxDirected() int {
	if s.MaxDirected != 0 {
		return s.MaxDirected
	}
	return DefaultMaxDirected
}

// Directed records presence a resource sends to one entity (RFC 6121
// 4.6) and routes it. Past MaxDirected entities the available presence is
// refused with policy-violation and not routed: routed unrecorded, the
// entity would never learn that the resource went away.
func (s *Service) Directed(full, to jid.JID, st *stanza.Element) {
	if st.Get("type") == "unavailable" {
		s.directed.remove(full, to)
	} else if max := s.maxDirected(); !s.directed.add(full, to, max) {
		e := stanza.NewError(stanza.PolicyViolation, "directed presence is remembered for at most "+
			strconv.Itoa(max)+" entities per resource; send unavailable presence to some first")
		if r := stanza.Bounce(st, e); r != nil {
			s.Send.Deliver(full, r)
		}
		return
	}
	s.route(st, full, to)
}

// Ended is called when the session of full ends while it is not
// available: it sends no broadcast, but the entities it sent directed
// presence to are owed the unavailable presence st (RFC 6121 4.6.2 item
// 3, 4.6.3).
func (s *Service) Ended(full jid.JID, st *stanza.Element) {
	s.directedUnavailable(full, st, nil)
}

// directedUnavailable sends st to every entity full's directed presence
// reached, except the bare JIDs in sent (they had the broadcast), and
// forgets them.
func (s *Service) directedUnavailable(full jid.JID, st *stanza.Element, sent map[jid.JID]bool) {
	for to := range s.directed.take(full) {
		if sent[to.Bare()] && to.IsBare() {
			continue
		}
		p := st.ShallowCopy()
		p.Set("from", full.String()).Set("to", to.String())
		s.route(p, full, to)
	}
}
