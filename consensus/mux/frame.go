package mux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrame bounds a frame's payload.
const MaxFrame = 64 << 20

// ErrFrame is returned by ReadFrame for a frame longer than MaxFrame.
var ErrFrame = errors.New("mux: frame too large")

// FrameStart begins a frame at the end of b: a length that FrameEnd patches
// in once the payload is appended. Frames are a uint32 big-endian length and
// the payload, at most MaxFrame bytes; every channel but Raft's uses them.
func FrameStart(b []byte) []byte { return append(b, 0, 0, 0, 0) }

// FrameEnd completes the frame that FrameStart began at b[start:].
func FrameEnd(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// ReadFrame reads one frame's payload, into buf when it is large enough.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrame, n)
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
