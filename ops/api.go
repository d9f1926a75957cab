package ops

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors a Backend returns; the handlers turn them into HTTP statuses and
// the client turns the statuses back into these, so errors.Is works on
// both sides of the socket.
var (
	ErrNotFound   = errors.New("ops: not found")
	ErrExists     = errors.New("ops: already exists")
	ErrBadRequest = errors.New("ops: bad request")
	ErrNoQuorum   = errors.New("ops: the cluster cannot accept writes")
	// ErrOutcomeUnknown is a write that may or may not have been made: the
	// server lost track of it (its leader went away) before its deadline.
	ErrOutcomeUnknown = errors.New("ops: the write may or may not have been applied")
	// ErrUnavailable is a temporary failure of something the server
	// depends on (DNS, a peer); trying again later may work.
	ErrUnavailable = errors.New("ops: temporarily unavailable")
	// ErrRefused is a request the server declined as unsafe; the message
	// says why and how to insist.
	ErrRefused = errors.New("ops: refused")
)

// Backend is what the admin API operates on. cmd/heraldd implements it
// over the consensus store and the session registry.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	// Readiness is whether this node should be given traffic (health.go).
	Readiness(ctx context.Context) Readiness
	ListUsers(ctx context.Context, domain string) ([]string, error)
	CreateUser(ctx context.Context, jid, password string) error
	SetPassword(ctx context.Context, jid, password string) error
	DeleteUser(ctx context.Context, jid string) error
	Sessions(ctx context.Context) ([]Session, error)

	// Roster returns the user's roster: the items the user has, not the
	// records kept only for an unanswered request (those are Pending).
	Roster(ctx context.Context, user string) (Roster, error)
	// SetRosterItem adds or updates an item as the user's own roster set
	// would (RFC 6121 2.3), pushing it to the user's resources.
	SetRosterItem(ctx context.Context, user, contact, name string, groups []string) error
	// RemoveRosterItem deletes an item as the user's own roster removal
	// would (RFC 6121 2.5), cancelling the subscriptions both ways.
	RemoveRosterItem(ctx context.Context, user, contact string) error
	// Pending lists the inbound subscription requests the user has not
	// answered (RFC 6121 3.1.3).
	Pending(ctx context.Context, user string) ([]Pending, error)
	// ApproveRequest and DenyRequest answer contact's pending request on
	// the user's behalf, as the user's own "subscribed" or "unsubscribed"
	// would (RFC 6121 3.1.5, 3.2.2). Without a pending request from
	// contact they return ErrNotFound and change nothing.
	ApproveRequest(ctx context.Context, user, contact string) error
	DenyRequest(ctx context.Context, user, contact string) error

	// Links lists the federation links (s2s), both directions.
	Links(ctx context.Context) ([]Link, error)
	// Resolve shows where this server would connect for domain: the
	// merged, ordered SRV targets (RFC 6120 3.2, XEP-0368).
	Resolve(ctx context.Context, domain string) ([]Target, error)

	// Cluster is this node's view of its Raft group.
	Cluster(ctx context.Context) (Cluster, error)
	// JoinNode admits a node (by id and cluster address) as a voter. It is
	// refused (ErrRefused) when the new configuration would have no live
	// majority, unless force is set.
	JoinNode(ctx context.Context, id, addr string, force bool) error
	// RemoveNode takes a node out of the cluster, with the same check.
	RemoveNode(ctx context.Context, id string, force bool) error
	// Stepdown asks the leader to hand leadership to another member.
	Stepdown(ctx context.Context) error
	// Snapshot writes a consistent copy of the replicated state.
	Snapshot(ctx context.Context, w io.Writer) error

	OfflineBackend
}

// Cluster is a node's view of its Raft group.
type Cluster struct {
	ID           string   `json:"id"`
	Addr         string   `json:"addr"`
	State        string   `json:"state"`
	LeaderID     string   `json:"leader_id"`
	LeaderAddr   string   `json:"leader_addr"`
	Term         uint64   `json:"term"`
	LastIndex    uint64   `json:"last_index"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"` // Raft's; equals CommitIndex when caught up
	StateIndex   uint64   `json:"state_index"`   // last entry whose effect is in the state
	CaughtUp     bool     `json:"caught_up"`     // has applied what was committed at its start
	Members      []Member `json:"members"`
}

