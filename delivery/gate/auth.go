package gate

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// AuthConfig configures the failed-login guard, in the class of
// ejabberd's mod_fail2ban and Prosody's mod_limit_auth. Zero fields take
// the defaults below.
//
// Per address: after DelayAfter failures within Window, each further
// attempt from the address is answered only after a delay that doubles
// from 250 ms up to MaxDelay; after BanAfter failures the address is
// refused (SASL temporary-auth-failure with a text) for BanTime.
//
// Per account: after AccountAfter failures within Window, from any
// addresses, the account is protected until Window has passed since its
// last failure. While it is, an address that failed AddrPerAccount times
// on it is refused for it, and every other address that has not logged in
// to it successfully before waits MaxDelay. Addresses the user logged in
// from before are neither slowed nor refused, and a new address is only
// slowed: an attacker can make logins to an account slower, never
// impossible.
type AuthConfig struct {
	DelayAfter     int
	BanAfter       int
	BanTime        time.Duration
	Window         time.Duration
	MaxDelay       time.Duration
	AccountAfter   int
	AddrPerAccount int
	// MaxTracked bounds the addresses and the accounts with failure
	// state, each; past it new ones are not tracked (and counted).
	MaxTracked int
	// Exempt addresses are never banned (Config.Exempt is used).
	Exempt []netip.Prefix
}

// Defaults of AuthConfig.
const (
	DefaultAuthDelayAfter     = 3
	DefaultAuthBanAfter       = 10
	DefaultAuthBanTime        = 15 * time.Minute
	DefaultAuthWindow         = 15 * time.Minute
	DefaultAuthMaxDelay       = 4 * time.Second
	DefaultAuthAccountAfter   = 20
	DefaultAuthAddrPerAccount = 3
	DefaultAuthMaxTracked     = 100000
	firstDelay                = 250 * time.Millisecond
	// trustedPerAccount bounds the addresses remembered per account as
	// ones the user logged in from.
	trustedPerAccount = 16
	trustedFor        = 30 * 24 * time.Hour
)

// AuthStats count the guard's decisions.
type AuthStats struct {
	Failures     uint64 // failed authentications reported
	Successes    uint64
	Delayed      uint64 // attempts answered late
	Refused      uint64 // attempts refused by a ban or an account protection
	Bans         uint64 // addresses banned
	Protections  uint64 // accounts that entered protection
	Untracked    uint64 // failures not tracked because MaxTracked was reached
	BannedNow    int
	ProtectedNow int
}

// Ban is one address banned, or one account protected, for the admin API.
type Ban struct {
	Kind     string    // "address" or "account"
	Key      string    // the address (IPv6: its /64) or the account's bare JID
	Failures int       // failures within the window
	Until    time.Time // when it ends, if nothing more fails
}

type authGuard struct {
	cfg AuthConfig
	now func() time.Time
	log *slog.Logger

	mu       sync.Mutex
	addrs    map[netip.Prefix]*addrAuth
	accounts map[string]*accountAuth

	failures, successes, delayed, refused, bans, protections, untracked atomic.Uint64
}

type addrAuth struct {
	failures int
	last     time.Time
	banned   time.Time // until
}

type accountAuth struct {
	failures  int
	last      time.Time
	protected bool
	byAddr    map[netip.Prefix]int       // failures on this account per address
	trusted   map[netip.Prefix]time.Time // successful logins
}

func newAuthGuard(cfg AuthConfig, now func() time.Time, log *slog.Logger) *authGuard {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.DelayAfter, DefaultAuthDelayAfter)
	def(&cfg.BanAfter, DefaultAuthBanAfter)
	def(&cfg.AccountAfter, DefaultAuthAccountAfter)
	def(&cfg.AddrPerAccount, DefaultAuthAddrPerAccount)
	def(&cfg.MaxTracked, DefaultAuthMaxTracked)
	defD(&cfg.BanTime, DefaultAuthBanTime)
	defD(&cfg.Window, DefaultAuthWindow)
	defD(&cfg.MaxDelay, DefaultAuthMaxDelay)
	return &authGuard{cfg: cfg, now: now, log: log,
		addrs: map[netip.Prefix]*addrAuth{}, accounts: map[string]*accountAuth{}}
}

