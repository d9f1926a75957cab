// Package config reads Herald's TOML configuration file. It is shared by
// heraldd, which runs from it, and heraldctl, which finds the admin socket
// through it; nothing outside cmd/ reads configuration.
//
// Decoding is strict: an unknown key is an error that names the key, so a
// typo never silently falls back to a default.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole file. Zero values mean "the default"; Defaults fills
// them in.
type Config struct {
	// Domains served by this server. Default: ["localhost"].
	Domains []string `toml:"domains"`
	// DataDir holds the Raft log, the state database, the generated
	// certificate and the admin socket. Default: "herald-data".
	DataDir  string `toml:"data_dir"`
	LogLevel string `toml:"log_level"`

	C2S     C2S     `toml:"c2s"`
	S2S     S2S     `toml:"s2s"`
	TLS     TLS     `toml:"tls"`
	Limits  Limits  `toml:"limits"`
	Admin   Admin   `toml:"admin"`
	Cluster Cluster `toml:"cluster"`

	// Components are the XEP-0114 external components ([[component]]
	// entries); ComponentListen is where they connect (components
	// section). No listener opens without at least one component.
	Components      []Component     `toml:"component"`
	ComponentListen ComponentListen `toml:"components"`
}

// Component is one external component: the domain it serves (a
// subdomain of a served domain) and its shared secret, given inline or in
// a file.
type Component struct {
	Domain     string `toml:"domain"`
	Secret     string `toml:"secret"`
	SecretFile string `toml:"secret_file"`
}

// ComponentListen is the component listener. Default: 127.0.0.1:5347
// (components are local processes).
type ComponentListen struct {
	Listen string `toml:"listen"`
}

// C2S configures client listeners.
type C2S struct {
	// Listen are STARTTLS listeners. Default: ["[::]:5222"].
	Listen []string `toml:"listen"`
	// ListenTLS are direct TLS listeners (XEP-0368). Default: ["[::]:5223"].
	ListenTLS []string `toml:"listen_tls"`
	// AllowPlaintext lets clients log in without TLS. Default false.
	AllowPlaintext bool `toml:"allow_plaintext"`
	// ResourceConflict is rename, refuse or replace (RFC 6120 7.7.2.2).
	ResourceConflict string   `toml:"resource_conflict"`
	PreAuthTimeout   Duration `toml:"pre_auth_timeout"`
	WriteTimeout     Duration `toml:"write_timeout"`
	// SMRequestAfter is how many stanzas a client with XEP-0198 enabled
	// may leave unacknowledged before the server sends <r/>. Default 5.
	SMRequestAfter int `toml:"sm_request_after"`
}

// S2S configures federation with other XMPP domains.
type S2S struct {
	// Listen are STARTTLS listeners. Default: ["[::]:5269"].
	Listen []string `toml:"listen"`
	// ListenTLS are direct TLS listeners (XEP-0368). Default: ["[::]:5270"].
	ListenTLS []string `toml:"listen_tls"`
	// Resolvers are DNS servers (host:port) for SRV lookups. Default: the
	// ones in /etc/resolv.conf.
	Resolvers []string `toml:"resolvers"`
	// CAFile adds trust anchors (PEM) for peer certificates; the system
	// roots are used otherwise.
	CAFile string `toml:"ca_file"`
	// RequireCert refuses Server Dialback: peers must present a
	// certificate that verifies.
	RequireCert bool `toml:"require_cert"`
	// Disable turns federation off entirely.
	Disable bool `toml:"disable"`
}

