package consensus

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Node identities. Every data directory holds a random identity, made at
// its first start (identityFile). The cluster keeps, replicated, the
// identity each node ID presented first (NodeIdentity). A node presents its
// identity at every start, before it serves anything: a node ID that comes
// back with another identity is a data directory that was wiped or swapped,
// whose Raft log may be empty or from another history; it is refused
// (ErrIdentity) until an operator removes the ID from the cluster, which
// forgets the identity, and joins it again.

// The catalogue row of the node identity command.
var _ = register(row{TypeNodeIdentity, "node-identity", decodeNodeIdentity})

// identityFile is the file in Config.Dir holding the node's identity.
const identityFile = "identity"

// maxIdentityLen bounds a node ID and an identity in a command.
const maxIdentityLen = 256

// ErrIdentity is returned when a node presents an identity other than the
// one the cluster recorded for its ID.
var ErrIdentity = errors.New("consensus: node identity mismatch")

// NodeIdentity records that Node's data directory has Identity. A claim
// (Identity not empty) records the identity when the node has none yet,
// changes nothing when it is the recorded one, and fails with ErrIdentity
// when it differs. An empty Identity forgets the record (ErrNotFound if
// there is none), as Remove does.
//
// Applied, a claim is also a read barrier: its index is above every entry
// committed before it was proposed, so a node that has applied its own
// claim has caught up with the cluster as of its start (WaitCaughtUp).
type NodeIdentity struct {
	Node     string
	Identity string
}

func (NodeIdentity) Type() CommandType { return TypeNodeIdentity }

func (c NodeIdentity) validate() error {
	if c.Node == "" || len(c.Node) > maxIdentityLen || len(c.Identity) > maxIdentityLen ||
		strings.IndexByte(c.Node, 0) >= 0 {
		return fmt.Errorf("%w: node identity %q=%q", ErrInvalid, c.Node, c.Identity)
	}
	return nil
}

func (c NodeIdentity) encode(b []byte) []byte {
	return appendString(appendString(b, c.Node), c.Identity)
}

func decodeNodeIdentity(d *decoder) Command {
	return NodeIdentity{Node: d.string(), Identity: d.string()}
}

func (c NodeIdentity) apply(t *tx) (Result, error) {
	k := nodeKey(c.Node)
	v, ok, err := t.get(k)
	if err != nil {
		return Result{}, err
	}
	switch {
	case c.Identity == "" && !ok:
		return Result{}, fmt.Errorf("%w: no identity recorded for node %q", ErrNotFound, c.Node)
	case c.Identity == "":
		return Result{}, t.b.Delete(k, nil)
	case !ok:
		return Result{}, t.b.Set(k, []byte(c.Identity), nil)
	case string(v) != c.Identity:
		return Result{}, identityMismatch(c.Node, c.Identity, string(v))
	}
	return Result{}, nil
}

func identityMismatch(node, got, recorded string) error {
	return fmt.Errorf("%w: node %q presents identity %s but the cluster knows it as %s: "+
		"its data directory was replaced; remove the node from the cluster and join it again",
		ErrIdentity, node, got, recorded)
}

// Identity returns this node's identity, from its data directory.
func (n *Node) Identity() string { return n.identity }

// NodeIdentities returns the recorded identity of every node ID.
func (n *Node) NodeIdentities() (map[string]string, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return nil, ErrClosed
	}
	it, err := n.db.NewIter(&pebble.IterOptions{LowerBound: nodesStart, UpperBound: nodesEnd})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for it.First(); it.Valid(); it.Next() {
		out[string(it.Key()[1:])] = string(it.Value())
	}
	return out, errors.Join(it.Error(), it.Close())
}

// loadIdentity reads the identity of the data directory dir, making one
// at the first start.
func loadIdentity(dir string) (string, error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" || len(id) > maxIdentityLen {
			return "", fmt.Errorf("consensus: %s does not hold a node identity", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("consensus: %w", err)
	}
	id := rand.Text()
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = f.WriteString(id + "\n")
		if err == nil {
			err = f.Sync()
		}
		err = errors.Join(err, f.Close())
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return "", fmt.Errorf("consensus: writing the node identity: %w", err)
	}
	return id, nil
}

// forgetIdentities deletes every recorded node identity: a restored
// snapshot starts a new cluster, whose nodes present themselves afresh.
func forgetIdentities(db *pebble.DB) error {
	return db.DeleteRange(nodesStart, nodesEnd, pebble.Sync)
}
