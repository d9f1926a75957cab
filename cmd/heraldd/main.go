// Command heraldd is the Herald XMPP server.
//
// With no flags and no config it serves the domain localhost from the
// directory ./herald-data: c2s on 5222 (STARTTLS) and 5223 (direct TLS), a
// self-signed certificate made at first start, and the admin API on
// ./herald-data/admin.sock. See README.md for the configuration reference.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/heraldxmpp/herald/cmd/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; tests call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "heraldd:", err)
		return 2
	}
	cfg := opts.cfg
	if opts.restore != "" {
		if err := restoreSnapshot(cfg, opts.restore); err != nil {
			fmt.Fprintln(stderr, "heraldd: restore:", err)
			return 1
		}
		fmt.Fprintf(stderr, "heraldd: restored %s into %s; start heraldd on it to serve\n", opts.restore, cfg.DataDir)
		return 0
	}
	log := newLogger(stderr, cfg.LogLevel)
	d, err := start(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "heraldd:", err)
		return 1
	}
	sd := newNotifier(os.Getenv, os.Getpid())
	nctx, stopNotify := context.WithCancel(ctx)
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		sd.run(nctx, d.readiness, func(err error) { log.Warn("service manager notification failed", "err", err) })
	}()
	<-ctx.Done()
	stopNotify()
	<-notified
	log.Info("shutting down")
	if err := sd.send("STOPPING=1", "STATUS=shutting down"); err != nil {
		log.Warn("service manager notification failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.close(sctx); err != nil {
		fmt.Fprintln(stderr, "heraldd: shutdown:", err)
		return 1
	}
	return 0
}

// list is a repeatable or comma-separated flag.
type list struct {
	v   *[]string
	set bool
}

func (l *list) String() string { return "" }
func (l *list) Set(s string) error {
	if !l.set {
		*l.v = []string{} // set, possibly to nothing: -c2s '' disables
		l.set = true
	}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

// options is the command line: the configuration to serve, or a snapshot
// to restore instead.
type options struct {
	cfg config.Config
	// restore is -restore: fill the data directory from this snapshot
	// file and exit instead of serving.
	restore string
}

// parseFlags reads the config file named by -config, then lets flags
// override it.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("heraldd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML config `file` (default: none, zero-config defaults)")
	var over config.Config
	fs.Var(&list{v: &over.Domains}, "domain", "domain to serve (repeatable or comma-separated; default localhost)")
	fs.StringVar(&over.DataDir, "data", "", "data `dir` (default ./herald-data)")
	fs.Var(&list{v: &over.C2S.Listen}, "c2s", "STARTTLS client listen `addr` (repeatable; default [::]:5222)")
	fs.Var(&list{v: &over.C2S.ListenTLS}, "c2s-tls", "direct TLS client listen `addr` (repeatable; default [::]:5223)")
	fs.Var(&list{v: &over.S2S.Listen}, "s2s", "server-to-server STARTTLS listen `addr` (repeatable; default [::]:5269)")
	fs.Var(&list{v: &over.S2S.ListenTLS}, "s2s-tls", "server-to-server direct TLS listen `addr` (repeatable; default [::]:5270)")
	fs.Var(&list{v: &over.S2S.Resolvers}, "resolver", "DNS server `addr` for SRV lookups (repeatable; default /etc/resolv.conf)")
	fs.StringVar(&over.Admin.Socket, "admin-socket", "", "admin API unix socket `path` (default <data>/admin.sock)")
	fs.StringVar(&over.Cluster.NodeID, "node-id", "", "this node's `id` in the cluster (default node1)")
	fs.StringVar(&over.Cluster.Bind, "cluster", "", "cluster port `addr` (Raft and node-to-node traffic); empty: single node")
	fs.StringVar(&over.Cluster.Advertise, "cluster-advertise", "", "`addr` the other nodes reach the cluster port at (default -cluster)")
	fs.StringVar(&over.Cluster.SecretFile, "cluster-secret-file", "", "`file` holding the shared cluster secret")
	fs.Var(&list{v: &over.Cluster.Join}, "join", "cluster port `addr` of a member to join (repeatable)")
	fs.BoolVar(&over.Cluster.Bootstrap, "bootstrap", false, "form a new cluster with this node as its first member")
	restore := fs.String("restore", "", "restore the state from a snapshot `file` (heraldctl snapshot save) into an empty -data directory, then exit")
	fs.StringVar(&over.LogLevel, "log-level", "", "debug, info, warn or error (default info)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if *showVersion {
		fmt.Fprintln(stderr, "heraldd", version)
		return options{}, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q (heraldd takes only flags; see -h)", fs.Arg(0))
	}
	var cfg config.Config
	if *path != "" {
		var err error
		if cfg, err = config.Load(*path); err != nil {
			return options{}, err
		}
	}
	if over.Domains != nil {
		cfg.Domains = over.Domains
	}
	if over.DataDir != "" {
		cfg.DataDir = over.DataDir
	}
	if over.C2S.Listen != nil {
		cfg.C2S.Listen = over.C2S.Listen
	}
	if over.C2S.ListenTLS != nil {
		cfg.C2S.ListenTLS = over.C2S.ListenTLS
	}
	if over.S2S.Listen != nil {
		cfg.S2S.Listen = over.S2S.Listen
	}
	if over.S2S.ListenTLS != nil {
		cfg.S2S.ListenTLS = over.S2S.ListenTLS
	}
	if over.S2S.Resolvers != nil {
		cfg.S2S.Resolvers = over.S2S.Resolvers
	}
	if over.Admin.Socket != "" {
		cfg.Admin.Socket = over.Admin.Socket
	}
	if over.LogLevel != "" {
		cfg.LogLevel = over.LogLevel
	}
	if over.Cluster.NodeID != "" {
		cfg.Cluster.NodeID = over.Cluster.NodeID
	}
	if over.Cluster.Bind != "" {
		cfg.Cluster.Bind = over.Cluster.Bind
	}
	if over.Cluster.Advertise != "" {
		cfg.Cluster.Advertise = over.Cluster.Advertise
	}
	if over.Cluster.SecretFile != "" {
		cfg.Cluster.SecretFile = over.Cluster.SecretFile
	}
	if over.Cluster.Join != nil {
		cfg.Cluster.Join = over.Cluster.Join
	}
	if over.Cluster.Bootstrap {
		cfg.Cluster.Bootstrap = true
	}
	cfg.Defaults()
	return options{cfg: cfg, restore: *restore}, cfg.Validate()
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
