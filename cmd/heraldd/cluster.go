package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
		Term: st.Term, LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex}
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

func (b *backend) JoinNode(ctx context.Context, id, addr string) error {
	if id == "" || addr == "" {
		return fmt.Errorf("%w: a node id and its cluster address are both needed", ops.ErrBadRequest)
	}
	return clusterErr(b.d.node.Join(ctx, id, addr))
}

func (b *backend) RemoveNode(ctx context.Context, id string) error {
	return clusterErr(b.d.node.Remove(ctx, id))
}

func (b *backend) Stepdown(ctx context.Context) error {
	return clusterErr(b.d.node.Stepdown(ctx))
}

func (b *backend) Snapshot(ctx context.Context, w io.Writer) error {
	return b.d.node.Snapshot(w)
}

func clusterErr(err error) error {
	if err == nil {
		return nil
	}
	return proposeErr(err)
}
