package ops

import (
	"context"
	"errors"
)

// Errors a Backend returns; the handlers turn them into HTTP statuses and
// the client turns the statuses back into these, so errors.Is works on
// both sides of the socket.
var (
	ErrNotFound   = errors.New("ops: not found")
	ErrExists     = errors.New("ops: already exists")
	ErrBadRequest = errors.New("ops: bad request")
	ErrNoQuorum   = errors.New("ops: the cluster cannot accept writes")
)

// Backend is what the admin API operates on. cmd/heraldd implements it
// over the consensus store and the session registry.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	ListUsers(ctx context.Context, domain string) ([]string, error)
	CreateUser(ctx context.Context, jid, password string) error
	SetPassword(ctx context.Context, jid, password string) error
	DeleteUser(ctx context.Context, jid string) error
	Sessions(ctx context.Context) ([]Session, error)
}

// Status describes the running server.
type Status struct {
	Version  string            `json:"version"`
	Domains  []string          `json:"domains"`
	DataDir  string            `json:"data_dir"`
	Sessions int               `json:"sessions"`
	Listen   map[string]string `json:"listen"`
	Raft     map[string]string `json:"raft"`
}

// Session is one connected resource.
type Session struct {
	JID       string `json:"jid"`
	Available bool   `json:"available"`
	Priority  int    `json:"priority"`
}

// User is the body of user creation and password changes.
type User struct {
	JID      string `json:"jid,omitempty"`
	Password string `json:"password,omitempty"`
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}
