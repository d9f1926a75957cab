package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/heraldxmpp/herald/delivery/gate"
	"github.com/heraldxmpp/herald/ops"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit (the Go
// runtime does this too, since 1.19; doing it here makes it explicit and
// logged) and returns the limit in force.
func raiseFileLimit(log *slog.Logger) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("cannot read the file descriptor limit", "err", err)
		return 0
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			log.Warn("cannot raise the file descriptor limit", "soft", rl.Cur, "hard", rl.Max, "err", err)
		} else {
			rl = raised
		}
	}
	log.Info("file descriptor limit", "soft", rl.Cur, "hard", rl.Max)
	return rl.Cur
}

// createGate builds the connection gate every listener goes through. The
// client ceiling defaults to three quarters of the file descriptor limit
// and the server reserve to an eighth: the last eighth stays for the
// state store, outbound federation links and the admin socket.
func (d *daemon) createGate() error {
	l := d.cfg.Limits
	exempt, err := l.ExemptPrefixes()
	if err != nil {
		return err
	}
	d.fileLimit = raiseFileLimit(d.log)
	maxClients, reserve := l.MaxConnections, l.ConnectionReserve
	if maxClients == 0 {
		maxClients = int(min(d.fileLimit, 1<<30) * 3 / 4)
	}
	if reserve == 0 {
		reserve = max(int(min(d.fileLimit, 1<<30)/8), 1)
	}
	if maxClients > 0 && d.fileLimit > 0 && uint64(maxClients+reserve) > d.fileLimit {
		d.log.Warn("limits.max_connections plus the reserve exceed the file descriptor limit: accepts will fail before the ceiling",
			"max_connections", maxClients, "reserve", reserve, "file_limit", d.fileLimit)
	}
	d.gate = gate.New(gate.Config{
		UnauthPerAddr: l.UnauthenticatedPerIP,
		RatePerAddr:   float64(l.ConnectRatePerIP),
		RateBurst:     l.ConnectBurstPerIP,
		MaxClients:    maxClients,
		Reserve:       reserve,
		Exempt:        exempt,
		Auth: gate.AuthConfig{
			DelayAfter:   l.AuthDelayAfter,
			BanAfter:     l.AuthBanAfter,
			BanTime:      l.AuthBanTime.Duration,
			Window:       l.AuthWindow.Duration,
			AccountAfter: l.AuthAccountAfter,
		},
		Log: d.log.With("component", "gate"),
	})
	d.maxClients = maxClients
	return nil
}

// gated wraps a listener of role in the gate.
func (d *daemon) gated(ln net.Listener, role string) net.Listener {
	class := gate.Server
	switch role {
	case "c2s", "c2s_tls":
		class = gate.Client
	case "admin", "metrics", "cluster":
		class = gate.Unlimited
	}
	return d.gate.Listener(ln, class)
}

func (b *backend) Limits(ctx context.Context) (ops.Limits, error) {
	st := b.d.gate.Stats()
	return ops.Limits{
		Open: st.Open, Clients: st.Clients, Addresses: st.Addresses, MaxClients: b.d.maxClients, FileLimit: b.d.fileLimit,
		AcceptErrors: st.AcceptErrors, Refused: st.Refused,
		AuthFailures: st.Auth.Failures, AuthSuccesses: st.Auth.Successes, AuthDelayed: st.Auth.Delayed,
		AuthRefused: st.Auth.Refused, AuthBans: st.Auth.Bans, AuthProtected: st.Auth.Protections,
		AuthUntracked: st.Auth.Untracked, BannedNow: st.Auth.BannedNow, ProtectedNow: st.Auth.ProtectedNow,
	}, nil
}

func (b *backend) Bans(ctx context.Context) ([]ops.Ban, error) {
	var out []ops.Ban
	for _, x := range b.d.gate.Bans() {
		out = append(out, ops.Ban{Kind: x.Kind, Key: x.Key, Failures: x.Failures, Until: x.Until})
	}
	return out, nil
}

func (b *backend) LiftBan(ctx context.Context, key string) error {
	if !b.d.gate.Lift(key) {
		return fmt.Errorf("%w: no ban or protection for %q", ops.ErrNotFound, key)
	}
	return nil
}
