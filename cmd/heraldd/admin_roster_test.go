package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
	"github.com/heraldxmpp/herald/ops"
	"github.com/heraldxmpp/herald/roster"
)

// recorder is a connected resource that keeps what it is given.
type recorder struct {
	mu  sync.Mutex
	got []*stanza.Element
}

func (r *recorder) Deliver(st *stanza.Element) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, st.Copy())
	return true
}

// take returns and forgets what the resource received, one line each:
// "push JID SUBSCRIPTION" for a roster push, "presence TYPE FROM" for
// presence.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, st := range r.got {
		switch st.Name.Local {
		case "iq":
			q := st.Child(roster.NSRoster, "query")
			if st.Get("type") != "set" || q == nil || len(q.Elements()) != 1 {
				out = append(out, "iq "+st.String())
				continue
			}
			it := q.Elements()[0]
			out = append(out, "push "+it.Get("jid")+" "+it.Get("subscription"))
		case "presence":
			typ := st.Get("type")
			if typ == "" {
				typ = "available"
			}
			out = append(out, "presence "+typ+" "+st.Get("from"))
		default:
			out = append(out, st.String())
		}
	}
	r.got = nil
	return out
}

// connect binds a resource for user that has requested its roster and
// sent available presence, as a logged-in client would have.
func connect(t *testing.T, d *daemon, full string) *recorder {
	t.Helper()
	j, err := jid.Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	if _, _, ok := d.router.Registry.Bind(j, r, delivery.ConflictRefuse, nil); !ok {
		t.Fatalf("binding %s", full)
	}
	d.router.Registry.Update(j, func(res *delivery.Resource) {
		res.Interested, res.Available = true, true
		res.Presence = stanza.NewElement(stanza.NSClient, "presence")
	})
	return r
}

// ask has contact send user a subscription request, as contact's client
// would, with a nickname (XEP-0172) to find in the stored stanza.
func ask(d *daemon, contact, user string) {
	st := stanza.NewElement(stanza.NSClient, "presence").Set("type", "subscribe").
		Append(stanza.NewElement("http://jabber.org/protocol/nick", "nick").AppendText("nick of " + contact))
	d.roster.Outbound(jid.MustParse(contact), jid.MustParse(user), st)
}