// Member is one server of the cluster. On the leader, Known members carry
// how long ago they last answered and how far their log lagged then.
type Member struct {
	ID            string `json:"id"`
	Addr          string `json:"addr"`
	Suffrage      string `json:"suffrage"`
	Leader        bool   `json:"leader"`
	Known         bool   `json:"known"`
	LastContactMS int64  `json:"last_contact_ms"`
	Lag           uint64 `json:"lag"`
}

// Link is one server-to-server link.
type Link struct {
	Local     string    `json:"local"`
	Remote    string    `json:"remote"`
	Direction string    `json:"direction"` // in or out
	State     string    `json:"state"`
	Auth      string    `json:"auth"` // cert or dialback, once authenticated
	In        uint64    `json:"stanzas_in"`
	Out       uint64    `json:"stanzas_out"`
	Queued    int       `json:"queued"`
	Failures  int       `json:"failures"`
	Since     time.Time `json:"since"`
}

// Target is one place to connect to for a domain's XMPP server.
type Target struct {
	Host      string `json:"host"`
	Port      uint16 `json:"port"`
	DirectTLS bool   `json:"direct_tls"`
}

// Status describes the running server.
type Status struct {
	Version  string            `json:"version"`
	Domains  []string          `json:"domains"`
	DataDir  string            `json:"data_dir"`
	Sessions int               `json:"sessions"`
	Listen   map[string]string `json:"listen"`
	Raft     map[string]string `json:"raft"`
	// Auth counts client SASL exchanges since the server started.
	Auth AuthCounts `json:"auth"`
	// Metrics are further figures of the node's parts (bounded tables,
	// refusals), exported as they are by the metrics endpoint.
	Metrics []Metric `json:"metrics,omitempty"`
}

// Metric is one figure for the metrics endpoint: a gauge, or a counter
// when Counter is set.
type Metric struct {
	Name    string `json:"name"`
	Help    string `json:"help"`
	Counter bool   `json:"counter,omitempty"`
	Value   int64  `json:"value"`
}

// AuthCounts are a node's client SASL counters.
type AuthCounts struct {
	Attempts  uint64 `json:"attempts"`  // <auth/> elements received
	Successes uint64 `json:"successes"` // exchanges that ended in <success/>
	// Failures are failed attempts that count toward closing the stream:
	// wrong password or unknown user, malformed or aborted exchanges.
	Failures uint64 `json:"failures"`
	// Mismatches are refused mechanisms and channel bindings, before any
	// credential was checked.
	Mismatches uint64 `json:"mismatches"`
}

// Session is one connected resource.
type Session struct {
	JID       string `json:"jid"`
	Available bool   `json:"available"`
	Priority  int    `json:"priority"`
}

// User is the body of user creation and password changes.
type User struct {
	JID      string `json:"jid,omitempty"`
	Password string `json:"password,omitempty"`
}

// Roster is a user's roster and its version (RFC 6121 2.6).
type Roster struct {
	Ver   string       `json:"ver"`
	Items []RosterItem `json:"items"`
}

// RosterItem is one item as the user's client sees it (RFC 6121 2.1.2).
type RosterItem struct {
	JID    string   `json:"jid"`
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
	// Subscription is "none", "to", "from" or "both".
	Subscription string `json:"subscription"`
	// Ask: the user's own request to the contact is pending
	// (ask='subscribe'). Approved: the user pre-approved the contact.
	Ask      bool `json:"ask"`
	Approved bool `json:"approved"`
}

// RosterSet is the body of adding or updating a roster item.
type RosterSet struct {
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// Pending is an inbound subscription request waiting for the user's
// answer: who asked, when the server received it, and the presence stanza
// as stored (XML), which may carry a nickname or a message.
type Pending struct {
	From   string    `json:"from"`
	At     time.Time `json:"at"`
	Stanza string    `json:"stanza"`
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}