// current returns the address's state with expired failures forgotten,
// or nil. a.mu is held.
func (a *authGuard) addrState(key netip.Prefix, now time.Time) *addrAuth {
	st := a.addrs[key]
	if st != nil && now.After(st.banned) && now.Sub(st.last) > a.cfg.Window {
		delete(a.addrs, key)
		return nil
	}
	return st
}

func (a *authGuard) accountState(account string, now time.Time) *accountAuth {
	st := a.accounts[account]
	if st != nil && st.failures > 0 && now.Sub(st.last) > a.cfg.Window {
		st.failures, st.protected, st.byAddr = 0, false, nil
	}
	if st != nil && st.failures == 0 && len(st.trusted) == 0 {
		delete(a.accounts, account)
		return nil
	}
	return st
}

func (a *authGuard) exempt(key netip.Prefix) bool {
	for _, e := range a.cfg.Exempt {
		if e.Contains(key.Addr()) {
			return true
		}
	}
	return false
}

// Decision is what the guard says about an authentication attempt: wait
// Delay before answering, and refuse it with Refuse as the text when that
// is not empty.
type Decision struct {
	Delay  time.Duration
	Refuse string
}

// before decides on an attempt from key before its credentials are known.
func (a *authGuard) before(key netip.Prefix) Decision {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.addrState(key, now)
	if st == nil {
		return Decision{}
	}
	if now.Before(st.banned) {
		a.refused.Add(1)
		a.log.Info("gate: login refused: address banned", "addr", key.String(), "until", st.banned.Format(time.RFC3339))
		return Decision{Refuse: fmt.Sprintf("too many failed logins from your address; try again in %s", st.banned.Sub(now).Round(time.Second))}
	}
	if st.failures >= a.cfg.DelayAfter {
		d := min(firstDelay<<min(st.failures-a.cfg.DelayAfter, 16), a.cfg.MaxDelay)
		a.delayed.Add(1)
		a.log.Info("gate: login slowed: failures from the address", "addr", key.String(), "failures", st.failures, "delay", d)
		return Decision{Delay: d}
	}
	return Decision{}
}

// after records the outcome of an attempt on account from key and decides
// on its answer: a protected account refuses addresses that failed on it,
// and slows down ones it does not know, whatever the outcome, so the
// answer tells an attacker nothing.
func (a *authGuard) after(key netip.Prefix, account string, ok bool) Decision {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var d Decision
	acc := a.accountState(account, now)
	if acc != nil && acc.protected {
		if _, known := acc.trusted[key]; !known {
			if acc.byAddr[key] >= a.cfg.AddrPerAccount {
				a.refused.Add(1)
				a.log.Info("gate: login refused: account protected", "account", account, "addr", key.String())
				d.Refuse = "too many failed logins to this account from your address; try again later"
			} else {
				a.delayed.Add(1)
				a.log.Info("gate: login slowed: account protected", "account", account, "addr", key.String())
				d.Delay = a.cfg.MaxDelay
			}
		}
	}
	if ok && d.Refuse == "" {
		a.successes.Add(1)
		if acc == nil {
			acc = &accountAuth{}
			a.accounts[account] = acc
		}
		a.trust(acc, key, now)
		return d
	}
	a.failures.Add(1)
	a.log.Info("gate: login failed", "account", account, "addr", key.String())
	a.failAddr(key, now)
	if account == "" {
		return d
	}
	if acc == nil {
		if len(a.accounts) >= a.cfg.MaxTracked {
			a.untracked.Add(1)
			return d
		}
		acc = &accountAuth{}
		a.accounts[account] = acc
	}
	acc.failures++
	acc.last = now
	if acc.byAddr == nil {
		acc.byAddr = map[netip.Prefix]int{}
	}
	if _, seen := acc.byAddr[key]; seen || len(acc.byAddr) < a.cfg.MaxTracked {
		acc.byAddr[key]++
	}
	if !acc.protected && acc.failures >= a.cfg.AccountAfter {
		acc.protected = true
		a.protections.Add(1)
		a.log.Warn("gate: account protected after failed logins", "account", account, "failures", acc.failures)
	}
	return d
}

