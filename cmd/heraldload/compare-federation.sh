#!/usr/bin/env bash
# Federation benchmark: message throughput and subscription handshakes per
# second over one s2s link, Herald -> Herald and Herald -> Prosody (and, for
# comparison, Prosody -> Herald and both same-domain cases), all in one run
# on this machine:
#
#   127.0.0.20:53  dnsmasq, A and SRV records for the .test zone only
#   127.0.0.21     Prosody for p.test  (c2s 5222, s2s 5269)
#   127.0.0.23     heraldd for h.test  (c2s 5222, s2s 5269)
#   127.0.0.24     heraldd for h2.test (c2s 5222, s2s 5269)
#
# One throwaway test CA issues every server's certificate and every server
# trusts only it and demands it (Herald require_cert, Prosody
# s2s_secure_auth), so each link is authenticated by certificate (SASL
# EXTERNAL), never by dialback. Accounts load0..load(2*PAIRS-1) exist on
# every server; in each run the senders (even numbers) log in to the first
# domain and the receivers (odd numbers) to the second, so every stanza of
# a cross-domain run crosses exactly one federation link.
#
# Needs root and Debian's prosody, dnsmasq-base, openssl, util-linux,
# bind9-dnsutils (dig).
# Run from the repository root:
#
#   cmd/heraldload/compare-federation.sh [PAIRS]     (default 20)
#
# Environment: DUR (each run's length, default 10s), PAIRS, KEEP=1 (keep the
# working directory with configs and logs), RUNS (which runs, default
# "h-h h-h2 h-p p-h p-p"), HERALDD (a heraldd binary to use instead of
# building one), HERALD_LOG_LEVEL (default info: at info heraldd
# logs s2s link events, such as a stream cut off, and nothing per stanza).
#
# Herald cuts off an inbound s2s stream that goes over 200 stanzas/s (burst
# 1000) with <policy-violation/> (s2s.Config.RateLimit, which heraldd does
# not expose), and what was in flight on it is lost: runs into Herald then
# report lost messages and stalled pairs, and exit 1. HERALDD= a build with
# the limit raised shows what the link itself carries.
#
# The fixed addresses are the ones the interop tests in cmd/heraldd use:
# do not run this while those tests run (the script checks and refuses).
set -euo pipefail

PAIRS=${1:-${PAIRS:-20}}
DUR=${DUR:-10s}
RUNS=${RUNS:-"h-h h-h2 h-p p-h p-p"}
HERALD_LOG_LEVEL=${HERALD_LOG_LEVEL:-info}
USERS=$((2 * PAIRS))
PASSWORD=load-password

DNS_IP=127.0.0.20
declare -A IP=([p.test]=127.0.0.21 [h.test]=127.0.0.23 [h2.test]=127.0.0.24)
declare -A NAME=([p.test]=Prosody [h.test]=Herald [h2.test]=Herald)
declare -A PID=()

work=$(mktemp -d /tmp/herald-federation.XXXXXX)
chmod 755 "$work" # Prosody, as the prosody user, reads its config here
bg=()             # every process started, killed on exit
failed=0

log() { printf '%s\n' "$*" >&2; }
tail_logs() {
	local f n
	for f in "$work"/dnsmasq.log "$work"/h.test.log "$work"/h2.test.log "$work"/p.test/prosody.log "$work"/p.test/prosody.out; do
		[ -s "$f" ] || continue
		n=40
		[ "${f##*/}" = dnsmasq.log ] && n=10
		log "---- ${f#"$work"/} (last $n lines; Prosody's client logins left out) ----"
		grep -vP '^\w+ +\d+ [\d:]+ c2s\w*\tinfo\t' "$f" | tail -n "$n" >&2 || true
	done
}
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	trap '' PIPE # a reader gone from stdout/stderr must not stop the cleanup
	local p
	for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${bg[@]}"; do wait "$p" 2>/dev/null || true; done
	[ "$status" -ne 0 ] && tail_logs
	if [ -n "${KEEP:-}" ]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	log "compare-federation: $*"
	exit 1
}

