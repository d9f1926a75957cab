package consensus

import (
	"net"

	"github.com/heraldxmpp/herald/consensus/mux"
)

// The peer channel (mux.Peers): messages between nodes that do not go
// through Raft, the session tables of the delivery layer. Consensus starts it
// and tells it the members, from the latest Raft configuration.

// PeerHandler receives what the peer channel brings (see mux.PeerHandler).
type PeerHandler = mux.PeerHandler

// ErrPeerDown is returned by SendPeer when there is no connection to the
// peer (unknown, down, or no cluster port).
var ErrPeerDown = mux.ErrPeerDown

// SetPeerHandler starts the peer channel with h as its handler. Call it
// once, after Open; without a cluster port it does nothing. Until it is
// called, peer connections are refused.
func (n *Node) SetPeerHandler(h PeerHandler) {
	if n.net == nil || h == nil {
		return
	}
	n.pmu.Lock()
	defer n.pmu.Unlock()
	if n.pm != nil || n.isClosed() {
		return
	}
	n.pm = mux.StartPeers(n.net, n.cfg.NodeID, n.members, h, n.log)
}

// SendPeer queues msg for the member id. It never blocks; it fails with
// ErrPeerDown when id is not connected, and when the connection's queue is
// full (the connection is then cut, see above).
func (n *Node) SendPeer(id string, msg []byte) error {
	pm := n.peerMgr()
	if pm == nil {
		return ErrPeerDown
	}
	return pm.Send(id, msg)
}

// Peers returns the IDs of the members connected now, sorted.
func (n *Node) Peers() []string {
	pm := n.peerMgr()
	if pm == nil {
		return nil
	}
	return pm.Connected()
}

// ID returns this node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

func (n *Node) peerMgr() *mux.Peers {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	return n.pm
}

// servePeer runs an inbound peer connection (the cluster port's 'P').
func (n *Node) servePeer(c net.Conn) {
	pm := n.peerMgr()
	if pm == nil {
		c.Close()
		return
	}
	pm.Accept(c)
}

// members returns the latest Raft configuration's members and addresses.
func (n *Node) members() (map[string]string, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, s := range f.Configuration().Servers {
		m[string(s.ID)] = string(s.Address)
	}
	return m, nil
}
