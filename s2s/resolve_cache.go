package s2s

import (
	"container/list"
	"sync"
	"time"
)

// The resolver's answer cache: one entry per (name, type), kept until the
// least TTL of the records it was built from (RFC 1035 3.2.1, RFC 2181 5.2),
// negative answers as RFC 2308 5 says, least recently used first out when
// full. Temporary failures are not cached: the s2s layer retries with its
// own backoff.

const (
	defaultCacheSize = 4096
	// maxPositiveTTL caps the life of a positive answer. A cache may always
	// keep an answer for less than its TTL; a day bounds the harm of a
	// mistaken week-long TTL.
	maxPositiveTTL = 24 * time.Hour
	// maxNegativeTTL caps the life of NXDOMAIN and NODATA answers, so a
	// domain that starts offering a service is noticed soon enough (RFC 2308
	// 5 recommends one to three hours; 5 minutes is our choice).
	maxNegativeTTL = 5 * time.Minute
)

type cacheKey struct {
	name  string // absolute, lower case, with the trailing dot
	qtype uint16
}

type cacheEntry struct {
	key     cacheKey
	ans     dnsAnswer
	expires time.Time
}

// answerCache is a bounded LRU map. The clock is the caller's, so tests
// move it; an expired entry is dropped when met.
type answerCache struct {
	mu      sync.Mutex
	max     int
	entries map[cacheKey]*list.Element // of *cacheEntry
	lru     list.List                  // front: most recently used
}

func newAnswerCache(max int) *answerCache {
	return &answerCache{max: max, entries: make(map[cacheKey]*list.Element)}
}

func (c *answerCache) get(k cacheKey, now time.Time) (dnsAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return dnsAnswer{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, k)
		return dnsAnswer{}, false
	}
	c.lru.MoveToFront(el)
	return e.ans, true
}

func (c *answerCache) put(k cacheKey, a dnsAnswer, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*cacheEntry)
		e.ans, e.expires = a, expires
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, ans: a, expires: expires})
}

func (c *answerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
