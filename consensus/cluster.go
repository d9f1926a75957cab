package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/heraldxmpp/herald/consensus/mux"
)

// checkCluster validates the cluster settings of cfg.
func checkCluster(cfg *Config) error {
	if cfg.ClusterAddr == "" {
		if len(cfg.Join) > 0 {
			return errors.New("consensus: Config.Join needs a ClusterAddr")
		}
		return nil
	}
	switch {
	case cfg.Transport != nil:
		return errors.New("consensus: Config.Transport and ClusterAddr are exclusive")
	case len(cfg.Secret) < MinSecretLen:
		return fmt.Errorf("consensus: Config.Secret must hold at least %d bytes (32 random ones are best)", MinSecretLen)
	case cfg.NodeID == "":
		return errors.New("consensus: Config.NodeID is required with ClusterAddr")
	case cfg.Bootstrap && len(cfg.Join) > 0:
		return errors.New("consensus: Config.Bootstrap and Join are exclusive")
	}
	for _, a := range cfg.Join {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("consensus: Config.Join: %q: %v", a, err)
		}
	}
	cfg.Secret = bytes.Clone(cfg.Secret)
	return nil
}

// listen opens the cluster port and builds Raft's transport over it and the
// forwarding client.
func (n *Node) listen(hlog hclog.Logger) (raft.Transport, error) {
	cn, err := mux.Listen(n.cfg.ClusterAddr, n.cfg.AdvertiseAddr, n.cfg.Secret, n.log)
	if err != nil {
		return nil, err
	}
	if n.cfg.WrapListener != nil {
		cn.WrapListener(n.cfg.WrapListener)
	}
	n.net = cn
	nt := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  cn.RaftLayer(),
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	})
	n.peers = &peerTransport{NetworkTransport: nt, seen: map[raft.ServerID]peerSeen{}}
	n.fwd = mux.NewClient(func(ctx context.Context, addr string) (net.Conn, error) {
		return cn.Dial(ctx, addr, mux.ChanForward)
	})
	n.log.Info("consensus: cluster port open", "node", n.cfg.NodeID, "bind", cn.BoundAddr().String(), "advertise", cn.Addr())
	return n.peers, nil
}

// WaitApplied waits until this node's state includes the log entry at index,
// typically the Result.Index of a write made through another node, so that
// reads here see that write. On the node that made the write it returns at
// once. It fails with ErrTimeout when ctx ends first, and with ErrClosed.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		ch := n.fsm.watch()
		if n.fsm.appliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: index %d not applied (at %d): %w", ErrTimeout, index, n.fsm.appliedIndex(), ctx.Err())
		case <-n.done:
			return ErrClosed
		}
	}
}
