package roster

import (
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
