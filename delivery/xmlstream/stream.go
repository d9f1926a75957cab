package xmlstream

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
)

// What a reader goroutine of a client or server stream needs beyond the
// Decoder: the stream id it puts in its header, the sentinel its handlers
// return once they have hung up, and the translation of a read error into
// what the peer is owed.

// HangUp is returned by a stream's element handler that has already
// closed the connection: the peer is owed no stream error. It is never
// sent.
var HangUp = &StreamError{Condition: UndefinedCondition, Err: errors.New("xmlstream: the connection was closed without a stream error")}

// NewStreamID returns a fresh stream id for a response stream header:
// 96 random bits in hex. RFC 6120 4.7.3: the id MUST be unique within the
// receiving entity and SHOULD be unpredictable (it keys Server Dialback,
// XEP-0185).
func NewStreamID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ReadError turns what Decoder.Next returned into what the peer is owed
// (RFC 6120 4.9): the stream error itself for a syntax or limit problem; a
// <connection-timeout/> (4.9.3.4) for a read deadline that passed while
// the stream was still negotiating (afterwards a deadline is ours to
// handle, not the peer's fault); nil otherwise. hungUp reports that the
// peer closed the connection or that it was closed under the reader, so
// nothing is worth logging. (An error of the server's own, rather than of
// the read, goes through ToStreamError.)
func ReadError(err error, negotiating bool) (se *StreamError, hungUp bool) {
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se, false
	case errors.As(err, &ne) && ne.Timeout() && negotiating:
		return NewError(ConnectionTimeout, "the stream was not negotiated in time"), false
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return nil, true
	}
	return nil, false
}
