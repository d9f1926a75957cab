package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/c2s"
	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/cmd/internal/config"
	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
	"github.com/heraldxmpp/herald/ops"
)

// proposeTimeout bounds a write through Raft made on a user's behalf.
const proposeTimeout = 5 * time.Second

// store adapts the consensus node to what the stanza plane and the admin
// API need: account lookups, offline storage, account management.
type store struct {
	node        *consensus.Node
	domains     map[string]bool
	minPassword int
	// stored bounds the offline messages read back: the stream limits
	// with the headroom the server's own additions need
	// (delivery.StoredLimits). Store refuses what would not fit.
	stored xmlstream.Limits
	log    *slog.Logger

	// Offline storage counters since start, for the metrics.
	offlineStored, refusedFull, refusedTooLarge atomic.Uint64
}

// streamLimits are the limits client and server streams are held to.
func streamLimits(cfg config.Config) xmlstream.Limits {
	return xmlstream.Limits{MaxStanza: cfg.Limits.MaxStanza, MaxDepth: cfg.Limits.MaxDepth}
}

// storedLimits bound the offline messages the server keeps: what the
// streams accept plus the server's own additions, and never more than
// fits a client's send queue (limits.max_queue), since a stanza larger
// than the queue would cut off its recipient at every login.
func storedLimits(cfg config.Config) xmlstream.Limits {
	lim := delivery.StoredLimits(streamLimits(cfg))
	if q := cfg.Limits.MaxQueue; q > 0 {
		lim.MaxStanza = min(lim.MaxStanza, q)
	}
	return lim
}

// Exists implements delivery.Accounts.
func (s *store) Exists(bare jid.JID) bool {
	_, err := s.node.Account(bare.String())
	return err == nil
}

// Credentials implements c2s.Credentials.
func (s *store) Credentials(domain, username string) (sasl.Credentials, error) {
	var c sasl.Credentials
	a, err := s.node.Account(username + "@" + domain)
	if errors.Is(err, consensus.ErrNotFound) {
		return c, sasl.ErrNoSuchUser
	}
	if err != nil {
		return c, err
	}
	err = c.UnmarshalBinary(a.Secret)
	return c, err
}

// Store implements delivery.Offline (XEP-0160).
func (s *store) Store(to jid.JID, st *stanza.Element) error {
	raw, ok := delivery.FitsStored(st, s.stored)
	if !ok {
		s.refusedTooLarge.Add(1)
		// Whatever is stored must be deliverable: a message that could
		// not be read back is refused now, while the sender can be told
		// (RFC 6120 8.3.3.11: a request the server cannot process because
		// of its size), rather than dropped at the recipient's login.
		return fmt.Errorf("%w: %w", delivery.ErrTooLarge,
			stanza.NewError(stanza.NotAcceptable, "the message is too large to be stored for later delivery"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), proposeTimeout)
	defer cancel()
	_, err := s.node.Propose(ctx, consensus.StoreOffline{
		User:   to.Bare().String(),
		From:   st.Get("from"),
		Stanza: raw,
		At:     time.Now().UnixNano(),
	})
	switch {
	case err == nil:
		s.offlineStored.Add(1)
		return nil
	case errors.Is(err, consensus.ErrOfflineFull):
		s.refusedFull.Add(1)
		// XEP-0160 3 ("the recipient's offline message queue is full")
		// and RFC 6121 8.5.2.2.1 (b): the sender gets service-unavailable.
		return stanza.NewError(stanza.ServiceUnavailable, "the recipient's offline storage is full")
	case errors.Is(err, consensus.ErrNotFound):
		return stanza.NewError(stanza.ServiceUnavailable, "")
	case errors.Is(err, consensus.ErrOutcomeUnknown):
		// Not stored is not known: the sender must not be told it failed
		// (a resend would duplicate it), nor that it was stored.
		s.log.Warn("storing an offline message: outcome unknown", "to", to.String(), "err", err)
		return stanza.NewError(stanza.ResourceConstraint, "the server lost track of this message: it may have been stored and may be delivered later")
	default:
		s.log.Warn("storing an offline message failed", "to", to.String(), "err", err)
		return stanza.NewError(stanza.ResourceConstraint, "the message could not be stored; try again later")
	}
}

// Pending implements c2s.OfflineQueue.
func (s *store) Pending(bare jid.JID) ([]c2s.Stored, error) {
	msgs, err := s.node.Offline(bare.String())
	if err != nil {
		return nil, err
	}
	out := make([]c2s.Stored, 0, len(msgs))
	for _, m := range msgs {
		el, err := delivery.ReadStored(m.Stanza, s.stored)
		if err != nil {
			s.log.Warn("dropping an unreadable offline message", "to", bare.String(), "seq", m.Seq, "err", err)
			continue
		}
		out = append(out, c2s.Stored{Seq: m.Seq, Stanza: el, At: time.Unix(0, m.At)})
	}
	return out, nil
}

// Ack implements c2s.OfflineQueue.
func (s *store) Ack(bare jid.JID, upTo uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), proposeTimeout)
	defer cancel()
	_, err := s.node.Propose(ctx, consensus.DeleteOffline{User: bare.String(), UpTo: upTo})
	return err
}