func (a *authGuard) failAddr(key netip.Prefix, now time.Time) {
	st := a.addrState(key, now)
	if st == nil {
		if len(a.addrs) >= a.cfg.MaxTracked {
			a.untracked.Add(1)
			return
		}
		st = &addrAuth{}
		a.addrs[key] = st
	}
	st.failures++
	st.last = now
	if st.failures >= a.cfg.BanAfter && !now.Before(st.banned) && !a.exempt(key) {
		st.banned = now.Add(a.cfg.BanTime)
		a.bans.Add(1)
		a.log.Warn("gate: address banned after failed logins", "addr", key.String(), "failures", st.failures, "until", st.banned.Format(time.RFC3339))
	}
}

// trust remembers key as an address the account's user logged in from.
func (a *authGuard) trust(acc *accountAuth, key netip.Prefix, now time.Time) {
	if acc.trusted == nil {
		acc.trusted = map[netip.Prefix]time.Time{}
	}
	if _, ok := acc.trusted[key]; !ok && len(acc.trusted) >= trustedPerAccount {
		oldest, at := netip.Prefix{}, now
		for k, t := range acc.trusted {
			if t.Before(at) {
				oldest, at = k, t
			}
		}
		delete(acc.trusted, oldest)
	}
	for k, t := range acc.trusted {
		if now.Sub(t) > trustedFor {
			delete(acc.trusted, k)
		}
	}
	acc.trusted[key] = now
}

func (a *authGuard) list() []Ban {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Ban
	for k := range a.addrs {
		if st := a.addrState(k, now); st != nil && now.Before(st.banned) {
			out = append(out, Ban{Kind: "address", Key: k.Addr().String(), Failures: st.failures, Until: st.banned})
		}
	}
	for name := range a.accounts {
		if st := a.accountState(name, now); st != nil && st.protected {
			out = append(out, Ban{Kind: "account", Key: name, Failures: st.failures, Until: st.last.Add(a.cfg.Window)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].Key < out[j].Kind+out[j].Key })
	return out
}

// lift ends an address's ban (and forgets its failures) or an account's
// protection. It reports whether there was anything to lift.
func (a *authGuard) lift(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, err := netip.ParseAddr(key); err == nil {
		p, ok := addrKey(&net.TCPAddr{IP: ip.AsSlice()})
		if _, found := a.addrs[p]; ok && found {
			delete(a.addrs, p)
			a.log.Info("gate: address ban lifted", "addr", p.String())
			return true
		}
		return false
	}
	if st, ok := a.accounts[key]; ok && st.failures > 0 {
		st.failures, st.protected, st.byAddr = 0, false, nil
		a.log.Info("gate: account protection lifted", "account", key)
		return true
	}
	return false
}

func (a *authGuard) stats() AuthStats {
	st := AuthStats{
		Failures: a.failures.Load(), Successes: a.successes.Load(), Delayed: a.delayed.Load(),
		Refused: a.refused.Load(), Bans: a.bans.Load(), Protections: a.protections.Load(),
		Untracked: a.untracked.Load(),
	}
	for _, b := range a.list() {
		if b.Kind == "address" {
			st.BannedNow++
		} else {
			st.ProtectedNow++
		}
	}
	return st
}

// Bans lists the addresses banned and the accounts protected now.
func (g *Gate) Bans() []Ban { return g.auth.list() }

// Lift ends the ban of an address (an IP address) or the protection of
// an account (a bare JID). It reports whether there was one.
func (g *Gate) Lift(key string) bool { return g.auth.lift(key) }

// AuthBefore decides on an authentication attempt on c before its
// credentials are checked. Connections that did not come through a gate
// get the zero Decision.
func AuthBefore(c net.Conn) Decision {
	a, key, ok := guardOf(c)
	if !ok {
		return Decision{}
	}
	return a.before(key)
}

// AuthAfter reports the outcome of an authentication attempt on c for
// account (a bare JID; empty when unknown) and decides on its answer.
func AuthAfter(c net.Conn, account string, success bool) Decision {
	a, key, ok := guardOf(c)
	if !ok {
		return Decision{}
	}
	return a.after(key, account, success)
}

// guardOf returns the guard and the address key of a gated TCP
// connection.
func guardOf(c net.Conn) (*authGuard, netip.Prefix, bool) {
	gc, ok := c.(*Conn)
	if !ok {
		return nil, netip.Prefix{}, false
	}
	key, ok := addrKey(gc.RemoteAddr())
	return gc.g.auth, key, ok
}