# wait_until SECONDS WHAT PID CMD...: polls CMD every 0.1s; fails if PID
# (the process that should make CMD true) has exited, also once CMD holds:
# then something else answered (say, another run's server on the address).
wait_until() {
	local secs=$1 what=$2 pid=$3
	shift 3
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || die "$what: the process exited"
		[ "$SECONDS" -lt "$deadline" ] || die "$what: not after ${secs}s"
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null || die "$what: the process exited"
}
# listening PID IP PORT: process PID itself listens on IP:PORT (TCP), so a
# server of another run on the same address does not count.
listening() { ss -Hlntp "src $2:$3" | grep -q "pid=$1,"; }
dns_up() {
	ss -Hlnup "src $DNS_IP:53" | grep -q "pid=$1," &&
		[ -n "$(dig +short +time=1 +tries=1 @"$DNS_IP" SRV "_xmpp-server._tcp.$2")" ]
}

# Nothing may already use the addresses (an interop test, an earlier run).
for ip in "$DNS_IP" "${IP[@]}"; do
	if ss -Hlntu | awk '{print $5}' | grep -q "^$ip:"; then
		die "something already listens on $ip (an interop test or another run?):
$(ss -lntup | grep "$ip:")"
	fi
done

log "building heraldd, heraldctl and heraldload into $work"
if [ -n "${HERALDD:-}" ]; then
	cp "$HERALDD" "$work/heraldd" # another build of heraldd, to compare
else
	go build -o "$work/heraldd" ./cmd/heraldd
fi
go build -o "$work/heraldctl" ./cmd/heraldctl
go build -o "$work/heraldload" ./cmd/heraldload

# ---- a throwaway CA and one leaf per domain ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$work/ca.key" -out "$work/ca.crt" -days 2 -subj "/O=Herald federation benchmark/CN=test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
for d in h.test h2.test p.test; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$work/$d.key" -out "$work/$d.csr" -subj "/CN=$d" 2>/dev/null
	# serverAuth and clientAuth: a server presents it on outgoing s2s too.
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s,DNS:*.%s\n' "$d" "$d" >"$work/$d.ext"
	openssl x509 -req -in "$work/$d.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
		-days 2 -extfile "$work/$d.ext" -out "$work/$d.crt" 2>/dev/null
	chmod 600 "$work/$d.key"
done

# ---- DNS: the .test zone and nothing else ----
{
	printf 'port=53\nlisten-address=%s\nbind-interfaces\nno-resolv\nno-hosts\nlocal=/test/\n' "$DNS_IP"
	printf 'user=root\ngroup=root\nlog-queries\nlog-facility=%s\n' "$work/dnsmasq.log"
	for d in "${!IP[@]}"; do
		printf 'host-record=%s,%s\n' "$d" "${IP[$d]}"
		printf 'srv-host=_xmpp-server._tcp.%s,%s,5269,0,5\n' "$d" "$d"
		printf 'srv-host=_xmpp-client._tcp.%s,%s,5222,0,5\n' "$d" "$d"
	done
} >"$work/dnsmasq.conf"
dnsmasq --keep-in-foreground --conf-file="$work/dnsmasq.conf" >>"$work/dnsmasq.log" 2>&1 &
bg+=($!)
wait_until 10 "dnsmasq answering on $DNS_IP" "$!" dns_up "$!" p.test
printf 'nameserver %s\n' "$DNS_IP" >"$work/resolv.conf"

# ---- Herald for h.test and h2.test ----
for d in h.test h2.test; do
	mkdir -p "$work/$d"
	cat >"$work/$d.toml" <<TOML
domains = ["$d"]
data_dir = "$work/$d"

[c2s]
listen = ["${IP[$d]}:5222"]
listen_tls = []

[s2s]
listen = ["${IP[$d]}:5269"]
listen_tls = []
resolvers = ["$DNS_IP:53"]
ca_file = "$work/ca.crt"
require_cert = true

