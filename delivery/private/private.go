package private

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// NS is XEP-0049's namespace.
const NS = "jabber:iq:private"

// DefaultMaxBytes bounds the private XML one account keeps when
// Service.MaxBytes is zero: every element's namespace, name and
// serialized form, all elements together.
const DefaultMaxBytes = 64 << 10

// Store is the replicated private XML. Set keeps xml as the user's element
// {space}local, replacing the one before, unless the user's elements
// would then count more than limit bytes (ErrTooLarge); Get returns it.
type Store interface {
	Get(user, space, local string) (xml []byte, ok bool, err error)
	Set(ctx context.Context, user, space, local string, xml []byte, limit int) error
}

// Errors a Store returns, for the service to tell the client.
var (
	ErrTooLarge    = errors.New("private: over the account's private storage limit")
	ErrUnavailable = errors.New("private: the store cannot accept writes now")
)

// Service answers jabber:iq:private gets and sets to the account's own
// bare JID.
type Service struct {
	Store Store
	// MaxBytes bounds each account's private XML; 0 is DefaultMaxBytes.
	MaxBytes int
	// Stored are the limits elements are read back under
	// (delivery.StoredLimits of the stream limits); an element that
	// would not read back under them is refused when set.
	Stored xmlstream.Limits
	Log    *slog.Logger

	refused atomic.Uint64
}

// Stats are the service's figures for the metrics.
type Stats struct {
	// Limit is MaxBytes in force.
	Limit int
	// RefusedTooLarge counts sets refused for the account's limit.
	RefusedTooLarge uint64
}

// Stats returns the service's figures.
func (s *Service) Stats() Stats {
	return Stats{Limit: s.limit(), RefusedTooLarge: s.refused.Load()}
}

func (s *Service) limit() int {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

const writeTimeout = 5 * time.Second

// Register implements delivery.Service. XEP-0049 defines no disco
// feature; the server lists jabber:iq:private among its own, as servers
// commonly do, for clients that look before they store.
func (s *Service) Register(m *delivery.Mux) {
	m.Feature(NS)
	m.HandleUser(stanza.Name{Space: NS, Local: "query"}, s.handle)
}

// reserved reports a namespace XEP-0049 2.3 calls reserved: those
// beginning with 'jabber:' or 'http://jabber.org/', and 'vcard-temp'.
func reserved(space string) bool {
	return strings.HasPrefix(space, "jabber:") || strings.HasPrefix(space, "http://jabber.org/") || space == "vcard-temp"
}

func (s *Service) handle(iq, q *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	user := from.Bare()
	if to.Bare() != user {
		// XEP-0049 2.3 and 5: only the account itself gets or sets its
		// private XML; anyone else MUST get forbidden (the preferable
		// of the two conditions the XEP allows).
		return nil, stanza.NewError(stanza.Forbidden, "")
	}
	els := q.Elements()
	if len(els) == 0 {
		// XEP-0049 2.3: at least one child element MUST be included,
		// otherwise the server MUST answer not-acceptable.
		return nil, stanza.NewError(stanza.NotAcceptable, "the query needs one element in its own namespace")
	}
	if len(els) > 1 {
		// A get MUST NOT name more than one namespace (XEP-0049 2.3); a
		// set of several elements is refused as well, so that each
		// request stores or reads one element, whole.
		return nil, stanza.NewError(stanza.NotAcceptable, "one element per request")
	}
	el := els[0]
	if el.Name.Space == "" || el.Name.Space == NS {
		// XEP-0049 2.1: the fragment's root is scoped by its own namespace.
		return nil, stanza.NewError(stanza.NotAcceptable, "the element needs a namespace of its own")
	}
	if reserved(el.Name.Space) {
		// XEP-0049 2.3: reserved namespaces are refused (the optional
		// not-acceptable the XEP describes).
		return nil, stanza.NewError(stanza.NotAcceptable, "a reserved namespace")
	}
	switch iq.Get("type") {
	case "get":
		return s.get(iq, el, from, to)
	case "set":
		return s.set(iq, el, from, to)
	}
	return nil, stanza.NewError(stanza.BadRequest, "")
}

func (s *Service) get(iq, el *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	user := from.Bare().String()
	raw, ok, err := s.Store.Get(user, el.Name.Space, el.Name.Local)
	if err != nil {
		s.log().Warn("private storage read failed", "user", user, "err", err)
		return nil, stanza.NewError(stanza.InternalServerError, "")
	}
	// Nothing stored: the element as asked for, empty (XEP-0049 2.3
	// returns the query's element; common servers answer the same).
	stored := stanza.NewElement(el.Name.Space, el.Name.Local)
	if ok {
		if stored, err = delivery.ReadStored(raw, s.Stored); err != nil {
			s.log().Warn("unreadable private XML", "user", user, "element", "{"+el.Name.Space+"}"+el.Name.Local, "err", err)
			return nil, stanza.NewError(stanza.InternalServerError, "")
		}
	}
	return delivery.Result(iq, from, to).Append(stanza.NewElement(NS, "query").Append(stored)), nil
}

func (s *Service) set(iq, el *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	user := from.Bare().String()
	raw, fits := delivery.FitsStored(el, s.Stored)
	if !fits || len(el.Name.Space)+len(el.Name.Local)+len(raw) > s.limit() {
		// Never proposed: it could not be kept. RFC 6120 8.3.3.9: a
		// request that does not meet the server's criteria (its example
		// is a payload too large) is not-acceptable.
		s.refused.Add(1)
		return nil, stanza.NewError(stanza.NotAcceptable, "the element is larger than the account's private storage")
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	err := s.Store.Set(ctx, user, el.Name.Space, el.Name.Local, raw, s.limit())
	switch {
	case err == nil:
		return delivery.Result(iq, from, to), nil
	case errors.Is(err, ErrTooLarge):
		s.refused.Add(1)
		return nil, stanza.NewError(stanza.NotAcceptable, "the account's private storage is full")
	case errors.Is(err, ErrUnavailable):
		return nil, stanza.NewError(stanza.ServiceUnavailable, "the server cannot store this right now; try again")
	}
	s.log().Warn("private storage write failed", "user", user, "err", err)
	return nil, stanza.NewError(stanza.InternalServerError, "")
}
