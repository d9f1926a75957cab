#!/usr/bin/env bash
# Measures Herald and Prosody with heraldload in the same run, on the same
# machine: RSS growth per idle authenticated session, and chat throughput
# with server CPU time per message. Needs Debian's prosody package; run as
# root from the repository root:  cmd/heraldload/compare-prosody.sh [N] [PAIRS]
set -euo pipefail
N=${1:-2000}
PAIRS=${2:-50}
DUR=${DUR:-10s}
HPID=""
work=$(mktemp -d /tmp/herald-compare.XXXXXX)
trap 'kill $(cat "$work"/pdata/prosody.pid 2>/dev/null) $HPID 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/heraldd" ./cmd/heraldd
go build -o "$work/heraldload" ./cmd/heraldload

# Prosody on 127.0.0.21, its own config and data.
mkdir -p "$work/pdata"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/p.key" \
	-out "$work/p.crt" -days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" 2>/dev/null
cat > "$work/prosody.cfg.lua" <<CFG
pidfile = "$work/pdata/prosody.pid"
data_path = "$work/pdata"
admin_socket = "$work/pdata/prosody.sock"
interfaces = { "127.0.0.21" }
local_interfaces = { "127.0.0.21" }
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "admin_shell", "posix" }
modules_disabled = { "s2s" }
authentication = "internal_hashed"
c2s_require_encryption = true
log = { warn = "$work/pdata/prosody.log" }
daemonize = false
ssl = { certificate = "$work/p.crt", key = "$work/p.key" }
VirtualHost "localhost"
CFG
chmod 755 "$work"; chmod 644 "$work"/p.key
chown -R prosody:prosody "$work/pdata" "$work/prosody.cfg.lua"
asprosody() { setpriv --reuid=prosody --regid=prosody --init-groups "$@"; }
asprosody prosody --config "$work/prosody.cfg.lua" > "$work/prosody.out" 2>&1 &
for _ in $(seq 50); do [ -S "$work/pdata/prosody.sock" ] && break; sleep 0.2; done
users=$(( N > 2*PAIRS ? N : 2*PAIRS ))
for i in $(seq 0 $((users-1))); do echo "user:create('load$i@localhost', 'load-password')"; done |
	asprosody prosodyctl --config "$work/prosody.cfg.lua" shell > /dev/null
for _ in $(seq 100); do
	[ "$(ls "$work/pdata/localhost/accounts" 2>/dev/null | wc -l)" -ge "$users" ] && break
	sleep 0.2
done
PPID_=$(cat "$work/pdata/prosody.pid")

# Herald on 127.0.0.23. Every load client comes from loopback: no
# per-address connection limits.
printf '[limits]\nexempt = ["127.0.0.0/8"]\n' > "$work/herald.toml"
"$work/heraldd" -config "$work/herald.toml" -data "$work/hdata" -c2s 127.0.0.23:5222 -c2s-tls '' -log-level warn &
HPID=$!
for _ in $(seq 50); do [ -S "$work/hdata/admin.sock" ] && break; sleep 0.2; done
"$work/heraldload" create -n "$users" -admin "$work/hdata/admin.sock"

echo "== idle sessions: $N"
echo "-- herald";  "$work/heraldload" idle -addr 127.0.0.23:5222 -n "$N" -pid "$HPID"
echo "-- prosody"; "$work/heraldload" idle -addr 127.0.0.21:5222 -n "$N" -pid "$PPID_"
echo "== chat: $PAIRS pairs for $DUR"
echo "-- herald";  "$work/heraldload" chat -addr 127.0.0.23:5222 -pairs "$PAIRS" -duration "$DUR" -pid "$HPID"
echo "-- prosody"; "$work/heraldload" chat -addr 127.0.0.21:5222 -pairs "$PAIRS" -duration "$DUR" -pid "$PPID_"
