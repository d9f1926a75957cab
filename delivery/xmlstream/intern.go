package xmlstream

import (
	"strings"

	"github.com/heraldxmpp/herald/delivery/stanza"
)

// The intern table holds the names, namespaces, attribute values and
// indentation runs that recur in almost every stanza. A decoded string
// that matches an entry is the entry itself: it costs no bytes in the
// stanza's string block, compares by pointer, and a character-data node
// with that text is a preallocated interface value, so it costs no
// allocation either.

var internWords = []string{
	// Stream and stanza namespaces.
	stanza.NSClient, stanza.NSServer, stanza.NSStream, stanza.NSStreamEr, stanza.NSStanzas,
	stanza.NSXML, NSErrors,
	"jabber:server:dialback",
	"urn:ietf:params:xml:ns:xmpp-tls", "urn:ietf:params:xml:ns:xmpp-sasl",
	"urn:ietf:params:xml:ns:xmpp-bind", "urn:ietf:params:xml:ns:xmpp-session",
	"jabber:iq:roster", "jabber:iq:version", "jabber:iq:private", "jabber:iq:register",
	"jabber:iq:last", "jabber:x:data", "jabber:x:conference", "jabber:x:oob",
	"vcard-temp", "vcard-temp:x:update", "storage:bookmarks",
	"http://jabber.org/protocol/chatstates", "http://jabber.org/protocol/xhtml-im",
	"http://www.w3.org/1999/xhtml", "http://jabber.org/protocol/caps",
	"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
	"http://jabber.org/protocol/muc", "http://jabber.org/protocol/muc#user",
	"http://jabber.org/protocol/pubsub", "http://jabber.org/protocol/pubsub#event",
	"http://jabber.org/protocol/nick", "http://jabber.org/protocol/commands",
	"http://jabber.org/protocol/address", "http://jabber.org/features/iq-register",
	"urn:xmpp:receipts", "urn:xmpp:sid:0", "urn:xmpp:delay", "urn:xmpp:ping",
	"urn:xmpp:sm:3", "urn:xmpp:carbons:2", "urn:xmpp:forward:0", "urn:xmpp:mam:2",
	"urn:xmpp:chat-markers:0", "urn:xmpp:hints", "urn:xmpp:message-correct:0",
	"urn:xmpp:csi:0", "urn:xmpp:eme:0", "urn:xmpp:omemo:2", "eu.siacs.conversations.axolotl",
	"urn:xmpp:features:rosterver", "urn:xmpp:features:pre-approval", "urn:xmpp:time",
	"urn:xmpp:reply:0", "urn:xmpp:fallback:0", "urn:xmpp:reactions:0", "urn:xmpp:bookmarks:1",
	"urn:xmpp:avatar:metadata", "urn:xmpp:avatar:data", "urn:xmpp:jingle:1",
	"urn:xmpp:jingle-message:0", "urn:xmpp:http:upload:0", "urn:xmpp:idle:1",
	"urn:xmpp:styling:0", "urn:xmpp:bob", "urn:xmpp:blocking", "urn:xmpp:push:0",
	"urn:xmpp:sasl:2", "urn:xmpp:bind:0", "urn:xmpp:fast:0", "urn:xmpp:sasl-cb:0",
	"urn:xmpp:ping", "urn:xmpp:mucsub:0", "urn:xmpp:occupant-id:0", "urn:xmpp:attention:0",
	"urn:xmpp:message-retract:1", "urn:xmpp:message-moderate:1", "urn:xmpp:spoiler:0",

	// Element names.
	"stream", "features", "error", "text", "starttls", "proceed", "failure", "required",
	"auth", "success", "challenge", "response", "abort", "mechanisms", "mechanism",
	"bind", "jid", "resource", "session", "optional", "enable", "enabled", "resume",
	"resumed", "ver", "register", "sm", "c", "x", "result", "verify",
	"message", "presence", "iq", "body", "subject", "thread", "show", "status", "priority",
	"query", "item", "items", "group", "delay", "active", "composing", "paused", "inactive",
	"gone", "request", "received", "origin-id", "stanza-id", "markable", "displayed",
	"acknowledged", "forwarded", "sent", "private", "no-copy", "no-store", "no-permanent-store",
	"store", "replace", "encryption", "encrypted", "header", "key", "keys", "payload", "iv",
	"nick", "reply", "fallback", "reactions", "reaction", "reference", "pubsub", "publish",
	"event", "retract", "identity", "feature", "ping", "r", "a", "html", "span", "p", "br",
	"em", "strong", "b", "i", "u", "img", "blockquote", "ul", "ol", "li", "code", "pre",
	"photo", "hash", "data", "value", "field", "option", "instructions", "title", "reported",
	"invite", "reason", "password", "history", "info", "metadata", "upload", "slot", "put",
	"get", "set", "bad-request", "conflict", "feature-not-implemented", "forbidden",
	"item-not-found", "not-allowed", "not-authorized", "policy-violation",
	"recipient-unavailable", "remote-server-not-found", "remote-server-timeout",
	"service-unavailable", "undefined-condition", "unexpected-request", "internal-server-error",
	"idle", "attention", "occupant-id", "fin", "set", "first", "last", "count", "before",
	"after", "max",

	// Attribute names.
	"to", "from", "id", "type", "lang", "version", "xmlns", "style", "href", "src", "alt",
	"by", "name", "node", "category", "var", "stamp", "subscription", "ask", "approved",
	"code", "h", "previd", "location", "role", "affiliation", "label", "for", "begin", "end",
	"rid", "queryid", "ext", "width", "height", "mime-type",
	"size", "filename", "content-type", "algo", "sid", "prekey",

	// Attribute values and short texts.
	"chat", "normal", "groupchat", "headline", "unavailable", "subscribe", "subscribed",
	"unsubscribe", "unsubscribed", "probe", "away", "xa", "dnd", "en", "de", "fr", "es",
	"it", "ru", "true", "false", "1", "0", "1.0", "both", "none", "remove", "sha-1",
	"sha-256", "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
	"SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "EXTERNAL", "ANONYMOUS", "DIGEST-MD5",
	"modify", "cancel", "wait", "continue", "client", "pc", "phone", "bot", "server", "im",
	"account", "conference", "text", "form", "submit", "hidden", "list-single",
	"text-single", "boolean", "jid-single", "FORM_TYPE", "member", "owner", "admin",
	"moderator", "participant", "visitor", "outcast", "urn:xmpp:hashes:2",
	"http://jabber.org/protocol/muc#roomconfig", "http://jabber.org/protocol/muc#request",
}

