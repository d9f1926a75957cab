package s2s

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Server Dialback (XEP-0220) and its keys (XEP-0185).

const (
	nsDialback        = "jabber:server:dialback"
	nsDialbackFeature = "urn:xmpp:features:dialback"
)

// dialbackKey is the XEP-0185 2 key:
//
//	HMAC-SHA256(SHA256(secret), receiving SP originating SP stream-id)
//
// in lowercase hex, where SHA256(secret) is itself used in hex (the
// worked example of XEP-0185 3 feeds the hex string to HMAC; that is what
// every deployed implementation does, and the test vector holds us to it).
// Any node knowing the secret computes the same key, so any node of a
// cluster can answer a db:verify for a key another node sent.
func (s *Server) dialbackKey(receiving, originating, id string) string {
	m := hmac.New(sha256.New, s.dbKey)
	m.Write([]byte(receiving))
	m.Write([]byte{' '})
	m.Write([]byte(originating))
	m.Write([]byte{' '})
	m.Write([]byte(id))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// checkKey compares a received key with the one we would have sent, in
// constant time (XEP-0220 2.2.2: the authoritative server recomputes the
// key from 'from', 'to' and 'id').
func (s *Server) checkKey(receiving, originating, id, key string) bool {
	want := s.dialbackKey(receiving, originating, id)
	return hmac.Equal([]byte(want), []byte(strings.TrimSpace(key)))
}

// dbElem is a <db:result/> or <db:verify/> element.
type dbElem struct {
	verify       bool   // db:verify; otherwise db:result
	from, to, id string // id: db:verify only
	typ          string // "", valid, invalid or error
	key          string // character data, trimmed
	cond         stanza.Condition
}

// parseDB reads a dialback element; ok is false for anything else in the
// dialback namespace.
func parseDB(el *stanza.Element) (d dbElem, ok bool) {
	if el.Name.Space != nsDialback {
		return d, false
	}
	switch el.Name.Local {
	case "result":
	case "verify":
		d.verify = true
	default:
		return d, false
	}
	d.from, d.to, d.id, d.typ = el.Get("from"), el.Get("to"), el.Get("id"), el.Get("type")
	d.key = strings.TrimSpace(el.Text())
	if d.typ == "error" {
		// XEP-0220 2.4: an <error/> in jabber:server holding a stanza
		// error condition.
		d.cond = stanza.UndefinedCondition
		if e := el.Child("", "error"); e != nil {
			for _, c := range e.Elements() {
				if c.Name.Space == stanza.NSStanzas && c.Name.Local != "text" {
					d.cond = stanza.Condition(c.Name.Local)
					break
				}
			}
		}
	}
	return d, true
}

// appendDB writes a dialback element with the "db" prefix that our stream
// headers declare: XEP-0220 2 says dialback elements MUST carry the prefix
// the sender advertised on its header (and some servers accept only
// "db").
func appendDB(b []byte, d dbElem) []byte {
	name := "db:result"
	if d.verify {
		name = "db:verify"
	}
	b = append(b, '<')
	b = append(b, name...)
	b = appendAttr(b, "from", d.from)
	b = appendAttr(b, "to", d.to)
	if d.verify {
		b = appendAttr(b, "id", d.id)
	}
	if d.typ != "" {
		b = appendAttr(b, "type", d.typ)
	}
	switch {
	case d.typ == "error":
		e := stanza.NewError(d.cond, "")
		b = append(b, '>')
		b = e.Element(stanza.NSServer).AppendXML(b, stanza.NSServer)
	case d.key != "":
		b = append(b, '>')
		b = appendText(b, d.key)
	default:
		return append(b, "/>"...)
	}
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, "='"...)
	b = appendText(b, value)
	return append(b, '\'')
}

// appendText escapes s for character data or a single-quoted attribute.
// The values written here are domains, stream ids and hex keys: text the
// XML layer already accepted, so only the markup characters need care.
func appendText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '\'':
			b = append(b, "&apos;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			if c < 0x20 {
				b = append(b, ' ')
			} else {
				b = append(b, c)
			}
		}
	}
	return b
}

// domainOf prepares a domain from an attribute (RFC 7622), or "" when it
// is not a bare domain.
func domainOf(s string) string {
	if s == "" {
		return ""
	}
	j, err := jid.Parse(s)
	if err != nil || j.Local() != "" || j.Resource() != "" {
		return ""
	}
	return j.String()
}

// dialBack is the receiving server's half of XEP-0220 2.1.2: it asks the
// authoritative server of remote whether key is what remote's server
// computed for the stream id we gave it, over a connection opened for
// this alone and closed after the answer (allowed by 2.1.2's note). It
// returns whether the key is valid, or the dialback error condition to
// report to the initiating server (the 2.4 table: not found when the
// authoritative server cannot be found or reports an error,
// remote-server-timeout when talking to it failed).
func (s *Server) dialBack(local, remote, id, key string) (bool, stanza.Condition) {
	select {
	case s.verifySlots <- struct{}{}:
		defer func() { <-s.verifySlots }()
	default:
		return false, stanza.ResourceConstraint
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.SetupTimeout)
	defer cancel()
	c, err := s.connect(ctx, local, remote, false)
	if err != nil {
		s.cfg.Log.Debug("s2s: dialback verification: no connection to the authoritative server", "local", local, "remote", remote, "err", err)
		return false, conditionOf(err)
	}
	defer c.hangUp()
	stop := context.AfterFunc(ctx, c.wake)
	defer stop()
	if !c.dialbackOffered() {
		return false, stanza.RemoteServerNotFound
	}
	req := dbElem{verify: true, from: local, to: remote, id: id, key: key}
	if err := c.writeNow(appendDB(nil, req)); err != nil {
		return false, stanza.RemoteServerTimeout
	}
	for {
		el, err := c.readElement()
		if err != nil {
			return false, stanza.RemoteServerTimeout
		}
		d, ok := parseDB(el)
		// XEP-0220 2.1.2 and 3.1: only an answer that correlates with our
		// request counts; anything else is ignored.
		if !ok || !d.verify || d.id != id || domainOf(d.from) != remote || domainOf(d.to) != local {
			continue
		}
		switch d.typ {
		case "valid":
			return true, ""
		case "invalid":
			return false, ""
		default:
			// XEP-0220 2.4: an error in step 3 becomes
			// <remote-server-not-found/> towards the initiating server.
			return false, stanza.RemoteServerNotFound
		}
	}
}
