package main

import (
	"sync"

	"github.com/heraldxmpp/herald/delivery"
	"github.com/heraldxmpp/herald/delivery/stanza"
)

// Departures are handled by a few workers through a bounded queue: a
// node holding many sessions that dies costs a fixed number of goroutines,
// and the peer channel waits when the queue is full.
const (
	departWorkers = 4
	departQueue   = 1024
)

// createSessions connects the registry to the other nodes over the
// cluster port's peer channel (delivery/remote.go, consensus/peer.go):
// stanzas for a resource on another node are forwarded there, and when a
// node goes away its users' contacts get the unavailable presence they are
// owed. A node without a cluster port has no one to share with. The
// sharing starts in serve, once every listener is open.
func (d *daemon) createSessions(reg *delivery.Registry) {
	if d.cfg.Cluster.Bind == "" {
		return
	}
	rs := d.roster
	// RFC 6121 4.5.2, on behalf of a resource whose node is gone: to the
	// user's own resources, then the contacts. Off the peer channel's
	// goroutine: the roster is read from the store.
	d.departed = newDepartures(departWorkers, departQueue, func(res delivery.Resource) {
		un := stanza.NewElement(stanza.NSClient, "presence").Set("from", res.JID.String()).Set("type", "unavailable")
		var buf [8]delivery.Resource
		for _, r := range reg.Resources(buf[:0], res.JID.Bare()) {
			if r.Available {
				r.Sink.Deliver(un)
			}
		}
		rs.Unavailable(res.JID, un)
	})
	cl := delivery.NewCluster(reg, d.node)
	cl.Log = d.log.With("component", "sessions")
	cl.Limits = streamLimits(d.cfg)
	cl.Departed = d.departed.add
	d.sessions = cl
}

// departures runs handle for each resource of a departed node on a fixed
// number of workers. add blocks while the queue is full; close stops the
// workers and waits for the one handling a resource to finish.
type departures struct {
	handle  func(delivery.Resource)
	workers int
	q       chan delivery.Resource
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newDepartures(workers, queue int, handle func(delivery.Resource)) *departures {
	return &departures{handle: handle, workers: workers,
		q: make(chan delivery.Resource, queue), stop: make(chan struct{})}
}

// start launches the workers.
func (p *departures) start() {
	for range p.workers {
		p.wg.Go(func() {
			for {
				select {
				case <-p.stop:
					return
				case r := <-p.q:
					p.handle(r)
				}
			}
		})
	}
}

// add queues r. After close it returns at once and r is dropped: the node
// is shutting down.
func (p *departures) add(r delivery.Resource) {
	select {
	case p.q <- r:
	case <-p.stop:
	}
}

// close stops the workers and waits for them.
func (p *departures) close() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}
