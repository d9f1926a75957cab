package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/heraldxmpp/herald/ops"
)

// Readiness is the node's readiness (GET /ready, heraldctl status, the
// service manager's READY=1): it has a leader, it has caught up with the
// cluster's log (consensus CaughtUp), and every configured listener is
// open and serving.
func (b *backend) Readiness(context.Context) ops.Readiness {
	return b.d.readiness()
}

func (d *daemon) readiness() ops.Readiness {
	st := d.node.Status()
	leader := ops.Check{Name: "leader", OK: st.LeaderID != ""}
	if leader.OK {
		leader.Detail = st.LeaderID
	} else {
		leader.Detail = "no leader known (term " + fmt.Sprint(st.Term) + ")"
	}
	caught := ops.Check{Name: "caught_up", OK: st.CaughtUp}
	if !caught.OK {
		caught.Detail = fmt.Sprintf("applied %d of commit %d", st.StateIndex, st.CommitIndex)
	}
	listeners := ops.Check{Name: "listeners", OK: d.serving.Load()}
	if !listeners.OK {
		listeners.Detail = "not serving (" + strings.Join(d.configuredRoles(), ", ") + ")"
	}
	return ops.NewReadiness(leader, caught, listeners)
}

// configuredRoles are the listeners the configuration asks for.
func (d *daemon) configuredRoles() []string {
	roles := []string{"admin"}
	for role, addrs := range map[string][]string{"c2s": d.cfg.C2S.Listen, "c2s_tls": d.cfg.C2S.ListenTLS,
		"s2s": d.cfg.S2S.Listen, "s2s_tls": d.cfg.S2S.ListenTLS} {
		if len(addrs) > 0 {
			roles = append(roles, role)
		}
	}
	if d.cfg.Admin.Metrics != "" {
		roles = append(roles, "metrics")
	}
	return roles
}