// items renders a roster as "jid subscription[ ask][ approved] name groups".
func items(t *testing.T, c *ops.Client, user string) []string {
	t.Helper()
	ro, err := c.Roster(context.Background(), user)
	if err != nil {
		t.Fatalf("roster of %s: %v", user, err)
	}
	var out []string
	for _, it := range ro.Items {
		s := it.JID + " " + it.Subscription
		if it.Ask {
			s += " ask"
		}
		if it.Approved {
			s += " approved"
		}
		if it.Name != "" || len(it.Groups) > 0 {
			s += fmt.Sprintf(" %q %q", it.Name, it.Groups)
		}
		out = append(out, s)
	}
	return out
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// The operator answers subscription requests and edits rosters through
// the admin API, on the real daemon, and the users' resources see the
// same pushes, subscription stanzas and presence as if the user had acted.
func TestAdminRosterPending(t *testing.T) {
	d := startInProcess(t)
	s := d.server()
	c := s.client()
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.addUser(t, u+"@localhost", "password-"+u)
	}
	aliceRes := connect(t, d, "alice@localhost/desk")
	bobRes := connect(t, d, "bob@localhost/phone")

	// bob asks alice; the request waits (RFC 6121 3.1.3), with no roster
	// item on her side.
	before := time.Now()
	ask(d, "bob@localhost", "alice@localhost")
	list, err := c.Pending(ctx, "alice@localhost")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].From != "bob@localhost" {
		t.Fatalf("alice's pending requests: %+v", list)
	}
	if at := list[0].At; at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("the request is dated %v, want about %v", at, before)
	}
	el, err := delivery.ParseStanza([]byte(list[0].Stanza), xmlstream.Limits{})
	if err != nil {
		t.Fatalf("the stored stanza %q does not parse: %v", list[0].Stanza, err)
	}
	if el.Get("type") != "subscribe" || el.Get("from") != "bob@localhost" || el.Get("to") != "alice@localhost" ||
		el.Child("http://jabber.org/protocol/nick", "nick").Text() != "nick of bob@localhost" {
		t.Errorf("the stored stanza is %s", list[0].Stanza)
	}
	expect(t, "alice's roster while the request waits", items(t, c, "alice@localhost"))
	expect(t, "bob's roster while the request waits", items(t, c, "bob@localhost"), "alice@localhost none ask")
	expect(t, "alice's resource", aliceRes.take(), "presence subscribe bob@localhost")
	expect(t, "bob's resource", bobRes.take(), "push alice@localhost none")

	// The operator approves on alice's behalf: From for her, To for him,
	// and everything her own "subscribed" would have caused (3.1.5).
	if err := c.ApproveRequest(ctx, "alice@localhost", "bob@localhost"); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Pending(ctx, "alice@localhost"); err != nil || len(list) != 0 {
		t.Errorf("after approval: pending %+v, %v", list, err)
	}
	expect(t, "alice's roster after approval", items(t, c, "alice@localhost"), "bob@localhost from")
	expect(t, "bob's roster after approval", items(t, c, "bob@localhost"), "alice@localhost to")
	expect(t, "alice's resource after approval", aliceRes.take(), "push bob@localhost from")
	expect(t, "bob's resource after approval", bobRes.take(),
		"presence subscribed alice@localhost", "push alice@localhost to", "presence available alice@localhost/desk")

	err = c.ApproveRequest(ctx, "alice@localhost", "bob@localhost")
	if !errors.Is(err, ops.ErrNotFound) || !strings.Contains(err.Error(), "no pending subscription request from bob@localhost") {
		t.Errorf("approving twice: %v", err)
	}

	// carol asks dave, who is not connected; the operator denies (3.2.2).
	ask(d, "carol@localhost", "dave@localhost")
	if err := c.DenyRequest(ctx, "dave@localhost", "carol@localhost"); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Pending(ctx, "dave@localhost"); err != nil || len(list) != 0 {
		t.Errorf("after denial: pending %+v, %v", list, err)
	}
	expect(t, "dave's roster after denial", items(t, c, "dave@localhost"))
	expect(t, "carol's roster after denial", items(t, c, "carol@localhost"), "dave@localhost none")

	// Roster add, update and remove, pushed to alice's resource as her
	// own roster sets would be (2.3.2, 2.5.2).
	ver := func() string {
		ro, err := c.Roster(ctx, "alice@localhost")
		if err != nil {
			t.Fatal(err)
		}
		return ro.Ver
	}
	v0 := ver()
	if err := c.SetRosterItem(ctx, "alice@localhost", "erin@example.org", "Erin", []string{"Friends", "Work"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetRosterItem(ctx, "alice@localhost", "bob@localhost", "Bob", nil); err != nil {
		t.Fatal(err)
	}
	expect(t, "alice's roster after adding", items(t, c, "alice@localhost"),
		`bob@localhost from "Bob" []`, `erin@example.org none "Erin" ["Friends" "Work"]`)
	expect(t, "alice's resource after adding", aliceRes.take(), "push erin@example.org none", "push bob@localhost from")
	if v1 := ver(); v1 == v0 {
		t.Errorf("the roster version stayed %s across two sets (2.6)", v1)
	}
	if err := c.SetRosterItem(ctx, "alice@localhost", "erin@example.org", "", nil); err != nil {
		t.Fatal(err)
	}
	expect(t, "alice's roster after clearing erin", items(t, c, "alice@localhost"),
		`bob@localhost from "Bob" []`, `erin@example.org none`)
	if err := c.RemoveRosterItem(ctx, "alice@localhost", "erin@example.org"); err != nil {
		t.Fatal(err)
	}
	// Removing bob cancels his subscription to alice (2.5.2): he is told,
	// loses her presence and keeps an item with subscription none.
	if err := c.RemoveRosterItem(ctx, "alice@localhost", "bob@localhost"); err != nil {
		t.Fatal(err)
	}
	expect(t, "alice's roster after removing", items(t, c, "alice@localhost"))
	expect(t, "bob's roster after alice removed him", items(t, c, "bob@localhost"), "alice@localhost none")
	expect(t, "alice's resource after removing", aliceRes.take(),
		"push erin@example.org none", "push erin@example.org remove", "push bob@localhost remove")
	expect(t, "bob's resource after alice removed him", bobRes.take(),
		"presence unavailable alice@localhost/desk", "presence unsubscribed alice@localhost", "push alice@localhost none")
	err = c.RemoveRosterItem(ctx, "alice@localhost", "bob@localhost")
	if !errors.Is(err, ops.ErrNotFound) || !strings.Contains(err.Error(), "no roster item for bob@localhost") {
		t.Errorf("removing an absent item: %v", err)
	}

	// Refusals, each with the sentinel and a sentence naming the problem.
	for _, tc := range []struct {
		name string
		call func() error
		want error
		text string
	}{
		{"roster of an unknown user", func() error { _, err := c.Roster(ctx, "nobody@localhost"); return err },
			ops.ErrNotFound, "no user nobody@localhost"},
		{"pending of an unknown user", func() error { _, err := c.Pending(ctx, "nobody@localhost"); return err },
			ops.ErrNotFound, "no user nobody@localhost"},
		{"approve for an unknown user", func() error { return c.ApproveRequest(ctx, "nobody@localhost", "bob@localhost") },
			ops.ErrNotFound, "no user nobody@localhost"},
		{"add for an unknown user", func() error { return c.SetRosterItem(ctx, "nobody@localhost", "bob@localhost", "", nil) },
			ops.ErrNotFound, "no user nobody@localhost"},
		{"roster of a bad JID", func() error { _, err := c.Roster(ctx, "alice@@localhost"); return err },
			ops.ErrBadRequest, "not a valid JID"},
		{"roster of a domain", func() error { _, err := c.Roster(ctx, "localhost"); return err },
			ops.ErrBadRequest, "not an account address"},
		{"roster of another domain", func() error { _, err := c.Roster(ctx, "alice@example.org"); return err },
			ops.ErrBadRequest, `does not serve the domain "example.org"`},
		{"pending of a full JID", func() error { _, err := c.Pending(ctx, "alice@localhost/desk"); return err },
			ops.ErrBadRequest, "not an account address"},
		{"add a bad contact", func() error { return c.SetRosterItem(ctx, "alice@localhost", "bob@@localhost", "", nil) },
			ops.ErrBadRequest, `the contact "bob@@localhost" is not a valid JID`},
		{"add a full JID", func() error { return c.SetRosterItem(ctx, "alice@localhost", "bob@localhost/phone", "", nil) },
			ops.ErrBadRequest, "contacts are bare JIDs"},
		{"add oneself", func() error { return c.SetRosterItem(ctx, "alice@localhost", "alice@localhost", "", nil) },
			ops.ErrBadRequest, "cannot be a contact of itself"},
		{"add with an empty group", func() error { return c.SetRosterItem(ctx, "alice@localhost", "bob@localhost", "", []string{""}) },
			ops.ErrBadRequest, "a group name is empty"},
		{"add with duplicate groups", func() error {
			return c.SetRosterItem(ctx, "alice@localhost", "bob@localhost", "", []string{"G", "G"})
		}, ops.ErrBadRequest, "duplicate group"},
		{"approve with nothing pending", func() error { return c.ApproveRequest(ctx, "alice@localhost", "carol@localhost") },
			ops.ErrNotFound, "alice@localhost has no pending subscription request from carol@localhost"},
		{"deny with nothing pending", func() error { return c.DenyRequest(ctx, "dave@localhost", "carol@localhost") },
			ops.ErrNotFound, "dave@localhost has no pending subscription request from carol@localhost"},
		{"deny a bad contact", func() error { return c.DenyRequest(ctx, "dave@localhost", "carol@localhost/x") },
			ops.ErrBadRequest, "contacts are bare JIDs"},
	} {
		err := tc.call()
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v; want %v with %q", tc.name, err, tc.want, tc.text)
		}
	}
	// Approving with nothing pending changed nothing: no pre-approval.
	expect(t, "alice's roster after the refusals", items(t, c, "alice@localhost"))
	expect(t, "carol's roster after the refusals", items(t, c, "carol@localhost"), "dave@localhost none")
}
