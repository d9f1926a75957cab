package private

import (
	"context"
	"strings"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// NS is XEP-0049's namespace.
const NS = "jabber:iq:private"

// DefaultMaxBytes bounds the private XML one account keeps when MaxBytes
// is zero: every element's namespace, name and serialized form, all
// elements together.
const DefaultMaxBytes = 64 << 10

// Store is the replicated private XML. Set keeps xml as the user's element
// {space}local, replacing the one before, unless the user's elements
// would then count more than limit bytes (an error wrapping
// delivery.ErrOverLimit); Get returns it.
type Store interface {
	Get(user, space, local string) (xml []byte, ok bool, err error)
	Set(ctx context.Context, user, space, local string, xml []byte, limit int) error
}

// Service answers jabber:iq:private gets and sets to the account's own
// bare JID. The embedded Keeper holds the limit (MaxBytes), the limits
// elements are read back under, and the log.
type Service struct {
	Store Store
	delivery.Keeper
}

// Stats returns the service's figures for the metrics.
func (s *Service) Stats() delivery.KeeperStats { return s.Keeper.Stats(DefaultMaxBytes) }

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
	if to.Bare() != from.Bare() {
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
	// Nothing stored: the element as asked for, empty (XEP-0049 2.3
	// returns the query's element; common servers answer the same).
	stored := stanza.NewElement(el.Name.Space, el.Name.Local)
	if err == nil && ok {
		stored, err = s.Read(raw)
	}
	if err != nil {
		s.Logger().Warn("private storage read failed", "user", user, "element", "{"+el.Name.Space+"}"+el.Name.Local, "err", err)
		return nil, stanza.NewError(stanza.InternalServerError, "")
	}
	return delivery.Result(iq, from, to).Append(stanza.NewElement(NS, "query").Append(stored)), nil
}

const tooLarge = "the account's private storage is full"

func (s *Service) set(iq, el *stanza.Element, from, to jid.JID) (*stanza.Element, *stanza.Error) {
	limit := s.Limit(DefaultMaxBytes)
	raw, serr := s.Marshal(el, len(el.Name.Space)+len(el.Name.Local), limit, tooLarge)
	if serr != nil {
		return nil, serr
	}
	return s.Write(iq, from, to, tooLarge, func(ctx context.Context) error {
		return s.Store.Set(ctx, from.Bare().String(), el.Name.Space, el.Name.Local, raw, limit)
	})
}