[tls]
cert = "$work/$d.crt"
key = "$work/$d.key"

[limits]
# The default (60 a minute per user) is abuse protection; the benchmark
# sends one subscribe per cycle per user.
subscribes_per_minute = 1000000
# Every load client comes from loopback: no per-address connection limits.
exempt = ["127.0.0.0/8"]
TOML
	"$work/heraldd" -config "$work/$d.toml" -log-level "$HERALD_LOG_LEVEL" >"$work/$d.log" 2>&1 &
	PID[$d]=$!
	bg+=($!)
done
for d in h.test h2.test; do
	wait_until 30 "heraldd $d admin socket" "${PID[$d]}" test -S "$work/$d/admin.sock"
	wait_until 30 "heraldd $d c2s" "${PID[$d]}" listening "${PID[$d]}" "${IP[$d]}" 5222
	wait_until 30 "heraldd $d s2s" "${PID[$d]}" listening "${PID[$d]}" "${IP[$d]}" 5269
	"$work/heraldload" create -admin "$work/$d/admin.sock" -domain "$d" -n "$USERS" -password "$PASSWORD"
done

# ---- Prosody for p.test ----
pdir=$work/p.test
mkdir -p "$pdir/certs"
cat >"$work/prosody.cfg.lua" <<CFG
pidfile = "$pdir/prosody.pid"
data_path = "$pdir"
admin_socket = "$pdir/prosody.sock"
certificates = "$pdir/certs"
interfaces = { "${IP[p.test]}" }
local_interfaces = { "${IP[p.test]}" }
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { 5269 }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "admin_shell"; "posix" }
authentication = "internal_hashed"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = true
-- libunbound's built-in "test." zone answers NXDOMAIN for every .test
-- name; make it ask 127.0.0.20 (from the bind-mounted resolv.conf).
unbound = { resolvconf = true; hoststxt = false; options = { ["local-zone:"] = "test. transparent" } }
ssl = { certificate = "$work/p.test.crt"; key = "$work/p.test.key"; cafile = "$work/ca.crt" }
log = { info = "$pdir/prosody.log" }
VirtualHost "p.test"
CFG
chown -R prosody:prosody "$pdir" "$work/p.test.key"
asprosody() { setpriv --reuid=prosody --regid=prosody --init-groups "$@"; }
# A private mount namespace carries the resolv.conf naming 127.0.0.20. The
# exec chain (unshare, sh, setpriv, env, lua) keeps one PID, so $! is
# Prosody's own, as -pid and the CPU figures need.
unshare -m --propagation private sh -c \
	'mount --bind "$1" /etc/resolv.conf && exec setpriv --reuid=prosody --regid=prosody --init-groups prosody -F --config "$2"' \
	sh "$work/resolv.conf" "$work/prosody.cfg.lua" >"$pdir/prosody.out" 2>&1 &
PID[p.test]=$!
bg+=($!)
wait_until 30 "prosody c2s" "${PID[p.test]}" listening "${PID[p.test]}" "${IP[p.test]}" 5222
wait_until 30 "prosody s2s" "${PID[p.test]}" listening "${PID[p.test]}" "${IP[p.test]}" 5269
wait_until 30 "prosody admin socket" "${PID[p.test]}" test -S "$pdir/prosody.sock"
if [ "$(cat "$pdir/prosody.pid" 2>/dev/null)" != "${PID[p.test]}" ]; then
	log "note: prosody.pid says $(cat "$pdir/prosody.pid" 2>/dev/null), \$! is ${PID[p.test]}; using the pidfile"
	PID[p.test]=$(cat "$pdir/prosody.pid")
fi
for i in $(seq 0 $((USERS - 1))); do echo "user:create('load$i@p.test', '$PASSWORD')"; done |
	asprosody prosodyctl --config "$work/prosody.cfg.lua" shell >"$pdir/create.out" 2>&1 ||
	die "prosodyctl shell failed: $(tail -n 5 "$pdir/create.out")"
