package service

import (
	"strconv"
	"testing"
	"time"
)

// The outbound subscribe limit is a token bucket per user: a burst of
// SubscribeRate, then one more per minute/SubscribeRate.
func TestSubscribeRateLimit(t *testing.T) {
	now := int64(0)
	s := &Service{SubscribeRate: 3, Now: func() int64 { return now }}
	for i := 0; i < 3; i++ {
		if !s.allowSubscribe("a@x") {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if s.allowSubscribe("a@x") {
		t.Fatal("fourth request in the same instant allowed")
	}
	if !s.allowSubscribe("b@x") {
		t.Fatal("another user was limited by a@x's requests")
	}
	now += int64(time.Minute / 3)
	if !s.allowSubscribe("a@x") {
		t.Fatal("no token back after a third of a minute")
	}
	if s.allowSubscribe("a@x") {
		t.Fatal("two tokens back after a third of a minute")
	}
	if (&Service{Now: func() int64 { return 0 }}).allowSubscribe("a@x") != true {
		t.Fatal("a zero rate must mean no limit")
	}
}

// The buckets are bounded: past MaxBuckets accounts the least recently
// used bucket is evicted and counted, the recent ones keep their state,
// and buckets a minute old are dropped for free (they are full again).
func TestSubscribeBucketsBounded(t *testing.T) {
	now := int64(0)
	s := &Service{SubscribeRate: 3, MaxBuckets: 4, Now: func() int64 { return now }}
	users := []string{"u0@x", "u1@x", "u2@x", "u3@x", "u4@x", "u5@x"}
	for _, u := range users {
		if !s.allowSubscribe(u) {
			t.Fatalf("%s refused its first request", u)
		}
	}
	if st := s.Stats(); st.SubscribeBuckets != 4 || st.BucketsEvicted != 2 {
		t.Fatalf("after 6 accounts with a cap of 4: %+v, want 4 buckets and 2 evictions", st)
	}
	// u5 kept its bucket: two more tokens, then refused.
	first, second, third := s.allowSubscribe("u5@x"), s.allowSubscribe("u5@x"), s.allowSubscribe("u5@x")
	if !first || !second || third {
		t.Fatal("u5's bucket did not keep its state")
	}
	// u0 was evicted: a fresh burst, and u1 (now least recently used) goes.
	for i := range 3 {
		if !s.allowSubscribe("u0@x") {
			t.Fatalf("u0's request %d after its eviction refused", i+1)
		}
	}
	if st := s.Stats(); st.SubscribeBuckets != 4 || st.BucketsEvicted != 3 {
		t.Fatalf("after u0 came back: %+v", st)
	}
	// A minute later every bucket is full again and goes without counting.
	now += int64(time.Minute)
	if !s.allowSubscribe("u9@x") {
		t.Fatal("u9 refused")
	}
	if st := s.Stats(); st.SubscribeBuckets != 1 || st.BucketsEvicted != 3 {
		t.Fatalf("a minute later: %+v, want 1 bucket and still 3 evictions", st)
	}
}

// Without MaxBuckets the default holds.
func TestSubscribeBucketsDefault(t *testing.T) {
	s := &Service{SubscribeRate: 1, Now: func() int64 { return 0 }}
	for i := range DefaultMaxBuckets + 10 {
		s.allowSubscribe("u" + strconv.Itoa(i) + "@x")
	}
	if st := s.Stats(); st.SubscribeBuckets != DefaultMaxBuckets || st.BucketsEvicted != 10 {
		t.Fatalf("%+v, want %d buckets and 10 evictions", st, DefaultMaxBuckets)
	}
}
