package consensus

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// The Pebble keyspace. Every key the package reads or writes is built here.
//
// Every key starts with a one-byte table tag. No tag is 0x00 or 0xff, so the
// span [keyspaceStart, keyspaceEnd) covers the whole keyspace and one
// DeleteRange wipes it (snapshot restore).
//
//	'm' "schema"       -> uint32 big-endian: schemaVersion; checked at Open
//	'm' "applied"      -> uint64 big-endian: last Raft log index applied, written
//	                      in the same batch as the commands it covers
//	'm' "restoring"    -> empty; present only while a snapshot restore is
//	                      incomplete (Open redoes the restore when it sees it)
//
//	'n' node ID                -> the node's identity (identity.go), as it
//	                              first presented it to the cluster
//
//	'k' origin 0x00 's' seq           -> the outcome of the keyed command
//	                                     (origin, seq): a forwarding answer
//	                                     (wire.go), for a retry (keyed.go)
//	'k' origin 0x00 'm'               -> uint64 big-endian: the highest seq
//	                                     of origin applied
//
//	'u' domain 0x00 local 0x00            per-user prefix: DeleteAccount removes
//	                                      the whole span with one DeleteRange
//	    ... 'a'                           -> account record (see account.go)
//	    ... 'o' seq (uint64 big-endian)   -> offline message; big-endian keeps
//	                                         arrival order in key order
//	    ... 'q'                           -> offline counter: last seq assigned,
//	                                         seq deleted up to
//	    ... 'r' contact                   -> roster record of contact (a bare
//	                                         JID): item or bare pending request
//	    ... 'p' contact                   -> pending inbound subscribe request:
//	                                         the stanza as received, and when
//	    ... 'v'                           -> roster version, item and pending
//	                                         counts (see roster.go)
//	    ... 'b' jid                       -> blocked JID (XEP-0191): a version
//	                                         byte; the JID as the user gave
//	                                         it, canonical (see blocking.go)
//	    ... 'x' space 0x00 local          -> private XML element {space}local
//	                                         (XEP-0049), serialized
//	    ... 'y'                           -> bytes the private XML holds
//	                                         (see accountdata.go)
//	    ... 'c'                           -> the vCard (XEP-0054), serialized
//
// The user prefix puts the domainpart first so that Accounts(domain) is one
// prefix scan. NUL terminates each part: account names never contain NUL
// (validName), and since NUL sorts below every other byte, key order within a
// domain is the byte order of the localparts, and "alice" and "alice2" have
// disjoint spans. The account record sorts first under its user prefix, and
// offline messages and counters exist only while the account does.
//
// Changing the meaning of any key or value requires a new schemaVersion and a
// migration; adding a new table tag or a new per-user kind does not.
const schemaVersion = 1

const (
	tagMeta = 'm'
	tagNode = 'n'
	tagUser = 'u'
	tagKey  = 'k'

	kindAccount = 'a'
	kindOffline = 'o'
	kindCounter = 'q'
	kindRoster  = 'r'
	kindRequest = 'p'
	kindCounts  = 'v'
	kindBlock   = 'b'

	kindPrivate     = 'x'
	kindPrivateSize = 'y'
	kindVCard       = 'c'
)

var (
	keyspaceStart = []byte{0x00}
	keyspaceEnd   = []byte{0xff}

	schemaKey    = []byte("mschema")
	appliedKey   = []byte("mapplied")
	restoringKey = []byte("mrestoring")

	nodesStart = []byte{tagNode}
	nodesEnd   = []byte{tagNode + 1}

	usersStart = []byte{tagUser}
	usersEnd   = []byte{tagUser + 1}
)

// keyedKey is where the outcome of origin's command seq is kept.
func keyedKey(origin string, seq uint64) []byte {
	k := append([]byte{tagKey}, origin...)
	k = append(k, 0, 's')
	return binary.BigEndian.AppendUint64(k, seq)
}

// keyedMaxKey holds the highest seq of origin applied.
func keyedMaxKey(origin string) []byte {
	k := append([]byte{tagKey}, origin...)
	return append(k, 0, 'm')
}

// userPrefix returns the prefix of every key held under the account name,
// which must have passed validName.
func userPrefix(name string) []byte {
	local, domain, _ := strings.Cut(name, "@")
	k := make([]byte, 0, len(name)+12)
	k = append(k, tagUser)
	k = append(k, domain...)
	k = append(k, 0)
	k = append(k, local...)
	return append(k, 0)
}

// userKey returns userPrefix(name) followed by kind.
func userKey(name string, kind byte) []byte {
	return append(userPrefix(name), kind)
}

func nodeKey(id string) []byte { return append([]byte{tagNode}, id...) }

func accountKey(name string) []byte { return userKey(name, kindAccount) }
func counterKey(name string) []byte { return userKey(name, kindCounter) }

func rosterItemPrefix(user string) []byte    { return userKey(user, kindRoster) }
func rosterRequestPrefix(user string) []byte { return userKey(user, kindRequest) }
func rosterCountsKey(user string) []byte     { return userKey(user, kindCounts) }

func blockPrefix(user string) []byte { return userKey(user, kindBlock) }

func blockKey(user, jid string) []byte { return append(blockPrefix(user), jid...) }

func rosterItemKey(user, contact string) []byte {
	return append(rosterItemPrefix(user), contact...)
}

func rosterRequestKey(user, contact string) []byte {
	return append(rosterRequestPrefix(user), contact...)
}

// privateKey is where the user's private XML element {space}local is kept.
// A namespace never holds NUL (validate), so NUL ends it.
func privateKey(user, space, local string) []byte {
	k := append(userKey(user, kindPrivate), space...)
	k = append(k, 0)
	return append(k, local...)
}

func privateSizeKey(user string) []byte { return userKey(user, kindPrivateSize) }
func vcardKey(user string) []byte       { return userKey(user, kindVCard) }

// offlineKey returns the key of user's offline message seq.
func offlineKey(user string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(userKey(user, kindOffline), seq)
}

// domainPrefix returns the prefix of every user key in domain.
func domainPrefix(domain string) []byte {
	k := make([]byte, 0, len(domain)+2)
	k = append(k, tagUser)
	k = append(k, domain...)
	return append(k, 0)
}

// prefixEnd returns the smallest key greater than every key starting with p.
// Every prefix used here ends in a byte below 0xff, so incrementing the last
// byte is enough.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	end[len(end)-1]++
	return end
}

// parseUserKey splits a user key into the account name, its kind and the rest.
func parseUserKey(k []byte) (name string, kind byte, rest []byte, ok bool) {
	if len(k) == 0 || k[0] != tagUser {
		return "", 0, nil, false
	}
	domain, after, ok1 := bytes.Cut(k[1:], []byte{0})
	local, after, ok2 := bytes.Cut(after, []byte{0})
	if !ok1 || !ok2 || len(after) == 0 {
		return "", 0, nil, false
	}
	return string(local) + "@" + string(domain), after[0], after[1:], true
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
