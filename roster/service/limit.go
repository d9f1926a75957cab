package service

import (
	"container/list"
	"sync"
	"time"
)

// DefaultMaxBuckets bounds the per-account subscribe token buckets a node
// keeps. A bucket only matters for an account that sent a subscribe in
// the last minute (it is full again after that, the same as no bucket):
// 100,000 accounts sending requests within one minute on one node is far
// beyond any legitimate load, and the table stays under about 15 MB.
const DefaultMaxBuckets = 100_000

// buckets are the per-account token buckets on outbound subscribe
// requests: at most max of them, least recently used first out. A bucket
// untouched for a minute is full again and is dropped as if it had never
// existed; when the table is full of younger ones, the least recently
// used is evicted all the same (that account gets a fresh burst) and the
// eviction is counted.
type buckets struct {
	mu      sync.Mutex
	byUser  map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently used
	evicted uint64
}

type bucket struct {
	user   string
	tokens float64
	last   int64
}

// allow takes one token from user's bucket at now (unix nanoseconds);
// rate is both the burst and the number of tokens back per minute, and at
// most max buckets are kept.
func (b *buckets) allow(user string, now int64, rate, max int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byUser == nil {
		b.byUser = map[string]*list.Element{}
	}
	b.expire(now)
	e := b.byUser[user]
	if e == nil {
		if len(b.byUser) >= max {
			old := b.lru.Back()
			delete(b.byUser, b.lru.Remove(old).(*bucket).user)
			b.evicted++
		}
		e = b.lru.PushFront(&bucket{user: user, tokens: float64(rate), last: now})
		b.byUser[user] = e
	} else {
		b.lru.MoveToFront(e)
	}
	k := e.Value.(*bucket)
	if now > k.last {
		k.tokens = min(float64(rate), k.tokens+float64(now-k.last)*float64(rate)/float64(time.Minute))
		k.last = now
	}
	if k.tokens < 1 {
		return false
	}
	k.tokens--
	return true
}

// expire drops the buckets untouched for a minute: they are full again.
func (b *buckets) expire(now int64) {
	for e := b.lru.Back(); e != nil; e = b.lru.Back() {
		k := e.Value.(*bucket)
		if now-k.last < int64(time.Minute) {
			return
		}
		b.lru.Remove(e)
		delete(b.byUser, k.user)
	}
}

// stats returns the buckets held and the evictions of buckets still in use.
func (b *buckets) stats() (held int, evicted uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.byUser), b.evicted
}
