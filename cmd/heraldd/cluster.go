package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/heraldxmpp/herald/c2s/sasl"
	"github.com/heraldxmpp/herald/cmd/internal/config"
	"github.com/heraldxmpp/herald/consensus"
	"github.com/heraldxmpp/herald/ops"
)

// restoreSnapshot fills an empty data directory from a snapshot file made
// by `heraldctl snapshot save`; the node then starts as a new one-node
// cluster holding that state.
func restoreSnapshot(cfg config.Config, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	return consensus.RestoreDir(filepath.Join(cfg.DataDir, "consensus"), f)
}

func (b *backend) Cluster(ctx context.Context) (ops.Cluster, error) {
	st := b.d.node.Status()
	out := ops.Cluster{ID: st.ID, Addr: st.Addr, State: st.State, LeaderID: st.LeaderID, LeaderAddr: st.LeaderAddr,
		Term: st.Term, LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		StateIndex: st.StateIndex, CaughtUp: st.CaughtUp}
	for _, m := range st.Members {
		om := ops.Member{ID: m.ID, Addr: m.Addr, Suffrage: m.Suffrage, Leader: m.Leader}
		if m.Known {
			om.LastContactMS = m.LastContact.Milliseconds()
			om.Lag = m.Lag
			om.Known = true
		}
		out.Members = append(out.Members, om)
	}
	return out, nil
}

func (b *backend) JoinNode(ctx context.Context, id, addr string, force bool) error {
	if id == "" || addr == "" {
		return fmt.Errorf("%w: a node id and its cluster address are both needed", ops.ErrBadRequest)
	}
	if force {
		return clusterErr(b.d.node.ForceJoin(ctx, id, addr))
	}
	return clusterErr(b.d.node.Join(ctx, id, addr))
}

func (b *backend) RemoveNode(ctx context.Context, id string, force bool) error {
	if force {
		return clusterErr(b.d.node.ForceRemove(ctx, id))
	}
	return clusterErr(b.d.node.Remove(ctx, id))
}

func (b *backend) Stepdown(ctx context.Context) error {
	return clusterErr(b.d.node.Stepdown(ctx))
}

func (b *backend) Snapshot(ctx context.Context, w io.Writer) error {
	return b.d.node.Snapshot(w)
}

func clusterErr(err error) error {
	switch {
	case errors.Is(err, consensus.ErrUnsafe):
		return fmt.Errorf("%w: %v", ops.ErrRefused, err)
	case errors.Is(err, consensus.ErrNotFound):
		return fmt.Errorf("%w: %v", ops.ErrNotFound, err)
	case errors.Is(err, consensus.ErrInvalid):
		return fmt.Errorf("%w: %v", ops.ErrBadRequest, err)
	}
	return proposeErr(err)
}

// errCatchingUp is what a login meets on a node that has not yet applied
// what the cluster had committed when it started.
var errCatchingUp = errors.New("this node is catching up with the cluster")

// credentials looks an account up for a login, once the node has caught up
// with the cluster (consensus.Node.CaughtUp). Before that its state may
// lack an account, or hold an old password, that the cluster acknowledged:
// answering from it would tell a client with the right password that it is
// wrong. The error makes the login fail with temporary-auth-failure, which
// RFC 6120 6.5.11 defines for a temporary condition within the receiving
// entity and tells the client to retry later; once caught up, logins go
// through. Roster and offline reads need no check of their own: they only
// follow a login.
func (d *daemon) credentials(domain, username string) (sasl.Credentials, error) {
	if !d.node.CaughtUp() {
		return sasl.Credentials{}, errCatchingUp
	}
	return d.store.Credentials(domain, username)
}

// clusterStartErr adds to an error of opening the state store what the
// operator should do about it.
func clusterStartErr(err error) error {
	switch {
	case errors.Is(err, consensus.ErrRestored):
		return fmt.Errorf("%w (start it once with -bootstrap, or cluster.bootstrap = true)", err)
	case errors.Is(err, consensus.ErrIdentity):
		return fmt.Errorf("%w (on a member: heraldctl cluster remove ID; then start this node again with -join)", err)
	}
	return err
}
