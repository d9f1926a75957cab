package vcard

import (
	"context"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// NS is XEP-0054's namespace, also its disco feature (XEP-0054 4).
const NS = "vcard-temp"

// DefaultMaxBytes bounds one account's serialized vCard, PHOTO included,
// when MaxBytes is zero.
const DefaultMaxBytes = 128 << 10

// Store is the replicated vCards. Set keeps xml as the user's vCard,
// replacing the one before, unless it is longer than limit (an error
// wrapping delivery.ErrOverLimit).
type Store interface {
	Get(user string) (xml []byte, ok bool, err error)
	Set(ctx context.Context, user string, xml []byte, limit int) error
}

// Service answers vcard-temp gets and sets to accounts' bare JIDs. The
// embedded Keeper holds the limit (MaxBytes), the limits vCards are read
// back under, and the log.
type Service struct {
	Store Store
	delivery.Keeper
}

// Stats returns the service's figures for the metrics.
func (s *Service) Stats() delivery.KeeperStats { return s.Keeper.Stats(DefaultMaxBytes) }

// Register implements delivery.Service.
func (s *Service) Register(m *delivery.Mux) {
	// XEP-0054 4: an entity supporting vcard-temp MUST say so in its
	// disco#info.
	m.Feature(NS)
	m.HandleUser(stanza.Name{Space: NS, Local: "vCard"}, s.handle)
}

func (s *Service) handle(iq, v *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	owner := to.Bare() == from.Bare()
	switch iq.Get("type") {
	case "get":
		return s.get(iq, from, to, owner)
	case "set":
		if !owner {
			// XEP-0054 3.2: a set on another user's vCard MUST be a
			// stanza error, which SHOULD be forbidden.
			return nil, stanza.NewError(stanza.Forbidden, "")
		}
		return s.set(iq, v, from, to)
	}
	return nil, stanza.NewError(stanza.BadRequest, "")
}

func (s *Service) get(iq *stanza.Element, from, to jid.JID, owner bool) (*stanza.Element, *stanza.Error) {
	user := to.Bare().String()
	raw, ok, err := s.Store.Get(user)
	if err == nil && !ok {
		if owner {
			// XEP-0054 3.1: no vCard of one's own MUST be an error or
			// an empty vCard. The empty vCard: clients read the vCard
			// before they change it (XEP-0153 avatars), and an error
			// would stop them at their first avatar.
			return delivery.Result(iq, from, to).Append(stanza.NewElement(NS, "vCard")), nil
		}
		// XEP-0054 3.3: someone else's missing vCard MUST get the same
		// error as a missing account, service-unavailable (RFC 6121
		// 8.5.1), so that nobody learns which accounts exist.
		return nil, stanza.NewError(stanza.ServiceUnavailable, "")
	}
	var card *stanza.Element
	if err == nil {
		card, err = s.Read(raw)
	}
	if err != nil {
		s.Logger().Warn("vCard read failed", "user", user, "err", err)
		return nil, stanza.NewError(stanza.InternalServerError, "")
	}
	// XEP-0054 3.3: the server answers on the user's behalf and never
	// passes the request to a resource.
	return delivery.Result(iq, from, to).Append(card), nil
}

const tooLarge = "the vCard is larger than the server keeps"

func (s *Service) set(iq, v *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	limit := s.Limit(DefaultMaxBytes)
	raw, serr := s.Marshal(v, 0, limit, tooLarge)
	if serr != nil {
		return nil, serr
	}
	return s.Write(iq, from, to, tooLarge, func(ctx context.Context) error {
		return s.Store.Set(ctx, from.Bare().String(), raw, limit)
	})
}
