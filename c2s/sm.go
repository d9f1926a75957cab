package c2s

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// XEP-0198 Stream Management: acknowledgements on a bound client stream.
// This pass counts and acknowledges stanzas both ways; resumption is not
// offered (<enabled/> carries no id), so a session still ends with its
// connection.

const nsSM = "urn:xmpp:sm:3"

// sm is a session's stream management state. mu orders the count of
// stanzas sent with their place in the writer's queue, so that h always
// counts exactly the stanzas queued after <enabled/>.
type sm struct {
	mu      sync.Mutex
	enabled bool
	out     uint32 // stanzas queued to the client since <enabled/>
	acked   uint32 // the client's last h
	in      uint32 // stanzas handled from the client since <enable/>
	asked   uint32 // out when the server last sent <r/>
}

// countOut queues a stanza through push and counts it when SM is on.
// Once every (Config.SMRequestAfter) stanzas left unacknowledged, it
// asks the client for an acknowledgement (XEP-0198 4).
func (s *session) countOut(push func() bool) bool {
	m := &s.sm
	m.mu.Lock()
	defer m.mu.Unlock()
	ok := push()
	if !ok || !m.enabled {
		return ok
	}
	// XEP-0198 4: h wraps at 2^32.
	m.out++
	n := uint32(s.srv.cfg.SMRequestAfter)
	if m.out-m.acked >= n && m.out-m.asked >= n {
		m.asked = m.out
		s.enqueue(func(b []byte) []byte { return append(b, `<r xmlns='`+nsSM+`'/>`...) }, false)
	}
	return ok
}

// smElement handles a first-level element of the SM namespace on a bound
// stream.
func (s *session) smElement(el *stanza.Element) *xmlstream.StreamError {
	m := &s.sm
	switch el.Name.Local {
	case "enable":
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.enabled {
			// XEP-0198 3: enabling twice is an unexpected request.
			s.enqueue(appendSMFailed, false)
			return nil
		}
		m.enabled = true
		// XEP-0198 3: the server counts from zero once <enabled/> is sent.
		s.enqueue(func(b []byte) []byte { return append(b, `<enabled xmlns='`+nsSM+`'/>`...) }, false)
		return nil
	case "r":
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.enabled {
			return nil
		}
		// XEP-0198 4: an <r/> is answered with the handled count.
		h := m.in
		s.enqueue(func(b []byte) []byte {
			b = append(b, `<a xmlns='`+nsSM+`' h='`...)
			b = strconv.AppendUint(b, uint64(h), 10)
			return append(b, `'/>`...)
		}, false)
		return nil
	case "a":
		h, err := strconv.ParseUint(el.Get("h"), 10, 32)
		if err != nil {
			return xmlstream.NewError(xmlstream.InvalidXML, "<a/> needs an 'h' from 0 to 2^32-1")
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.enabled {
			return nil
		}
		// XEP-0198 5: acknowledging more than was sent is an
		// undefined-condition stream error with <handled-count-too-high/>.
		// Counts wrap (4), so "more" is measured modulo 2^32 from the
		// last acknowledgement.
		if uint32(h)-m.acked > m.out-m.acked {
			return &xmlstream.StreamError{
				Condition: xmlstream.UndefinedCondition,
				Text:      fmt.Sprintf("You acknowledged %d stanzas, but I only sent you %d so far.", h, m.out),
				App: stanza.NewElement(nsSM, "handled-count-too-high").
					Set("h", strconv.FormatUint(h, 10)).
					Set("send-count", strconv.FormatUint(uint64(m.out), 10)),
			}
		}
		m.acked = uint32(h)
		return nil
	}
	return xmlstream.NewError(xmlstream.UnsupportedStanzaType, "")
}

// countIn counts a stanza handled from the client (XEP-0198 4).
func (m *sm) countIn() {
	m.mu.Lock()
	if m.enabled {
		m.in++
	}
	m.mu.Unlock()
}

func appendSMFailed(b []byte) []byte {
	return append(b, `<failed xmlns='`+nsSM+`'><unexpected-request xmlns='`+stanza.NSStanzas+`'/></failed>`...)
}