// account parses an operator-supplied JID for an account on this server.
func (s *store) account(raw string) (jid.JID, error) {
	j, err := jid.Parse(raw)
	if err != nil {
		return j, fmt.Errorf("%w: %q is not a valid JID: %v", ops.ErrBadRequest, raw, err)
	}
	if j.Local() == "" || !j.IsBare() {
		return j, fmt.Errorf("%w: %q is not an account address; use user@domain", ops.ErrBadRequest, raw)
	}
	if !s.domains[j.Domain()] {
		return j, fmt.Errorf("%w: this server does not serve the domain %q", ops.ErrBadRequest, j.Domain())
	}
	return j, nil
}

func (s *store) secret(password string) ([]byte, error) {
	if len([]rune(password)) < s.minPassword {
		return nil, fmt.Errorf("%w: the password is too short: use at least %d characters", ops.ErrBadRequest, s.minPassword)
	}
	c, err := sasl.NewCredentials(password, 0, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: the password cannot be used: %v", ops.ErrBadRequest, err)
	}
	return c.MarshalBinary()
}

func (s *store) CreateUser(ctx context.Context, raw, password string) error {
	j, err := s.account(raw)
	if err != nil {
		return err
	}
	secret, err := s.secret(password)
	if err != nil {
		return err
	}
	_, err = s.node.Propose(ctx, consensus.CreateAccount{Name: j.String(), Secret: secret, Created: time.Now().UnixNano()})
	if errors.Is(err, consensus.ErrExists) {
		return fmt.Errorf("%w: the user %s already exists", ops.ErrExists, j)
	}
	return proposeErr(err)
}

func (s *store) SetPassword(ctx context.Context, raw, password string) error {
	j, err := s.account(raw)
	if err != nil {
		return err
	}
	secret, err := s.secret(password)
	if err != nil {
		return err
	}
	_, err = s.node.Propose(ctx, consensus.SetSecret{Name: j.String(), Secret: secret})
	if errors.Is(err, consensus.ErrNotFound) {
		return fmt.Errorf("%w: there is no user %s", ops.ErrNotFound, j)
	}
	return proposeErr(err)
}

func (s *store) deleteUser(ctx context.Context, raw string) (jid.JID, error) {
	j, err := s.account(raw)
	if err != nil {
		return j, err
	}
	_, err = s.node.Propose(ctx, consensus.DeleteAccount{Name: j.String()})
	if errors.Is(err, consensus.ErrNotFound) {
		return j, fmt.Errorf("%w: there is no user %s", ops.ErrNotFound, j)
	}
	return j, proposeErr(err)
}

func (s *store) ListUsers(ctx context.Context, domain string) ([]string, error) {
	if domain != "" && !s.domains[strings.ToLower(domain)] {
		return nil, fmt.Errorf("%w: this server does not serve the domain %q", ops.ErrBadRequest, domain)
	}
	return s.node.Accounts(strings.ToLower(domain))
}

// proposeErr translates what a failed write means to an operator: not made
// (the cluster cannot accept writes), or perhaps made.
func proposeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, consensus.ErrNotApplied):
		return fmt.Errorf("%w: %v", ops.ErrNoQuorum, err)
	case errors.Is(err, consensus.ErrOutcomeUnknown), errors.Is(err, consensus.ErrNotLeader),
		errors.Is(err, consensus.ErrTimeout), errors.Is(err, consensus.ErrClosed):
		return fmt.Errorf("%w: %v", ops.ErrOutcomeUnknown, err)
	default:
		return err
	}
}