count_accounts() { [ "$(find "$pdir" -path '*/accounts/load*.dat' | wc -l)" -ge "$USERS" ]; }
wait_until 30 "prosody accounts" "${PID[p.test]}" count_accounts

# ---- the runs ----
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
secs=${DUR%s}
limit=600
[[ $secs =~ ^[0-9]+$ ]] && limit=$((secs + 180))
declare -A RESULT=() LOST=() REPEAT=() STALL=()

# bench MODE FROM TO: one heraldload run; prints its output and both
# servers' CPU time per message or cycle; the figure goes into RESULT.
bench() {
	local mode=$1 from=$2 to=$3 out rc=0
	local args=(-addr "${IP[$from]}:5222" -domain "$from" -pairs "$PAIRS" -duration "$DUR" -password "$PASSWORD" -pid "${PID[$to]}")
	[ "$from" != "$to" ] && args+=(-addr2 "${IP[$to]}:5222" -domain2 "$to")
	local c0f c0t c1f c1t
	c0f=$(cpu_ticks "${PID[$from]}")
	c0t=$(cpu_ticks "${PID[$to]}")
	out=$(timeout -k 10 "$limit" "$work/heraldload" "$mode" "${args[@]}" 2>&1) || rc=$?
	c1f=$(cpu_ticks "${PID[$from]}")
	c1t=$(cpu_ticks "${PID[$to]}")
	sed 's/^/  /' <<<"$out"
	local n
	if [ "$mode" = chat ]; then
		n=$(sed -n 's/.*delivered \([0-9]*\) messages.*/\1/p' <<<"$out")
		RESULT[$mode,$from,$to]=$(sed -n 's/.*: \([0-9]*\) msgs\/s/\1/p' <<<"$out")
		LOST[$from,$to]=$(sed -n 's/^sent [0-9]*, lost \(-*[0-9]*\).*/\1/p' <<<"$out")
	else
		n=$(sed -n 's/.*completed \([0-9]*\) .*/\1/p' <<<"$out")
		RESULT[$mode,$from,$to]=$(sed -n 's/.*: \([0-9]*\) handshakes\/s/\1/p' <<<"$out")
		REPEAT[$from,$to]=$(sed -n 's/^requests repeated after a late unsubscribed \([0-9]*\).*/\1/p' <<<"$out")
		STALL[$from,$to]=$(sed -n 's/.*pairs stalled at the end \([0-9]*\).*/\1/p' <<<"$out")
	fi
	local unit=message
	[ "$mode" = subs ] && unit=cycle
	if [ "${n:-0}" -gt 0 ]; then
		if [ "$from" = "$to" ]; then
			awk -v a="$c0f" -v b="$c1f" -v n="$n" -v hz="$hz" -v d="$from" -v u="$unit" \
				'BEGIN { printf "  cpu: %s %.2fs = %.1f us per %s\n", d, (b-a)/hz, (b-a)/hz*1e6/n, u }'
		else
			awk -v a="$c0f" -v b="$c1f" -v c="$c0t" -v e="$c1t" -v n="$n" -v hz="$hz" -v f="$from" -v t="$to" -v u="$unit" \
				'BEGIN { printf "  cpu: sender %s %.2fs = %.1f us per %s; receiver %s %.2fs = %.1f us per %s\n", f, (b-a)/hz, (b-a)/hz*1e6/n, u, t, (e-c)/hz, (e-c)/hz*1e6/n, u }'
		fi
	fi
	if [ "$rc" -ne 0 ] || [ "${n:-0}" -eq 0 ]; then
		log "FAILED: heraldload $mode $from -> $to (exit $rc, ${n:-0} completed)"
		failed=1
		RESULT[$mode,$from,$to]=FAIL
	fi
	# Lost messages and stalled pairs are stanzas a server dropped.
	if [ "$mode" = chat ] && [ "${LOST[$from,$to]:-0}" != 0 ]; then
		log "PROBLEM: chat $from -> $to: ${LOST[$from,$to]} messages were never delivered"
		failed=1
	fi
	if [ "$mode" = subs ] && [ "${STALL[$from,$to]:-0}" != 0 ]; then
		log "PROBLEM: subs $from -> $to: ${STALL[$from,$to]} pairs stalled (a stanza of their cycle was lost)"
		failed=1
	fi
	for d in "$from" "$to"; do
		kill -0 "${PID[$d]}" 2>/dev/null || die "the server for $d has exited"
	done
}

