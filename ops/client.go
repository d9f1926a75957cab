package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// Client calls the admin API over its unix socket.
type Client struct {
	http   *http.Client
	socket string
}

// Dial returns a client for the admin socket at path. It does not connect
// until the first call.
func Dial(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{http: &http.Client{Transport: tr}, socket: path}
}

// Status returns the server's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, "GET", "/v1/status", nil, &st)
	return st, err
}

// ListUsers returns the accounts, of one domain when domain is set.
func (c *Client) ListUsers(ctx context.Context, domain string) ([]string, error) {
	var out struct{ Users []string }
	p := "/v1/users"
	if domain != "" {
		p += "?domain=" + url.QueryEscape(domain)
	}
	err := c.do(ctx, "GET", p, nil, &out)
	return out.Users, err
}

// CreateUser creates an account.
func (c *Client) CreateUser(ctx context.Context, jid, password string) error {
	return c.do(ctx, "POST", "/v1/users", User{JID: jid, Password: password}, nil)
}

// SetPassword changes an account's password.
func (c *Client) SetPassword(ctx context.Context, jid, password string) error {
	return c.do(ctx, "PUT", "/v1/users/"+url.PathEscape(jid)+"/password", User{Password: password}, nil)
}

// DeleteUser deletes an account and everything stored for it.
func (c *Client) DeleteUser(ctx context.Context, jid string) error {
	return c.do(ctx, "DELETE", "/v1/users/"+url.PathEscape(jid), nil, nil)
}

// Sessions lists connected resources.
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var out struct{ Sessions []Session }
	err := c.do(ctx, "GET", "/v1/sessions", nil, &out)
	return out.Sessions, err
}

// Roster returns a user's roster.
func (c *Client) Roster(ctx context.Context, user string) (Roster, error) {
	var ro Roster
	err := c.do(ctx, "GET", userPath(user, "roster"), nil, &ro)
	return ro, err
}

// SetRosterItem adds or updates an item of a user's roster.
func (c *Client) SetRosterItem(ctx context.Context, user, contact, name string, groups []string) error {
	return c.do(ctx, "PUT", userPath(user, "roster", contact), RosterSet{Name: name, Groups: groups}, nil)
}

// RemoveRosterItem deletes an item of a user's roster.
func (c *Client) RemoveRosterItem(ctx context.Context, user, contact string) error {
	return c.do(ctx, "DELETE", userPath(user, "roster", contact), nil, nil)
}

// Pending lists a user's unanswered subscription requests.
func (c *Client) Pending(ctx context.Context, user string) ([]Pending, error) {
	var out []Pending
	err := c.do(ctx, "GET", userPath(user, "pending"), nil, &out)
	return out, err
}

// ApproveRequest approves contact's pending request on the user's behalf.
func (c *Client) ApproveRequest(ctx context.Context, user, contact string) error {
	return c.do(ctx, "POST", userPath(user, "pending", contact, "approve"), nil, nil)
}

// DenyRequest denies contact's pending request on the user's behalf.
func (c *Client) DenyRequest(ctx context.Context, user, contact string) error {
	return c.do(ctx, "POST", userPath(user, "pending", contact, "deny"), nil, nil)
}