// Indentation runs: clients that pretty-print send them between elements.
func init() {
	ws := []string{" ", "  ", "\t", "\n\n"}
	for n := 0; n <= 24; n++ {
		ws = append(ws, "\n"+strings.Repeat(" ", n))
	}
	for n := 1; n <= 8; n++ {
		ws = append(ws, "\n"+strings.Repeat("\t", n))
	}
	internWords = append(internWords, ws...)

	seen := make(map[string]bool, len(internWords))
	for _, s := range internWords {
		if s == "" || seen[s] {
			continue
		}
		if len(s) > maxInternLen {
			panic("xmlstream: intern entry too long: " + s)
		}
		seen[s] = true
		internStr = append(internStr, s)
		internNode = append(internNode, stanza.CharData(s))
		if len(s) > maxIntern {
			maxIntern = len(s)
		}
		internFirst[len(s)][s[0]>>6] |= 1 << (s[0] & 63)
		h := ihash(s) & internMask
		for internTab[h] != 0 {
			h = (h + 1) & internMask
		}
		internTab[h] = uint16(len(internStr))
	}
	refNSXML = internRef(mustIntern(stanza.NSXML))
}

const (
	internBits   = 10
	internMask   = 1<<internBits - 1
	maxInternLen = 64
)

var (
	internStr  []string
	internNode []stanza.Node
	internTab  [internMask + 1]uint16 // 1 + index into internStr; 0 is empty
	maxIntern  int
	// internFirst[n] is the set of first bytes of the entries of length n:
	// a one-load filter that turns away ids, JIDs and text before hashing.
	internFirst [maxInternLen + 1][4]uint64

	refNSXML sref
)

func mustIntern(s string) int {
	k := lookup([]byte(s))
	if k < 0 {
		panic("xmlstream: " + s + " not interned")
	}
	return k
}

// ihash hashes a short string from its length and three sampled bytes,
// with one multiplication; the top bits index the table.
func ihash[T string | []byte](b T) uint32 {
	n := len(b)
	h := uint32(n) ^ uint32(b[0])<<8 ^ uint32(b[n-1])<<16 ^ uint32(b[n>>1])<<24
	return (h * 0x9E3779B1) >> (32 - internBits)
}

// lookup returns the intern index of b, or -1.
func lookup(b []byte) int {
	if len(b) == 0 || len(b) > maxIntern || internFirst[len(b)][b[0]>>6]&(1<<(b[0]&63)) == 0 {
		return -1
	}
	h := ihash(b) & internMask
	for {
		k := internTab[h]
		if k == 0 {
			return -1
		}
		if internStr[k-1] == string(b) {
			return int(k - 1)
		}
		h = (h + 1) & internMask
	}
}
