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

// The cluster port itself (listener, handshake, channels, the forwarding
// channel's multiplexing and frames) is package mux.

// MinSecretLen is the minimum length of Config.Secret.
const MinSecretLen = mux.MinSecretLen

// ErrAuth is returned when a cluster peer does not prove knowledge of the
// cluster secret (or this node does not, to it).
var ErrAuth = mux.ErrAuth

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