declare -A RUN_FROM=([h-h]=h.test [h-h2]=h.test [h-p]=h.test [p-h]=p.test [p-p]=p.test)
declare -A RUN_TO=([h-h]=h.test [h-h2]=h2.test [h-p]=p.test [p-h]=h.test [p-p]=p.test)
echo "== federation benchmark: $PAIRS pairs, $DUR per run, $(nproc) cores, load tool on the same machine"
for r in $RUNS; do
	from=${RUN_FROM[$r]:-}
	to=${RUN_TO[$r]:-}
	[ -n "$from" ] || die "unknown run $r (known: ${!RUN_FROM[*]})"
	if [ "$from" = "$to" ]; then
		echo "-- $from -> $to (${NAME[$from]}, same domain, no s2s)"
	else
		echo "-- $from -> $to (${NAME[$from]} -> ${NAME[$to]} over one s2s link)"
		# Warm-up: opens and authenticates the link, so that the measured
		# run does not include s2s setup, and checks that messages cross.
		warm=$(timeout -k 10 120 "$work/heraldload" chat -addr "${IP[$from]}:5222" -domain "$from" \
			-addr2 "${IP[$to]}:5222" -domain2 "$to" -pairs 1 -duration 2s -password "$PASSWORD" 2>&1) || true
		if ! grep -q 'delivered [1-9]' <<<"$warm"; then
			log "FAILED: warm-up $from -> $to delivered nothing: $warm"
			failed=1
		fi
	fi
	echo " chat:"
	bench chat "$from" "$to"
	echo " subs:"
	bench subs "$from" "$to"
done

echo "== Herald's federation links"
for d in h.test h2.test; do
	echo "-- $d"
	"$work/heraldctl" --socket "$work/$d/admin.sock" s2s links 2>&1 | sed 's/^/  /'
done

echo "== summary ($PAIRS pairs, $DUR)"
printf '%-18s %-19s %11s %9s %13s %12s %11s\n' run servers "chat msgs/s" "chat lost" "subs cycles/s" "subs repeats" "subs stalled"
for r in $RUNS; do
	from=${RUN_FROM[$r]}
	to=${RUN_TO[$r]}
	printf '%-18s %-19s %11s %9s %13s %12s %11s\n' "$from -> $to" "${NAME[$from]} -> ${NAME[$to]}" \
		"${RESULT[chat,$from,$to]:-}" "${LOST[$from,$to]:-}" "${RESULT[subs,$from,$to]:-}" \
		"${REPEAT[$from,$to]:-}" "${STALL[$from,$to]:-}"
done

# What the servers said about their links and anything going wrong.
for d in h.test h2.test; do
	echo "== heraldd $d log: $(grep -c 'level=WARN\|level=ERROR' "$work/$d.log" || true) warnings/errors, s2s events:"
	awk 'match($0, /msg="s2s: [^"]*"/) {
		line = substr($0, RSTART + 5, RLENGTH - 6)
		n = split($0, f, " ")
		for (i = 1; i <= n; i++) if (f[i] ~ /^(peer|remote|condition|auth)=/) line = line " " f[i]
		print line
	}' "$work/$d.log" | sort | uniq -c | sed 's/^/  /' 
	grep 'level=WARN\|level=ERROR' "$work/$d.log" | tail -n 10 | sed 's/^/  /' || true
done
echo "== prosody log: warnings/errors (counted by message):"
grep -P '\t(warn|error)\t' "$pdir/prosody.log" | cut -f3- | sort | uniq -c | sed 's/^/  /' || true

[ "$failed" -eq 0 ] || die "some runs failed or lost stanzas (FAILED/PROBLEM lines above)"
