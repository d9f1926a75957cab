package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/heraldxmpp/herald/delivery/jid"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/delivery/xmlstream"
)

// Errors the stores of account services return (wrapped as they like),
// which Keeper.Write turns into what the client sees.
var (
	// ErrOverLimit: the write would take the account past its limit;
	// nothing was written.
	ErrOverLimit = errors.New("delivery: over the account's storage limit")
	// ErrStoreUnavailable: the store cannot write now (no quorum, the
	// leader lost); trying again later may work.
	ErrStoreUnavailable = errors.New("delivery: the store cannot accept writes now")
)

// KeeperWriteTimeout bounds one replicated write of a Keeper.
const KeeperWriteTimeout = 5 * time.Second

// Keeper is what services that keep XML for an account (private storage,
// the vCard) share: the per-account byte limit, the check that what is
// kept can be read back (FitsStored), the count of refusals for the
// metrics, and the one translation of store errors into stanza errors. A
// service embeds it; cmd/heraldd fills its fields.
type Keeper struct {
	// MaxBytes bounds what one account keeps; 0 means the service's
	// default.
	MaxBytes int
	// Stored are the limits kept XML is read back under (StoredLimits of
	// the stream limits): XML that would not read back is refused.
	Stored xmlstream.Limits
	Log    *slog.Logger

	refused atomic.Uint64
}

// KeeperStats are a Keeper's figures for the metrics.
type KeeperStats struct {
	// Limit is the byte limit in force.
	Limit int
	// Refused counts writes refused for the limit.
	Refused uint64
}

// Limit returns MaxBytes, or def when it is zero.
func (k *Keeper) Limit(def int) int {
	if k.MaxBytes > 0 {
		return k.MaxBytes
	}
	return def
}

// Stats returns the figures, with def as the default limit.
func (k *Keeper) Stats(def int) KeeperStats {
	return KeeperStats{Limit: k.Limit(def), Refused: k.refused.Load()}
}

// Logger returns Log or the default logger.
func (k *Keeper) Logger() *slog.Logger {
	if k.Log != nil {
		return k.Log
	}
	return slog.Default()
}

// Marshal serializes el for keeping. It refuses (and counts) an element
// that would not read back under Stored, or that with extra bytes of
// accounting would not fit in limit by itself, so that nothing larger
// than the limit is ever proposed. RFC 6120 8.3.3.9: a request that does
// not meet the server's criteria (its example is a payload too large) is
// not-acceptable.
func (k *Keeper) Marshal(el *stanza.Element, extra, limit int, text string) ([]byte, *stanza.Error) {
	raw, fits := FitsStored(el, k.Stored)
	if !fits || extra+len(raw) > limit {
		k.refused.Add(1)
		return nil, stanza.NewError(stanza.NotAcceptable, text)
	}
	return raw, nil
}

// Read parses XML kept by Marshal.
func (k *Keeper) Read(raw []byte) (*stanza.Element, error) { return ReadStored(raw, k.Stored) }

// Write runs one replicated write for user, bounded by
// KeeperWriteTimeout, and answers the IQ: the empty result, or the
// stanza error for the store's error (text for ErrOverLimit, which is
// counted). Internal detail goes to the log, never to the client.
func (k *Keeper) Write(iq *stanza.Element, from, to jid.JID, text string, write func(ctx context.Context) error) (*stanza.Element, *stanza.Error) {
	ctx, cancel := context.WithTimeout(context.Background(), KeeperWriteTimeout)
	defer cancel()
	err := write(ctx)
	switch {
	case err == nil:
		return Result(iq, from, to), nil
	case errors.Is(err, ErrOverLimit):
		k.refused.Add(1)
		return nil, stanza.NewError(stanza.NotAcceptable, text)
	case errors.Is(err, ErrStoreUnavailable):
		return nil, stanza.NewError(stanza.ServiceUnavailable, "the server cannot store this right now; try again")
	}
	k.Logger().Warn("account storage write failed", "user", from.Bare().String(), "payload", iq.FirstElement().Name.Space, "err", err)
	return nil, stanza.NewError(stanza.InternalServerError, "")
}
