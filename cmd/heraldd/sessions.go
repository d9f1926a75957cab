package main

import (
	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/stanza"
	"github.com/heraldxmpp/herald/roster"
)

// shareSessions connects the registry to the other nodes over the cluster
// port's peer channel (delivery/remote.go, consensus/peer.go): stanzas for
// a resource on another node are forwarded there, and when a node goes
// away its users' contacts get the unavailable presence they are owed. A
// node without a cluster port has no one to share with.
func (d *daemon) shareSessions(reg *delivery.Registry, rs *roster.Service) {
	if d.cfg.Cluster.Bind == "" {
		return
	}
	cl := delivery.NewCluster(reg, d.node)
	cl.Log = d.log.With("component", "sessions")
	cl.Departed = func(res delivery.Resource) {
		// RFC 6121 4.5.2, on behalf of a resource whose node is gone: to
		// the user's own resources, then the contacts. Off the peer
		// channel's goroutine: the roster is read from the store.
		go func() {
			un := stanza.NewElement(stanza.NSClient, "presence").Set("from", res.JID.String()).Set("type", "unavailable")
			var buf [8]delivery.Resource
			for _, r := range reg.Resources(buf[:0], res.JID.Bare()) {
				if r.Available {
					r.Sink.Deliver(un)
				}
			}
			rs.Unavailable(res.JID, un)
		}()
	}
	d.node.SetPeerHandler(cl)
}