// userPath is /v1/users/{user}/rest..., each segment escaped, so a JID
// with a resource ("a@b/r") stays one segment and the server refuses it
// by name instead of routing it elsewhere.
func userPath(user string, rest ...string) string {
	p := "/v1/users/" + url.PathEscape(user)
	for _, s := range rest {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// Links lists the federation links.
func (c *Client) Links(ctx context.Context) ([]Link, error) {
	var out struct{ Links []Link }
	err := c.do(ctx, "GET", "/v1/s2s/links", nil, &out)
	return out.Links, err
}

// Resolve shows the server targets of a domain.
func (c *Client) Resolve(ctx context.Context, domain string) ([]Target, error) {
	var out struct{ Targets []Target }
	err := c.do(ctx, "GET", "/v1/s2s/resolve/"+url.PathEscape(domain), nil, &out)
	return out.Targets, err
}

// Cluster returns the node's view of its cluster.
func (c *Client) Cluster(ctx context.Context) (Cluster, error) {
	var st Cluster
	err := c.do(ctx, "GET", "/v1/cluster", nil, &st)
	return st, err
}

// JoinNode admits a node to the cluster.
func (c *Client) JoinNode(ctx context.Context, id, addr string, force bool) error {
	return c.do(ctx, "POST", "/v1/cluster/members"+forceQuery(force), Member{ID: id, Addr: addr}, nil)
}

// RemoveNode takes a node out of the cluster.
func (c *Client) RemoveNode(ctx context.Context, id string, force bool) error {
	return c.do(ctx, "DELETE", "/v1/cluster/members/"+url.PathEscape(id)+forceQuery(force), nil, nil)
}

func forceQuery(force bool) string {
	if force {
		return "?force=true"
	}
	return ""
}

// Stepdown asks the leader to hand over leadership.
func (c *Client) Stepdown(ctx context.Context) error {
	return c.do(ctx, "POST", "/v1/cluster/stepdown", nil, nil)
}

// Snapshot copies a consistent snapshot of the state to w.
func (c *Client) Snapshot(ctx context.Context, w io.Writer) error {
	return c.do(ctx, "GET", "/v1/snapshot", nil, w)
}

// Metrics copies the Prometheus text exposition to w.
func (c *Client) Metrics(ctx context.Context, w io.Writer) error {
	return c.do(ctx, "GET", "/metrics", nil, w)
}

var _ Backend = (*Client)(nil)

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://herald"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e errorBody
		json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		var sentinel error
		switch resp.StatusCode {
		case http.StatusNotFound:
			sentinel = ErrNotFound
		case http.StatusConflict:
			sentinel = ErrExists
			if e.Code == "refused" {
				sentinel = ErrRefused
			}
		case http.StatusBadRequest:
			sentinel = ErrBadRequest
		case http.StatusGatewayTimeout:
			sentinel = ErrOutcomeUnknown
		case http.StatusServiceUnavailable:
			sentinel = ErrNoQuorum
			if e.Code == "unavailable" {
				sentinel = ErrUnavailable
			}
		default:
			return errors.New(e.Error)
		}
		return &apiError{msg: e.Error, sentinel: sentinel}
	}
	if w, ok := out.(io.Writer); ok {
		n, err := io.Copy(w, resp.Body)
		if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
			err = fmt.Errorf("short download: %d of %d bytes", n, resp.ContentLength)
		}
		return err
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// apiError carries the server's message and matches its sentinel.
type apiError struct {
	msg      string
	sentinel error
}

func (e *apiError) Error() string        { return e.msg }
func (e *apiError) Is(target error) bool { return target == e.sentinel }

// Readiness asks the server whether it is ready. A server that is not
// ready answers 503 with the same body; that is a result, not an error.
// A server that cannot be reached is an error.
func (c *Client) Readiness(ctx context.Context) Readiness {
	r, err := c.Ready(ctx)
	if err != nil {
		return NewReadiness(Check{Name: "reachable", Detail: err.Error()})
	}
	return r
}

// Ready is Readiness with the transport error kept apart.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	var r Readiness
	req, err := http.NewRequestWithContext(ctx, "GET", "http://herald/ready", nil)
	if err != nil {
		return r, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return r, c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return r, errors.New(resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&r); err != nil {
		return r, fmt.Errorf("reading readiness: %w", err)
	}
	return r, nil
}

// unreachable is the error for a request that never reached the server.
func (c *Client) unreachable(err error) error {
	return fmt.Errorf("cannot reach the server's admin socket %s (is heraldd running with this config?): %w", c.socket, errors.Unwrap(err))
}