// TLS names the certificate. Both empty: a self-signed certificate for
// the domains is made in DataDir at first start.
type TLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Limits bound what one client can make the server hold.
type Limits struct {
	MaxStanza         int `toml:"max_stanza"`
	MaxDepth          int `toml:"max_depth"`
	MaxQueue          int `toml:"max_queue"`
	MaxResources      int `toml:"max_resources"`
	OfflinePerUser    int `toml:"offline_per_user"`
	MinPasswordLength int `toml:"min_password_length"`
	// RosterItems caps a user's roster (RFC 6121 2.3.3 not-acceptable).
	RosterItems int `toml:"roster_items"`
	// PendingRequests caps stored inbound subscription requests per user
	// (RFC 6121 3.1.3 security warning); past it, policy-violation.
	PendingRequests int `toml:"pending_requests"`
	// SubscribesPerMinute limits outbound subscribe requests per user;
	// past it, resource-constraint.
	SubscribesPerMinute int `toml:"subscribes_per_minute"`
	// BlockedJIDs caps a user's blocklist (XEP-0191); past it, a block is
	// refused with policy-violation.
	BlockedJIDs int `toml:"blocked_jids"`

	// MaxConnections caps client connections held at once; federation and
	// the cluster get ConnectionReserve more. Default: three quarters of
	// the file descriptor limit (heraldd computes it at start).
	MaxConnections    int `toml:"max_connections"`
	ConnectionReserve int `toml:"connection_reserve"`
	// UnauthenticatedPerIP caps client connections from one address (IPv6:
	// one /64) that have not authenticated yet.
	UnauthenticatedPerIP int `toml:"unauthenticated_per_ip"`
	// ConnectRatePerIP is the sustained number of new connections per
	// second from one address; ConnectBurstPerIP how many may come at once.
	ConnectRatePerIP  int `toml:"connect_rate_per_ip"`
	ConnectBurstPerIP int `toml:"connect_burst_per_ip"`
	// Exempt lists addresses or prefixes ("127.0.0.0/8") free of the
	// per-address connection limits and of login bans.
	Exempt []string `toml:"exempt"`

	// AuthDelayAfter failed logins from one address slow its next
	// attempts; AuthBanAfter refuse them for AuthBanTime. Failures older
	// than AuthWindow are forgotten.
	AuthDelayAfter int      `toml:"auth_delay_after"`
	AuthBanAfter   int      `toml:"auth_ban_after"`
	AuthBanTime    Duration `toml:"auth_ban_time"`
	AuthWindow     Duration `toml:"auth_window"`
	// AuthAccountAfter failed logins to one account, from any addresses,
	// protect it: addresses that failed on it are refused for it, new
	// ones slowed, the user's known addresses unaffected.
	AuthAccountAfter int `toml:"auth_account_after"`

	// PrivateBytes caps one account's XEP-0049 private XML, all elements
	// together; past it, not-acceptable.
	PrivateBytes int `toml:"private_bytes"`
	// VCardBytes caps one account's serialized XEP-0054 vCard, PHOTO
	// included; past it, not-acceptable.
	VCardBytes int `toml:"vcard_bytes"`
}

// Admin configures the admin API.
type Admin struct {
	// Socket is the unix socket path. Default: DataDir/admin.sock.
	Socket string `toml:"socket"`
	// Metrics is a TCP address serving only GET /metrics (Prometheus text
	// format) for scrapers and the probes GET /health and GET /ready;
	// empty: all three on the admin socket only.
	Metrics string `toml:"metrics"`
}

// Cluster makes this node one of several serving the same domains.
type Cluster struct {
	// NodeID names this node in its Raft group. Default "node1".
	NodeID string `toml:"node_id"`
	// Bind is the cluster port (host:port) carrying Raft and node-to-node
	// traffic. Empty: a single node, no cluster port.
	Bind string `toml:"bind"`
	// Advertise is the address the other nodes reach Bind at. Default Bind.
	Advertise string `toml:"advertise"`
	// SecretFile holds the shared cluster secret (at least 16 bytes, the
	// same file on every node). Required with Bind.
	SecretFile string `toml:"secret_file"`
	// Join lists cluster ports of members to ask for admission.
	Join []string `toml:"join"`
	// Bootstrap forms a new cluster with this node as its only member.
	// Use it once, on the first node, with an empty data directory.
	Bootstrap bool `toml:"bootstrap"`
}

// Duration is a time.Duration written as "30s" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Load reads path strictly. Relative paths inside the file (data_dir,
// tls.cert, tls.key, admin.socket) are relative to the file's directory.
func Load(path string) (Config, error) {
	var c Config
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("config: %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config: %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	base := filepath.Dir(path)
	for _, p := range []*string{&c.DataDir, &c.TLS.Cert, &c.TLS.Key, &c.Admin.Socket, &c.S2S.CAFile, &c.Cluster.SecretFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for i := range c.Components {
		if p := &c.Components[i].SecretFile; *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return c, nil
}

// Defaults fills every unset field.
func (c *Config) Defaults() {
	if len(c.Domains) == 0 {
		c.Domains = []string{"localhost"}
	}
	if c.DataDir == "" {
		c.DataDir = "herald-data"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.C2S.Listen == nil {
		c.C2S.Listen = []string{"[::]:5222"}
	}
	if c.C2S.ListenTLS == nil {
		c.C2S.ListenTLS = []string{"[::]:5223"}
	}
	if c.ComponentListen.Listen == "" {
		c.ComponentListen.Listen = "127.0.0.1:5347"
	}
	if c.S2S.Listen == nil {
		c.S2S.Listen = []string{"[::]:5269"}
	}
	if c.S2S.ListenTLS == nil {
		c.S2S.ListenTLS = []string{"[::]:5270"}
	}
	if c.C2S.ResourceConflict == "" {
		c.C2S.ResourceConflict = "rename"
	}
	if c.C2S.PreAuthTimeout.Duration == 0 {
		c.C2S.PreAuthTimeout.Duration = 60 * time.Second
	}
	if c.C2S.WriteTimeout.Duration == 0 {
		c.C2S.WriteTimeout.Duration = 30 * time.Second
	}
	if c.C2S.SMRequestAfter == 0 {
		c.C2S.SMRequestAfter = 5
	}
	l := &c.Limits
	if l.MaxStanza == 0 {
		l.MaxStanza = 256 << 10
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = 32
	}
	if l.MaxQueue == 0 {
		l.MaxQueue = 1 << 20
	}
	if l.MaxResources == 0 {
		l.MaxResources = 32
	}
	if l.OfflinePerUser == 0 {
		l.OfflinePerUser = 1000
	}
	if l.MinPasswordLength == 0 {
		l.MinPasswordLength = 8
	}
	if l.RosterItems == 0 {
		l.RosterItems = 1000
	}
	if l.PendingRequests == 0 {
		l.PendingRequests = 200
	}
	if l.SubscribesPerMinute == 0 {
		l.SubscribesPerMinute = 60
	}
	for _, d := range []struct {
		v   *int
		def int
	}{
		{&l.UnauthenticatedPerIP, 32}, {&l.ConnectRatePerIP, 10}, {&l.ConnectBurstPerIP, 40},
		{&l.AuthDelayAfter, 3}, {&l.AuthBanAfter, 10}, {&l.AuthAccountAfter, 20},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, d := range []*Duration{&l.AuthBanTime, &l.AuthWindow} {
		if d.Duration == 0 {
			d.Duration = 15 * time.Minute
		}
	}
	if l.BlockedJIDs == 0 {
		l.BlockedJIDs = 1000
	}
	if l.PrivateBytes == 0 {
		l.PrivateBytes = 64 << 10
	}
	if l.VCardBytes == 0 {
		l.VCardBytes = 128 << 10
	}
	if c.Admin.Socket == "" {
		c.Admin.Socket = filepath.Join(c.DataDir, "admin.sock")
	}
	if c.Cluster.NodeID == "" {
		c.Cluster.NodeID = "node1"
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if err := c.validateComponents(); err != nil {
		return err
	}
	if c.C2S.SMRequestAfter < 0 {
		return fmt.Errorf("config: c2s.sm_request_after must not be negative")
	}
	switch c.C2S.ResourceConflict {
	case "rename", "refuse", "replace":
	default:
		return fmt.Errorf("config: c2s.resource_conflict must be rename, refuse or replace, not %q", c.C2S.ResourceConflict)
	}
	if c.Cluster.Bind != "" && c.Cluster.SecretFile == "" {
		return errors.New("config: cluster.bind needs cluster.secret_file (the shared cluster secret)")
	}
	if c.Cluster.Bootstrap && len(c.Cluster.Join) > 0 {
		return errors.New("config: cluster.bootstrap and cluster.join exclude each other: bootstrap the first node, join the others")
	}
	if c.Cluster.Bind == "" && (c.Cluster.Bootstrap || len(c.Cluster.Join) > 0) {
		return errors.New("config: cluster.bootstrap and cluster.join need cluster.bind")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("config: tls.cert and tls.key go together")
	}
	if c.Limits.MaxStanza < 4096 {
		return errors.New("config: limits.max_stanza must be at least 4096 bytes")
	}
	if c.Limits.MaxDepth < 4 {
		return errors.New("config: limits.max_depth must be at least 4")
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"private_bytes", c.Limits.PrivateBytes}, {"vcard_bytes", c.Limits.VCardBytes}} {
		if l.v < 1 || l.v > 1<<30 {
			return fmt.Errorf("config: limits.%s must be between 1 and 1073741824 bytes", l.name)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level must be debug, info, warn or error, not %q", c.LogLevel)
	}
	return nil
}

// validate checks the connection and login limits.
func (l *Limits) validate() error {
	for _, v := range []struct {
		name string
		n    int
	}{
		{"max_connections", l.MaxConnections}, {"connection_reserve", l.ConnectionReserve},
		{"unauthenticated_per_ip", l.UnauthenticatedPerIP}, {"connect_rate_per_ip", l.ConnectRatePerIP},
		{"connect_burst_per_ip", l.ConnectBurstPerIP}, {"auth_delay_after", l.AuthDelayAfter},
		{"auth_ban_after", l.AuthBanAfter}, {"auth_account_after", l.AuthAccountAfter},
	} {
		if v.n < 0 {
			return fmt.Errorf("config: limits.%s must not be negative", v.name)
		}
	}
	if _, err := l.ExemptPrefixes(); err != nil {
		return err
	}
	return nil
}

// ExemptPrefixes parses Exempt: addresses stand for their own prefix.
func (l *Limits) ExemptPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range l.Exempt {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			a, aerr := netip.ParseAddr(e)
			if aerr != nil {
				return nil, fmt.Errorf("config: limits.exempt: %q is neither an address nor a prefix", e)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Find returns the config to use: path when given, else the defaults.
func Find(path string) (Config, error) {
	var c Config
	if path != "" {
		var err error
		if c, err = Load(path); err != nil {
			return c, err
		}
	}
	c.Defaults()
	return c, c.Validate()
}

// validateComponents checks the [[component]] entries: each a distinct
// subdomain of a served domain, with exactly one of secret and
// secret_file.
func (c *Config) validateComponents() error {
	seen := map[string]bool{}
	for _, k := range c.Components {
		if k.Domain == "" {
			return errors.New("config: a [[component]] needs a domain")
		}
		if seen[k.Domain] {
			return fmt.Errorf("config: component %s is configured twice", k.Domain)
		}
		seen[k.Domain] = true
		if (k.Secret == "") == (k.SecretFile == "") {
			return fmt.Errorf("config: component %s needs exactly one of secret and secret_file", k.Domain)
		}
		sub := false
		for _, d := range c.Domains {
			sub = sub || strings.HasSuffix(k.Domain, "."+d)
		}
		if !sub {
			return fmt.Errorf("config: component %s must be a subdomain of a served domain", k.Domain)
		}
	}
	return nil
}
