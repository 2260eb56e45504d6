#!/usr/bin/env bash
# scripts/bench.sh — chatd's benchmark on loopback, beside nginx (the HTTP/1.1 ceiling on this
# machine) and Redis (the anchor for a durable, group-committed append). `make bench` builds
# what it needs (scripts/bench.mk) and runs this; it prints one table and writes it as JSON to
# build/bench.json. Needs: wrk, nginx-light, redis-server (redis-benchmark), curl, python3,
# taskset (util-linux). With two or more CPUs the servers run on CPU 0 and the load on CPU 1.
#
# Scenarios, in the order they run (every chatd runs with --pbkdf2-iters 1000 --max-conns 20000):
#   nginx     GET of a 15-byte JSON body (`return 200`), one worker, access log off (it stays up
#             for the static-file row below)
#   redis     redis-benchmark -t set -c 64 -P 1 -d BENCH_BODY (appendonly yes, appendfsync always)
#   A: chatd --fsync never, fresh data dir
#     1  GET /healthz                                   wrk
#        fill: BENCH_MESSAGES POSTs over 10 conversations (postload --count; not a scenario)
#     2  GET /api/messages/:id with a bearer token      wrk -H
#     7  scenario 2 again while BENCH_IDLE idle keep-alive connections are open (postload --idle)
#        nginx: GET of a static file of the same bytes as scenario 3's page (sendfile on)
#     3  GET /api/messages?conversation_id=1&limit=50 (a conversation of BENCH_MESSAGES/10)
#     8  GET /api/conversations for a user in BENCH_INBOX_CONVS (200) conversations with
#        BENCH_INBOX_MSGS (100) messages each, read markers in every other one; beside it nginx
#        serving a static file of the same bytes
#     9  scenario 2 for BURST_DUR s without, then with a presence burst: BENCH_BURST_USERS (1000)
#        users of one conversation open a WebSocket each, spread over 1 s (wsload --burst)
#   B: chatd --fsync always on the same data dir
#     6  start-up: replay of the log (chatd's "records replayed in X ms") and RSS after it
#     4a POST /api/messages, 64 connections, --fsync always (postload), then disk_ceiling
#     5  WebSocket fan-out, 1000 subscribers of one conversation (wsload): steady rate, then max
#        peers: Redis pub/sub (1000 SUBSCRIBE connections) and Mosquitto (MQTT 3.1.1, QoS 0, 1000
#        subscribers), PUBLISH at the same rate with payloads of chatd's frame size (psload)
#   C: chatd --fsync never on the same data dir
#     4b POST /api/messages, 64 connections, --fsync never
#        scaling: fan-out to BENCH_SCALE_SUBS (100 1000 10000) subscribers at the same
#        BENCH_SCALE_DELIVERIES (50000) deliveries/s offered; 10000 = 1000 users x 10 WebSockets
#   scaling: a data dir per size written by loggen (n messages in conversation 1), chatd --fsync
#        never started on it: replay time, start-up CPU and RSS at BENCH_SCALE_REPLAY (100k 1M
#        5M; QUICK: 100k 1M 2M); at BENCH_SCALE_LIST (1k 100k 1M) scenario 3 with wrk for 3 s
#        (QUICK: 1 s)
#   idle RSS of a fresh ./chatd-static and ./chatd; size of ./chatd-static
#
# Environment: BENCH_SECONDS (6) per wrk/postload run, BENCH_CONNS (64), BENCH_MESSAGES
# (1000000), BENCH_IDLE (10000), BENCH_WS_CLIENTS (1000), BENCH_WS_RATE (200 messages/s),
# BENCH_REDIS_N (default: sized by a probe to last BENCH_SECONDS), BENCH_BODY (100 bytes),
# CHATD (./chatd), CHATD_STATIC (./chatd-static), BENCH_TOOLS (build/bench: postload, wsload,
# disk_ceiling, loggen), BENCH_OUT (build/bench.json), TMPDIR (where the data dirs go: it must be a
# real disk for fsync), BENCH_PERF=1 (perf record each run: build/bench-perf/NAME.txt; BENCH_PERF_G=1: with -g),
# QUICK=1 (for iterating, under 90 s: 2 s runs, 100k messages, 2000 idle connections, 2 s + 1 s
# of fan-out; ratios only roughly comparable with a full run), BENCH_ONLY=post (scenario 4 and
# redis alone: the fill, POST --fsync always and never, a short table; nothing else), BENCH_ONLY
# (a list, e.g. "9" or "7 8 9": server A's fill and scenario 2, then only these of 1, 3, 7, 8, 9,
# and a short table; with BENCH_PERF=1 the perf files of just those runs). The table ends with "How cost
# grows": each scaling row's figure per size, its stated complexity and the measured growth.
# Results and how to read them: scripts/BENCH.md.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
ONLY=${BENCH_ONLY:-}
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
[ "$QUICK" = 1 ] && Q=1 || Q=
DUR=${BENCH_SECONDS:-${Q:+2}}; DUR=${DUR:-6}
CONNS=${BENCH_CONNS:-64}
NMSG=${BENCH_MESSAGES:-${Q:+100000}}; NMSG=${NMSG:-1000000}
IDLE=${BENCH_IDLE:-${Q:+2000}}; IDLE=${IDLE:-10000}
WS_SECS=${Q:+2}; WS_SECS=${WS_SECS:-4}
WS_MAX_SECS=${Q:+1}; WS_MAX_SECS=${WS_MAX_SECS:-3}
WS_CLIENTS=${BENCH_WS_CLIENTS:-1000}
WS_RATE=${BENCH_WS_RATE:-200}
INBOX_CONVS=${BENCH_INBOX_CONVS:-200}
INBOX_MSGS=${BENCH_INBOX_MSGS:-100}
BURST_USERS=${BENCH_BURST_USERS:-1000}
BURST_DUR=${Q:+2}; BURST_DUR=${BURST_DUR:-3}
SCALE_SUBS=${BENCH_SCALE_SUBS:-100 1000 10000}
SCALE_DELIVERIES=${BENCH_SCALE_DELIVERIES:-50000}
SCALE_SECS=${Q:+2}; SCALE_SECS=${SCALE_SECS:-3}
SCALE_LIST=${BENCH_SCALE_LIST:-1000 100000 1000000}
SCALE_LIST_SECS=${Q:+1}; SCALE_LIST_SECS=${SCALE_LIST_SECS:-3}
SCALE_REPLAY=${BENCH_SCALE_REPLAY:-${Q:+100000 1000000 2000000}}; SCALE_REPLAY=${SCALE_REPLAY:-100000 1000000 5000000}
BODY=${BENCH_BODY:-100}
CHATD=${CHATD:-./chatd}
CHATD_STATIC=${CHATD_STATIC:-./chatd-static}
TOOLS=${BENCH_TOOLS:-build/bench}
OUT=${BENCH_OUT:-build/bench.json}
NCONV=10

die() { echo "bench: $*" >&2; exit 1; }
for t in wrk nginx redis-server redis-benchmark mosquitto curl python3; do
    command -v "$t" >/dev/null || die "$t is not installed (make bench-deps)"
done
for t in postload wsload psload disk_ceiling loggen; do [ -x "$TOOLS/$t" ] || die "$TOOLS/$t missing (make bench-tools)"; done
[ -x "$CHATD" ] || die "$CHATD missing (make)"

if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    SRV=(taskset -c 0) LOAD=(taskset -c 1) PINNED="server CPU 0, load CPU 1"
else
    SRV=() LOAD=() PINNED="not pinned ($(nproc) CPU)"
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((IDLE + 1000)) ]; then
    echo "bench: RLIMIT_NOFILE is $NOFILE (hard limit): idle connections cut to $((NOFILE - 1000))" >&2
    IDLE=$((NOFILE - 1000))
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chatd-bench.XXXXXX")
cleanup() {
    local p   # only our own background jobs still running: never a stale, reused pid
    for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
[ "$(stat -f -c %T "$TMP")" = tmpfs ] && echo "bench: warning: $TMP is on tmpfs: fsync figures mean nothing" >&2
ROWS=$TMP/rows.jsonl
: >"$ROWS"
HZ=$(getconf CLK_TCK)
T_START=$(date +%s)
LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
SOURCE=$(git describe --always --dirty 2>/dev/null || echo unknown)

# ---------------------------------------------------------------------------- helpers
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk -v hz="$HZ" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12] + f[13]) / hz }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
stat_cpus() { grep -E '^cpu[01]? ' /proc/stat || true; }
kids_cpu_s() { awk -v hz="$HZ" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%.2f", (f[14] + f[15]) / hz }' "/proc/$$/stat"; }
# between two /proc/stat snapshots: busy % of cpu0 and cpu1, and busy CPU seconds of all CPUs
busy() {
    python3 - "$1" "$2" "$HZ" <<'EOF'
import sys
def rd(s):
    d = {}
    for line in s.strip().splitlines():
        f = line.split(); v = list(map(int, f[1:9]))
        d[f[0]] = (sum(v), v[3] + v[4])
    return d
a, b, hz = rd(sys.argv[1]), rd(sys.argv[2]), int(sys.argv[3])
out = []
for c in ("cpu0", "cpu1"):
    if c in a and c in b:
        tot, idle = b[c][0] - a[c][0], b[c][1] - a[c][1]
        out.append("%.0f" % (100.0 * (tot - idle) / tot if tot else 0))
    else:
        out.append("null")
out.append("%.2f" % (((b["cpu"][0] - a["cpu"][0]) - (b["cpu"][1] - a["cpu"][1])) / hz))
print(" ".join(out))
EOF
}
ms() {   # wrk latency ("494.00us", "1.91ms", "1.02s") -> ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

# row NAME KEY=VALUE...  (values: numbers, null, or "quoted strings")
row() {
    local name=$1; shift
    local j="{\"name\":\"$name\""
    for kv in "$@"; do j="$j,\"${kv%%=*}\":${kv#*=}"; done
    echo "$j}" >>"$ROWS"
}

# measure_begin PID ... measure_end PID around a run: M_CPU (server CPU s), M_RSS (KiB), M_BUSY_SRV
# and M_BUSY_LOAD (% busy of CPU 0 and 1), M_LOADCPU (CPU s of the load tools this shell waited
# for), M_OTHER (CPU s spent by anything else: other processes on the machine, and kernel work
# that no process is charged for, such as some loopback softirq time)
# With BENCH_PERF=1, perf record samples the server during each run (NAME given to
# measure_begin): build/bench-perf/NAME.txt gets the top symbols (perf costs a few % itself).
PERF_PID=
measure_begin() {
    M_C0=$(cpu_s "$1"); M_K0=$(kids_cpu_s); M_S0=$(stat_cpus)
    if [ "${BENCH_PERF:-0}" = 1 ] && [ -n "${2:-}" ]; then
        mkdir -p build/bench-perf
        PERF_NAME=$2
        perf record -F 999 -e cpu-clock ${BENCH_PERF_G:+-g} -p "$1" -o "build/bench-perf/$2.data" >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 0.2
    fi
}
measure_end() {
    local all
    if [ -n "$PERF_PID" ]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=
        perf report -i "build/bench-perf/$PERF_NAME.data" --stdio --no-children --sort dso,symbol 2>/dev/null \
            | grep -E '^ +[0-9.]+%' | head -60 >"build/bench-perf/$PERF_NAME.txt" || true
    fi
    read -r M_BUSY_SRV M_BUSY_LOAD all < <(busy "$M_S0" "$(stat_cpus)")
    M_CPU=$(awk -v a="$M_C0" -v b="$(cpu_s "$1")" 'BEGIN { printf "%.2f", b - a }')
    M_LOADCPU=$(awk -v a="$M_K0" -v b="$(kids_cpu_s)" 'BEGIN { printf "%.2f", b - a }')
    M_OTHER=$(awk -v t="$all" -v s="$M_CPU" -v l="$M_LOADCPU" 'BEGIN { o = t - s - l; printf "%.2f", o < 0 ? 0 : o }')
    M_RSS=$(rss_kb "$1")
}
progress() {   # NAME RPS P50 P99
    printf '  %-22s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  (server CPU %s s; busy %%: CPU0 %s, CPU1 %s; other CPU %s s)\n' \
        "$1" "$2" "$3" "$4" "$M_CPU" "$M_BUSY_SRV" "$M_BUSY_LOAD" "$M_OTHER"
}
M_ROW() { echo rss_kb="$M_RSS" cpu_s="$M_CPU" busy_srv="$M_BUSY_SRV" busy_load="$M_BUSY_LOAD" load_cpu_s="$M_LOADCPU" other_cpu_s="$M_OTHER"; }

# wrk_run NAME PID URL [wrk args]: one fixed-time wrk run against PID's server; one row
wrk_run() {
    local name=$1 pid=$2 url=$3; shift 3
    measure_begin "$pid" "$name"
    "${LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" "$url" >"$TMP/$name.wrk" 2>&1 || true
    measure_end "$pid"
    local rps p50 p99 non2xx errs
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/$name.wrk")
    p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$TMP/$name.wrk")")
    p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$TMP/$name.wrk")")
    non2xx=$(awk '/Non-2xx/ { print $NF }' "$TMP/$name.wrk")
    errs=$(awk '/Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$TMP/$name.wrk")
    [ -n "$rps" ] || { cat "$TMP/$name.wrk" >&2; die "$name: wrk failed"; }
    # shellcheck disable=SC2046
    row "$name" rps="$rps" p50_ms="$p50" p99_ms="$p99" seconds="$DUR" non2xx="${non2xx:-0}" errors="${errs:-0}" $(M_ROW)
    progress "$name" "$rps" "$p50" "$p99"
}

# post_run NAME PID [postload args]: one postload run; one row
post_run() {
    local name=$1 pid=$2; shift 2
    measure_begin "$pid" "$name"
    "${LOAD[@]}" "$TOOLS/postload" --port "$PORT" --token "$TOKEN" --conv "$CONVS" --conns "$CONNS" \
        --body-size "$BODY" --json "$@" >"$TMP/$name.out" || { cat "$TMP/$name.out" >&2; die "$name: postload failed"; }
    measure_end "$pid"
    local j; j=$(tail -1 "$TMP/$name.out")
    # shellcheck disable=SC2046
    row "$name" post="$j" rps="$(jv "$j" rps)" p50_ms="$(jv "$j" p50_ms)" p99_ms="$(jv "$j" p99_ms)" \
        seconds="$(jv "$j" seconds)" non2xx="$(jv "$j" non2xx)" errors="$(jv "$j" errors)" $(M_ROW)
    progress "$name" "$(jv "$j" rps)" "$(jv "$j" p50_ms)" "$(jv "$j" p99_ms)"
}
jv() {   # JSON KEY -> value (null when absent)
    python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."): v = v.get(k) if isinstance(v, dict) else None
print("null" if v is None else v)' "$1" "$2"
}

# wait_line FILE REGEX PID TRIES: until FILE has a line matching REGEX (10 ms a try);
# fails early when PID exits
wait_line() {
    for _ in $(seq "$4"); do
        grep -q "$2" "$1" && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.01
    done
    grep -q "$2" "$1"
}

# start_chatd NAME FSYNC DIR [BIN]: sets PID, PORT; waits for "listening"
start_chatd() {
    local name=$1 fs=$2 dir=$3 bin=${4:-$CHATD}
    PORT=$(free_port)
    local t0; t0=$(date +%s%N)
    "${SRV[@]}" "$bin" --port "$PORT" --bind 127.0.0.1 --data-dir "$dir" --fsync "$fs" --max-conns 20000 \
        --pbkdf2-iters 1000 --max-conns-per-ip 0 --max-streams-per-user 0 --write-rate 0 --register-rate 0 2>"$TMP/$name.log" &
    PID=$!
    wait_line "$TMP/$name.log" 'listening on' "$PID" 3000 || { cat "$TMP/$name.log" >&2; die "$name: chatd did not start"; }
    START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

api() {   # METHOD PATH [BODY]: JSON out, with the bench token when set
    curl -sf -X "$1" "http://127.0.0.1:$PORT$2" ${TOKEN:+-H "Authorization: Bearer $TOKEN"} ${3:+-d "$3"}
}

echo "chatd bench: $CHATD ($SOURCE), $(nproc) CPU ($PINNED), ${DUR}s per run, $CONNS connections, data in $TMP"
echo "  machine load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"

if [ "${BENCH_ONLY:-}" != post ]; then   # BENCH_ONLY=post: nginx left out (see below)
# ---------------------------------------------------------------------------- nginx
NGX=$TMP/nginx
mkdir -p "$NGX/logs"
NGPORT=$(free_port)
{
    [ "$(id -u)" = 0 ] && echo "user $(id -un);"
    cat <<EOF
worker_processes 1;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 60s;
    client_body_temp_path $NGX/client_body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$NGPORT;
        location / { default_type application/json; return 200 '{"status":"ok"}'; }
        location = /page.json { root $NGX/html; default_type application/json; }
        location = /inbox.json { root $NGX/html; default_type application/json; }
    }
}
EOF
} >"$NGX/nginx.conf"
"${SRV[@]}" nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" 2>>"$NGX/error.log" &
NGMASTER=$!
NGWORKER=
for _ in $(seq 500); do
    NGWORKER=$(pgrep -P "$NGMASTER" | head -1 || true)
    [ -n "$NGWORKER" ] && curl -sf "http://127.0.0.1:$NGPORT/healthz" >/dev/null && break
    sleep 0.01
done
[ -n "$NGWORKER" ] || { cat "$NGX/error.log" >&2; die "nginx did not start"; }
want 1 && wrk_run nginx "$NGWORKER" "http://127.0.0.1:$NGPORT/healthz"

fi
# ---------------------------------------------------------------------------- redis
if [ -z "$ONLY" ] || [ "$ONLY" = post ]; then
RD=$TMP/redis
mkdir -p "$RD"
RPORT=$(free_port)
"${SRV[@]}" redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$RD" --appendonly yes --appendfsync always \
    --save '' --daemonize no --logfile "$RD/redis.log" &
RPID=$!
for _ in $(seq 500); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.01; done 2>/dev/null || true
# a short probe sizes the measured run to about BENCH_SECONDS (redis-benchmark counts requests)
"${LOAD[@]}" timeout 60 redis-benchmark -p "$RPORT" -t set -c 64 -P 1 -n 20000 -d "$BODY" --csv \
    >"$TMP/redis-probe.csv" 2>/dev/null || die "redis-benchmark failed"
REDIS_N=${BENCH_REDIS_N:-$(tail -1 "$TMP/redis-probe.csv" | tr -d '"' | awk -F, -v d="$DUR" '{ n = int($2 * d); print n < 20000 ? 20000 : n }')}
measure_begin "$RPID" redis
t0=$(date +%s%N)
"${LOAD[@]}" timeout 120 redis-benchmark -p "$RPORT" -t set -c 64 -P 1 -n "$REDIS_N" -d "$BODY" --csv \
    >"$TMP/redis.csv" 2>/dev/null || die "redis-benchmark failed"
RSECS=$(( ($(date +%s%N) - t0) / 1000000 ))
measure_end "$RPID"
stop_pid "$RPID"
IFS=, read -r _ rrps _ _ rp50 _ rp99 _ < <(tail -1 "$TMP/redis.csv" | tr -d '"')
# shellcheck disable=SC2046
row redis rps="$rrps" p50_ms="$rp50" p99_ms="$rp99" seconds="$(awk -v m="$RSECS" 'BEGIN{print m/1000}')" $(M_ROW)
progress redis-set-always "$rrps" "$rp50" "$rp99"
fi

# ---------------------------------------------------------------------------- BENCH_ONLY=post
# Scenario 4 alone beside redis (for iterating on the write path): the fill, then POST with
# --fsync always and never on that data dir; a short table of those rows and exit
if [ "${BENCH_ONLY:-}" = post ]; then
    DATA=$TMP/data
    start_chatd A never "$DATA"
    TOKEN=$(api POST /api/users/register '{"username":"bench","password":"bench-password"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
    CONVS=
    for i in $(seq $NCONV); do
        id=$(api POST /api/conversations "{\"title\":\"bench $i\",\"member_ids\":[]}" | sed -n 's/.*"conversation":{"id":\([0-9]*\).*/\1/p')
        CONVS=${CONVS:+$CONVS,}$id
    done
    "${LOAD[@]}" "$TOOLS/postload" --port "$PORT" --token "$TOKEN" --conv "$CONVS" --conns "$CONNS" --count "$NMSG" \
        --body-size "$BODY" --json >"$TMP/fill.out" || { cat "$TMP/fill.out" >&2; die "fill failed"; }
    stop_pid "$PID"
    start_chatd B always "$DATA"
    post_run s4_post_always "$PID" --seconds "$DUR"
    stop_pid "$PID"
    start_chatd C never "$DATA"
    post_run s4_post_never "$PID" --seconds "$DUR"
    stop_pid "$PID"
    python3 - "$ROWS" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line); rows[r.pop("name")] = r
rd = rows["redis"]["rps"]
for k, label in (("redis", "redis SET appendfsync always"), ("s4_post_always", "4 POST --fsync always"),
                 ("s4_post_never", "4 POST --fsync never")):
    r = rows[k]
    print("%-30s %9.0f req/s  p50 %7.3f  p99 %7.3f ms  server CPU %5s s  other %5s s  %.2fx redis"
          % (label, r["rps"], r["p50_ms"], r["p99_ms"], r["cpu_s"], r["other_cpu_s"], r["rps"] / rd))
EOF
    echo "  machine load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

# ---------------------------------------------------------------------------- chatd A (--fsync never)
DATA=$TMP/data
start_chatd A never "$DATA"
A=$PID
IDLE_RSS_GLIBC=$(rss_kb "$A")
TOKEN=
TOKEN=$(api POST /api/users/register '{"username":"bench","password":"bench-password"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || die "registering the bench user failed"
CONVS=
for i in $(seq $NCONV); do
    id=$(api POST /api/conversations "{\"title\":\"bench $i\",\"member_ids\":[]}" | sed -n 's/.*"conversation":{"id":\([0-9]*\).*/\1/p')
    CONVS=${CONVS:+$CONVS,}$id
done
C1=${CONVS%%,*}
want 1 && wrk_run s1_healthz "$A" "http://127.0.0.1:$PORT/healthz"

measure_begin "$A" fill
"${LOAD[@]}" "$TOOLS/postload" --port "$PORT" --token "$TOKEN" --conv "$CONVS" --conns "$CONNS" --count "$NMSG" \
    --body-size "$BODY" --json >"$TMP/fill.out" || { cat "$TMP/fill.out" >&2; die "fill failed"; }
measure_end "$A"
FILL=$(tail -1 "$TMP/fill.out")
# shellcheck disable=SC2046
row fill rps="$(jv "$FILL" rps)" p50_ms="$(jv "$FILL" p50_ms)" p99_ms="$(jv "$FILL" p99_ms)" seconds="$(jv "$FILL" seconds)" $(M_ROW)
printf '  %-22s %10.0f req/s  (%s messages, --fsync never)\n' fill "$(jv "$FILL" rps)" "$NMSG"

MID=$((NMSG / 2))
api GET "/api/messages/$MID" >/dev/null || die "GET /api/messages/$MID failed"
wrk_run s2_get_message "$A" "http://127.0.0.1:$PORT/api/messages/$MID" -H "Authorization: Bearer $TOKEN"

# 7: idle keep-alive connections held open while scenario 2 runs again
RSS_BEFORE_IDLE= RSS_IDLE_CONNS= HOLD_OK=
if want 7; then
RSS_BEFORE_IDLE=$(rss_kb "$A")
"${LOAD[@]}" "$TOOLS/postload" --idle "$IDLE" --port "$PORT" --hold 300 >"$TMP/idle.out" 2>"$TMP/idle.err" &
HOLDER=$!
wait_line "$TMP/idle.out" '^idle:' "$HOLDER" 6000 || { cat "$TMP/idle.err" >&2; die "idle connections not open"; }
sleep 2.5   # idle a second, a connection gives back its buffers (glibc: the pages within the next second)
RSS_IDLE_CONNS=$(rss_kb "$A")
echo "  $IDLE idle connections: RSS $RSS_BEFORE_IDLE -> $RSS_IDLE_CONNS KiB"
wrk_run s7_get_with_idle "$A" "http://127.0.0.1:$PORT/api/messages/$MID" -H "Authorization: Bearer $TOKEN"
kill -TERM "$HOLDER"
wait "$HOLDER" 2>/dev/null && HOLD_OK=true || HOLD_OK=false   # false: the server closed some
fi

# nginx beside scenario 3: a static file of the same bytes as the page (the ceiling for a
# response of that size), run right before it
mkdir -p "$NGX/html"
PAGE_BYTES=
if want 3; then
api GET "/api/messages?conversation_id=$C1&limit=50" >"$NGX/html/page.json" || die "GET the 50-message page failed"
PAGE_BYTES=$(stat -c %s "$NGX/html/page.json")
[ "$(curl -sf "http://127.0.0.1:$NGPORT/page.json" | wc -c)" = "$PAGE_BYTES" ] || die "nginx does not serve page.json"
wrk_run nginx_static_page "$NGWORKER" "http://127.0.0.1:$NGPORT/page.json"
wrk_run s3_list_50 "$A" "http://127.0.0.1:$PORT/api/messages?conversation_id=$C1&limit=50" -H "Authorization: Bearer $TOKEN"
fi
RSS_A_END=$(rss_kb "$A")

# 8: the inbox: GET /api/conversations for a user in INBOX_CONVS conversations, each with
# INBOX_MSGS messages from the bench user; the reader has read half of every other one
if want 8; then
READER=$(api POST /api/users/register '{"username":"reader","password":"reader-password"}')
READER_TOKEN=$(echo "$READER" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
READER_ID=$(echo "$READER" | sed -n 's/.*"user":{"id":\([0-9]*\).*/\1/p')
{ [ -n "$READER_TOKEN" ] && [ -n "$READER_ID" ]; } || die "registering the reader failed: $READER"
INBOX=$(python3 - "$PORT" "$TOKEN" "$READER_ID" "$INBOX_CONVS" <<'EOF2'
import http.client, json, sys
port, tok, me, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
h = http.client.HTTPConnection("127.0.0.1", int(port))
def call(method, path, token, body=None):
    h.request(method, path, body=json.dumps(body) if body is not None else None, headers={"Authorization": "Bearer " + token})
    r = h.getresponse(); d = r.read()
    if r.status >= 300: sys.exit("%s %s: %d %s" % (method, path, r.status, d[:200]))
    return json.loads(d)
print(",".join(str(call("POST", "/api/conversations", tok, {"title": "inbox %d" % i, "member_ids": [me]})["conversation"]["id"]) for i in range(n)))
EOF2
) || die "inbox setup failed"
"${LOAD[@]}" "$TOOLS/postload" --port "$PORT" --token "$TOKEN" --conv "$INBOX" --conns "$CONNS" --count $((INBOX_CONVS * INBOX_MSGS)) \
    --body-size "$BODY" >/dev/null || die "inbox fill failed"
INBOX_CHECK=$(python3 - "$PORT" "$READER_TOKEN" "$INBOX" <<'EOF2'
import http.client, json, sys
port, rtok, convs = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
h = http.client.HTTPConnection("127.0.0.1", int(port))
def call(method, path, body=None):
    h.request(method, path, body=json.dumps(body) if body is not None else None, headers={"Authorization": "Bearer " + rtok})
    r = h.getresponse(); d = r.read()
    if r.status >= 300: sys.exit("%s %s: %d %s" % (method, path, r.status, d[:200]))
    return d
for c in convs[::2]:   # read up to the oldest of the newest 50: 49 left unread
    page = json.loads(call("GET", "/api/messages?conversation_id=%s&limit=50" % c))["messages"]
    call("POST", "/api/conversations/%s/read" % c, {"message_id": min(m["id"] for m in page)})
d = call("GET", "/api/conversations")
cs = json.loads(d)["conversations"]
ok = len(cs) == len(convs) and all(c.get("last_message") and c.get("unread_count") for c in cs)
print(len(d), len(cs), sum(c["unread_count"] for c in cs), "ok" if ok else "bad")
EOF2
) || die "inbox read markers failed"
read -r INBOX_BYTES INBOX_N INBOX_UNREAD INBOX_OK <<<"$INBOX_CHECK"
[ "$INBOX_OK" = ok ] || die "GET /api/conversations: $INBOX_CHECK (expected $INBOX_CONVS conversations with last_message and unread_count)"
# nginx beside it: a static file of the inbox answer's bytes (what the bytes alone cost)
curl -sf "http://127.0.0.1:$PORT/api/conversations" -H "Authorization: Bearer $READER_TOKEN" >"$NGX/html/inbox.json" || die "GET /api/conversations failed"
[ "$(curl -sf "http://127.0.0.1:$NGPORT/inbox.json" | wc -c)" = "$(stat -c %s "$NGX/html/inbox.json")" ] || die "nginx does not serve inbox.json"
wrk_run nginx_static_inbox "$NGWORKER" "http://127.0.0.1:$NGPORT/inbox.json"
wrk_run s8_inbox "$A" "http://127.0.0.1:$PORT/api/conversations" -H "Authorization: Bearer $READER_TOKEN"
fi
stop_pid "$NGMASTER"

# 9: presence burst: BURST_USERS users sharing one conversation open a WebSocket each within
# one second while scenario 2 runs (BURST_DUR s, the burst starting 0.5 s in); beside it the
# same wrk run without the burst. wsload registers the users and holds the streams open until
# the server stops (so no offline events come after the grace)
if want 9; then
"${LOAD[@]}" "$TOOLS/wsload" --port "$PORT" --clients "$BURST_USERS" --burst 1 --json >"$TMP/burst.out" 2>"$TMP/burst.err" &
BURSTER=$!
wait_line "$TMP/burst.out" '^wsload ready' "$BURSTER" 6000 || { cat "$TMP/burst.err" >&2; die "wsload --burst did not get ready"; }
DUR_MAIN=$DUR DUR=$BURST_DUR
wrk_run s9_get_no_burst "$A" "http://127.0.0.1:$PORT/api/messages/$MID" -H "Authorization: Bearer $TOKEN"
(sleep 0.5; kill -USR1 "$BURSTER") &
wrk_run s9_get_burst "$A" "http://127.0.0.1:$PORT/api/messages/$MID" -H "Authorization: Bearer $TOKEN"
DUR=$DUR_MAIN
wait_line "$TMP/burst.out" '^{' "$BURSTER" 1500 || { cat "$TMP/burst.out" "$TMP/burst.err" >&2; die "wsload --burst gave no result"; }
BURST=$(tail -1 "$TMP/burst.out")
grep '^wsload burst' "$TMP/burst.out" | sed 's/^/  /'
row s9_burst burst="$BURST"
fi
stop_pid "$A"
if want 9; then
kill -TERM "$BURSTER" 2>/dev/null || true
wait "$BURSTER" 2>/dev/null && BURST_OK=true || BURST_OK=false
fi
if [ -n "$ONLY" ]; then   # BENCH_ONLY: the rows run, each beside scenario 2 of the same run
    echo "  (BENCH_ONLY=\"$ONLY\"; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
    python3 - "$ROWS" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line); rows[r.pop("name")] = r
s2 = rows["s2_get_message"]["rps"]
for k, r in rows.items():
    if r.get("rps"):
        print("  %-22s %8.0f req/s %5.2fx scenario 2  p99 %7.3f ms  CPU %5.2f s, %6.1f us/request" % (
            k, r["rps"], r["rps"] / s2, r["p99_ms"], r["cpu_s"], r["cpu_s"] * 1e6 / (r["rps"] * r["seconds"])))
b = rows.get("s9_burst", {}).get("burst")
if b: print("  burst: %d of %d open in %.2f s, %d presence events, %d duplicates" % (
    b["opened"], b["clients"], b["open_span_s"], b["presence_events"], b["presence_dups"]))
EOF
    exit 0
fi

# ---------------------------------------------------------------------------- chatd B (--fsync always)
start_chatd B always "$DATA"
B=$PID
REPLAY=$(grep -o '[0-9]* records replayed in [0-9]* ms ([^)]*)' "$TMP/B.log" | head -1)
REPLAY_RECS=$(echo "$REPLAY" | awk '{ print $1 }')
REPLAY_MS=$(echo "$REPLAY" | awk '{ print $5 }')
REPLAY_MSGS=$(echo "$REPLAY" | sed -n 's/.* \([0-9]*\) messages).*/\1/p')
RSS_REPLAYED=$(rss_kb "$B")
LOG_BYTES=$(stat -c %s "$DATA/chatd.log")
REC_BYTES=$(( (LOG_BYTES - 8) / REPLAY_RECS ))
row s6_startup replay_ms="$REPLAY_MS" records="$REPLAY_RECS" messages="$REPLAY_MSGS" start_ms="$START_MS" \
    rss_kb="$RSS_REPLAYED" idle_rss_kb="$IDLE_RSS_GLIBC" log_bytes="$LOG_BYTES" \
    bytes_per_msg="$(awk -v a="$RSS_REPLAYED" -v b="$IDLE_RSS_GLIBC" -v n="$REPLAY_MSGS" 'BEGIN { printf "%.1f", (a - b) * 1024 / n }')"
printf '  %-22s %s; process up in %s ms; RSS %s KiB (idle %s KiB)\n' s6_startup "$REPLAY" "$START_MS" "$RSS_REPLAYED" "$IDLE_RSS_GLIBC"

post_run s4_post_always "$B" --seconds "$DUR"
# the disk's ceiling right after, with the records chatd wrote: appends (what chatd does), and
# overwrites of a zero-filled preallocated file (what a preallocating log would get)
"${LOAD[@]}" "$TOOLS/disk_ceiling" "$TMP" "$REC_BYTES" "$CONNS" 2 append >"$TMP/disk.out"
"${LOAD[@]}" "$TOOLS/disk_ceiling" "$TMP" "$REC_BYTES" "$CONNS" 1.5 overwrite >"$TMP/disk-ow.out"
"${LOAD[@]}" "$TOOLS/disk_ceiling" "$TMP" "$REC_BYTES" "$CONNS" 1.5 fallocate >"$TMP/disk-fa.out"
DISK=$(tail -1 "$TMP/disk.out")
DISK_OW=$(tail -1 "$TMP/disk-ow.out")
DISK_FA=$(tail -1 "$TMP/disk-fa.out")
printf '  %-22s %10.0f rec/s  (%s-byte records, %s per fdatasync; sync p50 %s ms; pre-zeroed: %s rec/s, p50 %s ms; fallocated: %s rec/s, p50 %s ms)\n' \
    disk_ceiling "$(jv "$DISK" records_per_s)" "$REC_BYTES" "$CONNS" "$(jv "$DISK" sync_p50_ms)" "$(jv "$DISK_OW" records_per_s)" \
    "$(jv "$DISK_OW" sync_p50_ms)" "$(jv "$DISK_FA" records_per_s)" "$(jv "$DISK_FA" sync_p50_ms)"

measure_begin "$B" s5_fanout
t0=$(date +%s%N)
"${LOAD[@]}" "$TOOLS/wsload" --port "$PORT" --pid "$B" --clients "$WS_CLIENTS" --rate "$WS_RATE" --seconds "$WS_SECS" --max-seconds "$WS_MAX_SECS" \
    --body-size "$BODY" --json >"$TMP/ws.out" 2>"$TMP/ws.err" || { cat "$TMP/ws.out" "$TMP/ws.err" >&2; echo "bench: wsload reported missing deliveries" >&2; }
measure_end "$B"
WS=$(tail -1 "$TMP/ws.out")
case $WS in "{"*) ;; *) cat "$TMP/ws.err" >&2; die "wsload failed";; esac
# shellcheck disable=SC2046
row s5_fanout ws="$WS" seconds="$(( ($(date +%s%N) - t0) / 1000000 ))e-3" $(M_ROW)
sed 's/^/  /' "$TMP/ws.out" | grep -v '^  {'
stop_pid "$B"
FRAME_BYTES=$(jv "$WS" frame_bytes)
[ "$FRAME_BYTES" -ge 24 ] 2>/dev/null || FRAME_BYTES=$((BODY + 200))

# ---------------------------------------------------------------------------- fan-out peers
# ps_run NAME PID PROTO PORT: psload's steady phase against a pub/sub server; one row
ps_run() {
    measure_begin "$2" "$1"
    "${LOAD[@]}" "$TOOLS/psload" --proto "$3" --port "$4" --pid "$2" --clients "$WS_CLIENTS" --rate "$WS_RATE" \
        --seconds "$WS_SECS" --wait 5 --payload-size "$FRAME_BYTES" --json >"$TMP/$1.out" 2>"$TMP/$1.err" \
        || { cat "$TMP/$1.out" "$TMP/$1.err" >&2; echo "bench: psload $3 reported missing deliveries" >&2; }
    measure_end "$2"
    local j; j=$(tail -1 "$TMP/$1.out")
    case $j in "{"*) ;; *) cat "$TMP/$1.err" >&2; die "$1: psload failed";; esac
    # shellcheck disable=SC2046
    row "$1" ps="$j" seconds="$(jv "$j" steady.span_s)" $(M_ROW)
    sed 's/^/  /' "$TMP/$1.out" | grep -v '^  {'
}
RD2=$TMP/redis-ps
mkdir -p "$RD2"
RPORT=$(free_port)
"${SRV[@]}" redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$RD2" --appendonly no --save '' --daemonize no \
    --maxclients 10000 --logfile "$RD2/redis.log" &
RPID=$!
for _ in $(seq 500); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.01; done 2>/dev/null || true
ps_run redis_pubsub "$RPID" resp "$RPORT"
stop_pid "$RPID"
# Mosquitto 2.0 drops QoS 0 messages to a subscriber with more than max_queued_messages (1000)
# waiting: unlimited here, as chatd delivers every event
MQ=$TMP/mosquitto
mkdir -p "$MQ"
MPORT=$(free_port)
{
    [ "$(id -u)" = 0 ] && echo "user $(id -un)"   # else it drops to user mosquitto
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\n' "$MPORT"
    printf 'max_queued_messages 0\nlog_dest file %s\n' "$MQ/mosquitto.log"
} >"$MQ/mosquitto.conf"
"${SRV[@]}" mosquitto -c "$MQ/mosquitto.conf" 2>"$MQ/stderr" &
MPID=$!
for _ in $(seq 500); do (exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null && break; sleep 0.01; done
ps_run mosquitto "$MPID" mqtt "$MPORT"
stop_pid "$MPID"

# ---------------------------------------------------------------------------- chatd C (--fsync never)
start_chatd C never "$DATA"
C=$PID
post_run s4_post_never "$C" --seconds "$DUR"

# scaling: fan-out to 100 / 1,000 / 10,000 subscribers (10,000: the 1,000 users of one
# conversation, the contract's maximum, with 10 WebSockets each) at the same SCALE_DELIVERIES
# deliveries/s offered (messages/s = that / subscribers). O(n) per message, O(1) per delivery
for n in $SCALE_SUBS; do
    users=$(( n < 1000 ? n : 1000 )); per=$(( n / users ))
    measure_begin "$C" "scale_fanout_$n"
    "${LOAD[@]}" "$TOOLS/wsload" --port "$PORT" --pid "$C" --clients "$users" --streams-per-user "$per" \
        --rate "$(awk -v d="$SCALE_DELIVERIES" -v n="$n" 'BEGIN { print d / n }')" --seconds "$SCALE_SECS" --max-seconds 0 \
        --body-size "$BODY" --json >"$TMP/scale_$n.out" 2>"$TMP/scale_$n.err" \
        || { cat "$TMP/scale_$n.err" >&2; echo "bench: wsload ($n subscribers) reported missing deliveries" >&2; }
    measure_end "$C"
    j=$(tail -1 "$TMP/scale_$n.out")
    case $j in "{"*) ;; *) cat "$TMP/scale_$n.err" >&2; die "wsload ($n subscribers) failed";; esac
    # shellcheck disable=SC2046
    row "scale_fanout_$n" ws="$j" subscribers="$n" seconds="$(jv "$j" steady.span_s)" $(M_ROW)
    printf '  %-22s %s\n' "scale_fanout_$n" "$(grep '^wsload steady' "$TMP/scale_$n.out" | cut -d: -f2-)"
done
stop_pid "$C"

# ---------------------------------------------------------------------------- scaling: list, replay
# loggen writes a data dir of n messages of BODY bytes, all in conversation 1 of 2 users, in
# seconds with chatd's own record codec (--no-fsync: the dir is removed unsynced, so its bytes
# never reach the disk); chatd --fsync never starts on it, the log in the page cache. At the
# SCALE_REPLAY sizes: "records replayed in X ms", the CPU and RSS after start-up (O(n)); at the
# SCALE_LIST sizes: scenario 3, the newest page of 50, with wrk (O(1) a page: the tail cache)
T_SCALE=$(date +%s%N)
gen_field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$GEN"; }
for n in $(printf '%s\n' $SCALE_LIST $SCALE_REPLAY | sort -n | uniq); do
    g=$TMP/gen-$n
    "${LOAD[@]}" "$TOOLS/loggen" "$g" --users 2 --messages "$n" --body-size "$BODY" --no-fsync >"$TMP/gen-$n.out" \
        || { cat "$TMP/gen-$n.out" >&2; die "loggen $n failed"; }
    GEN="$(tail -1 "$TMP/gen-$n.out") "
    start_chatd "gen-$n" never "$g"
    if [[ " $SCALE_REPLAY " == *" $n "* ]]; then
        rss=$(rss_kb "$PID") cpu=$(cpu_s "$PID")
        r=$(grep -o '[0-9]* records replayed in [0-9]* ms' "$TMP/gen-$n.log" | head -1)
        read -r recs _ _ _ rms _ <<<"$r"
        row "scale_replay_$n" messages="$n" records="$recs" replay_ms="$rms" cpu_s="$cpu" start_ms="$START_MS" \
            rss_kb="$rss" idle_rss_kb="$IDLE_RSS_GLIBC" log_bytes="$(stat -c %s "$g/chatd.log")" loggen_s="$(gen_field seconds)"
        printf '  %-22s %s; up in %s ms, %s CPU s; RSS %s KiB (loggen: %s s)\n' "scale_replay_$n" "$r" "$START_MS" \
            "$cpu" "$rss" "$(gen_field seconds)"
    fi
    if [[ " $SCALE_LIST " == *" $n "* ]]; then
        gt=$(curl -sf "http://127.0.0.1:$PORT/api/users/login" \
             -d "{\"username\":\"$(gen_field user1)\",\"password\":\"$(gen_field password)\"}" \
             | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
        [ -n "$gt" ] || die "login on loggen's data ($n messages) failed"
        DUR_MAIN=$DUR DUR=$SCALE_LIST_SECS
        wrk_run "scale_list_$n" "$PID" "http://127.0.0.1:$PORT/api/messages?conversation_id=1&limit=50" \
            -H "Authorization: Bearer $gt"
        DUR=$DUR_MAIN
    fi
    stop_pid "$PID"
    rm -rf "$g"
done
T_SCALE=$(( ($(date +%s%N) - T_SCALE) / 1000000000 ))
echo "  scaling rows (list, replay): $T_SCALE s with loggen's data"

# ---------------------------------------------------------------------------- idle RSS, size
STATIC_SIZE=null IDLE_RSS_STATIC=null
if [ -x "$CHATD_STATIC" ]; then
    start_chatd static never "$TMP/static-data" "$CHATD_STATIC"
    sleep 0.2
    IDLE_RSS_STATIC=$(rss_kb "$PID")
    stop_pid "$PID"
    STATIC_SIZE=$(stat -c %s "$CHATD_STATIC")
fi

. scripts/bench_search.sh   # people search at 10k and 1M users: rows search_*
T_TOTAL=$(( $(date +%s) - T_START ))
mkdir -p "$(dirname "$OUT")"
q() { printf '"%s"' "$1"; }
row meta time="$(q "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" cpus="$(nproc)" pinned="$(q "$PINNED")" seconds_per_run="$DUR" \
    connections="$CONNS" messages="$NMSG" idle_connections="$IDLE" ws_clients="$WS_CLIENTS" ws_rate="$WS_RATE" \
    body_bytes="$BODY" record_bytes="$REC_BYTES" page_bytes="$PAGE_BYTES" frame_bytes="$FRAME_BYTES" quick="$QUICK" \
    loadavg_start="$(q "$LOADAVG0")" \
    loadavg_end="$(q "$(cut -d' ' -f1-3 /proc/loadavg)")" total_seconds="$T_TOTAL" chatd="$(q "$CHATD")" \
    source="$(q "$SOURCE")" \
    static_binary_bytes="$STATIC_SIZE" idle_rss_kb="{\"chatd\":$IDLE_RSS_GLIBC,\"chatd-static\":$IDLE_RSS_STATIC}" \
    fill="$FILL" disk_ceiling="$DISK" disk_ceiling_overwrite="$DISK_OW" disk_ceiling_fallocate="$DISK_FA" replay="$(q "$REPLAY")" \
    rss_kb_idle_conns="{\"before\":$RSS_BEFORE_IDLE,\"with_idle\":$RSS_IDLE_CONNS,\"idle_conns_survived\":$HOLD_OK}" \
    rss_kb_after_scenarios_A="$RSS_A_END" \
    inbox="{\"conversations\":$INBOX_N,\"messages_each\":$INBOX_MSGS,\"response_bytes\":$INBOX_BYTES,\"unread_total\":$INBOX_UNREAD}" \
    burst_streams_held="$BURST_OK" scale_deliveries="$SCALE_DELIVERIES" scale_list_replay_s="$T_SCALE"
python3 - "$ROWS" "$OUT" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line); rows[r.pop("name")] = r
meta = rows.pop("meta")
ng, rd, disk = rows["nginx"], rows["redis"], meta["disk_ceiling"]
ws = rows["s5_fanout"]["ws"]
st, mx = ws.get("steady", {}), ws.get("max", {})
s6 = rows["s6_startup"]
def ratio(a, b): return round(a / b, 3) if a is not None and b else None
table = []   # name, rps, p50, p99, rss, cpu, vs
def add(label, r, vs=""):
    table.append((label, r.get("rps"), r.get("p50_ms"), r.get("p99_ms"), r.get("rss_kb"), r.get("cpu_s"), vs, r.get("other_cpu_s")))
add("nginx GET (ceiling)", ng)
add("1 chatd GET /healthz", rows["s1_healthz"], "%.2fx nginx" % ratio(rows["s1_healthz"]["rps"], ng["rps"]))
add("2 GET /api/messages/:id", rows["s2_get_message"], "%.2fx nginx" % ratio(rows["s2_get_message"]["rps"], ng["rps"]))
ngp = rows["nginx_static_page"]
add("nginx static file, page's %d B" % meta["page_bytes"], ngp)
add("3 GET list limit=50", rows["s3_list_50"], "%.2fx nginx same-size file" % ratio(rows["s3_list_50"]["rps"], ngp["rps"]))
add("redis SET appendfsync always", rd)
add("4 POST --fsync always", rows["s4_post_always"], "%.2fx redis, %.2fx disk" % (ratio(rows["s4_post_always"]["rps"], rd["rps"]),
    ratio(rows["s4_post_always"]["rps"], disk["records_per_s"])))
add("4 POST --fsync never", rows["s4_post_never"], "%.2fx redis" % ratio(rows["s4_post_never"]["rps"], rd["rps"]))
f5 = rows["s5_fanout"]
table.append(("5 fan-out %d subs @%g/s" % (meta["ws_clients"], meta["ws_rate"]), st.get("deliveries_per_s"), st.get("p50_ms"), st.get("p99_ms"), f5["rss_kb"], st.get("server_cpu_s"), "deliveries/s (other CPU s: whole fan-out run)", f5.get("other_cpu_s")))
def per_cpu(d): return round(d["deliveries"] / d["server_cpu_s"]) if d.get("server_cpu_s") and d.get("deliveries") else None
chatd_pc = per_cpu(st)
peers = {}
for key, label in (("redis_pubsub", "Redis pub/sub"), ("mosquitto", "Mosquitto QoS 0")):
    pr = rows[key]; ps = pr["ps"]["steady"]; peers[key] = ps
    table.append(("5 %s %d subs @%g/s" % (label, meta["ws_clients"], meta["ws_rate"]), ps.get("deliveries_per_s"), ps.get("p50_ms"), ps.get("p99_ms"), pr["rss_kb"], ps.get("server_cpu_s"),
                  "%s deliveries/server CPU-s (chatd %s)" % (per_cpu(ps), chatd_pc), pr.get("other_cpu_s")))
table.append(("5 fan-out max (closed loop)", mx.get("deliveries_per_s"), mx.get("p50_ms"), mx.get("p99_ms"), None, mx.get("server_cpu_s"), "deliveries/s; server %s us/delivery (steady %s)" % (mx.get("server_us_per_delivery"), st.get("server_us_per_delivery")), None))
add("7 GET :id + %d idle conns" % meta["idle_connections"], rows["s7_get_with_idle"], "%.2fx scenario 2" % ratio(rows["s7_get_with_idle"]["rps"], rows["s2_get_message"]["rps"]))
ib, s2 = meta["inbox"], rows["s2_get_message"]
add("nginx static file, inbox's %d B" % ib["response_bytes"], rows["nginx_static_inbox"])
add("8 GET /api/conversations (%d)" % ib["conversations"], rows["s8_inbox"], "%.2fx scenario 2, %.2fx nginx same-size file" % (ratio(rows["s8_inbox"]["rps"], s2["rps"]), ratio(rows["s8_inbox"]["rps"], rows["nginx_static_inbox"]["rps"])))
bu = rows["s9_burst"]["burst"]
add("9 GET :id, no burst", rows["s9_get_no_burst"], "")
add("9 GET :id + presence burst", rows["s9_get_burst"], "p99 %.2fx no burst; %d streams open in %.2f s, %d presence events" % (
    ratio(rows["s9_get_burst"]["p99_ms"], rows["s9_get_no_burst"]["p99_ms"]), bu["opened"], bu["open_span_s"], bu["presence_events"]))
def f(v, fmt): return "-" if v is None else fmt % v
print()
print("%-34s %11s %9s %9s %9s %7s %7s  %s" % ("scenario", "req/s", "p50 ms", "p99 ms", "RSS KiB", "CPU s", "other s", "ratio"))
for t in table:
    print("%-34s %11s %9s %9s %9s %7s %7s  %s" % (t[0], f(t[1], "%.0f"), f(t[2], "%.3f"), f(t[3], "%.3f"), f(t[4], "%d"), f(t[5], "%.2f"), f(t[7], "%.2f"), t[6]))
dow, dfa = meta["disk_ceiling_overwrite"], meta["disk_ceiling_fallocate"]
print("%-34s %s" % ("disk ceiling (%d-byte records, %d/sync)" % (disk["record_bytes"], disk["batch"]), "appending %.0f records/s (fdatasync p50 %.3f ms p99 %.3f ms); pre-zeroed %.0f records/s (p50 %.3f ms); fallocated %.0f records/s (p50 %.3f ms)" % (disk["records_per_s"], disk["sync_p50_ms"], disk["sync_p99_ms"], dow["records_per_s"], dow["sync_p50_ms"], dfa["records_per_s"], dfa["sync_p50_ms"])))
print("%-34s %s" % ("6 start-up replay", "%s ms for %s records (%s messages), process ready in %s ms; RSS %s KiB = %s bytes/message over idle" % (s6["replay_ms"], s6["records"], s6["messages"], s6["start_ms"], s6["rss_kb"], s6["bytes_per_msg"])))
print("%-34s %s" % ("idle RSS", "chatd %s KiB, chatd-static %s KiB; chatd-static %s bytes" % (meta["idle_rss_kb"]["chatd"], meta["idle_rss_kb"]["chatd-static"], meta["static_binary_bytes"])))
print("%-34s %s" % ("fill (%d POSTs, --fsync never)" % meta["messages"], "%.0f/s" % meta["fill"]["rps"]))
print("%-34s %s" % ("%d idle connections" % meta["idle_connections"], "RSS %s -> %s KiB (%.0f bytes/connection)" % (meta["rss_kb_idle_conns"]["before"], meta["rss_kb_idle_conns"]["with_idle"], (meta["rss_kb_idle_conns"]["with_idle"] - meta["rss_kb_idle_conns"]["before"]) * 1024.0 / max(1, meta["idle_connections"]))))
print("%-34s %s" % ("CPU busy % CPU0/CPU1, other CPU s", "; ".join("%s %s/%s %s" % (k, r.get("busy_srv"), r.get("busy_load"), r.get("other_cpu_s")) for k, r in rows.items() if "busy_srv" in r)))
noisy = ["%s (%.1f of %.1f s)" % (k, r["other_cpu_s"], r.get("seconds") or 0) for k, r in rows.items()
         if r.get("other_cpu_s") is not None and r.get("seconds") and r["other_cpu_s"] > 0.15 * r["seconds"]]
if noisy:
    print("warning: other work took CPU during: " + ", ".join(noisy) + " -- those figures are low")
ic = meta["rss_kb_idle_conns"]
idle_conn_b = (ic["with_idle"] - ic["before"]) * 1024.0 / max(1, meta["idle_connections"])
targets = [
    ("1 healthz >= nginx req/s", rows["s1_healthz"]["rps"] >= ng["rps"], "%.2fx" % ratio(rows["s1_healthz"]["rps"], ng["rps"])),
    ("3 list of 50 >= 0.8x nginx same-size file", rows["s3_list_50"]["rps"] >= 0.8 * ngp["rps"], "%.2fx (%d-byte page)" % (ratio(rows["s3_list_50"]["rps"], ngp["rps"]), meta["page_bytes"])),
    ("2 GET :id >= nginx req/s", rows["s2_get_message"]["rps"] >= ng["rps"], "%.2fx" % ratio(rows["s2_get_message"]["rps"], ng["rps"])),
    ("4 POST always >= 1.3x redis SET always", rows["s4_post_always"]["rps"] >= 1.3 * rd["rps"], "%.2fx (disk ceiling %.2fx)" % (ratio(rows["s4_post_always"]["rps"], rd["rps"]), ratio(rows["s4_post_always"]["rps"], disk["records_per_s"]))),
    ("5 fan-out p99 < 10 ms", st.get("p99_ms") is not None and st["p99_ms"] < 10, "p99 %s ms at %s/s" % (st.get("p99_ms"), meta["ws_rate"])),
    ("5 fan-out >= 200k deliveries/s", max(st.get("deliveries_per_s") or 0, mx.get("deliveries_per_s") or 0) >= 200000, "steady %s, max %s" % (st.get("deliveries_per_s"), mx.get("deliveries_per_s"))),
    ("5 fan-out p99 <= best peer's", st.get("p99_ms") is not None and all(st["p99_ms"] <= p["p99_ms"] for p in peers.values()), "chatd %s ms; %s" % (st.get("p99_ms"), ", ".join("%s %s ms" % (k, p["p99_ms"]) for k, p in peers.items()))),
    ("5 deliveries/CPU-s >= best peer's", chatd_pc is not None and all(chatd_pc >= (per_cpu(p) or 0) for p in peers.values()), "chatd %s; %s" % (chatd_pc, ", ".join("%s %s" % (k, per_cpu(p)) for k, p in peers.items()))),
    ("5 every delivery exactly once", bool(ws.get("ok")), "duplicates %s, post errors %s" % (ws.get("duplicates"), ws.get("post_errors"))),
    ("6 replay of 1M messages < 1 s", s6["messages"] >= 1000000 and s6["replay_ms"] < 1000, "%s ms for %s messages" % (s6["replay_ms"], s6["messages"])),
    ("6 index < 64 bytes/message", s6["bytes_per_msg"] < 64, "%s bytes/message" % s6["bytes_per_msg"]),
    ("7 with idle conns >= 0.9x scenario 2", rows["s7_get_with_idle"]["rps"] >= 0.9 * rows["s2_get_message"]["rps"] and meta["rss_kb_idle_conns"]["idle_conns_survived"], "%.2fx with %d idle connections" % (ratio(rows["s7_get_with_idle"]["rps"], rows["s2_get_message"]["rps"]), meta["idle_connections"])),
    ("7 idle connection < 4 KB (RSS, chatd)", idle_conn_b < 4096, "%.0f bytes each" % idle_conn_b),
    ("8 inbox (200 convs) >= 0.5x scenario 2", rows["s8_inbox"]["rps"] >= 0.5 * s2["rps"], "%.2fx (%d bytes an answer; %.2fx nginx serving those bytes)" % (ratio(rows["s8_inbox"]["rps"], s2["rps"]), ib["response_bytes"], ratio(rows["s8_inbox"]["rps"], rows["nginx_static_inbox"]["rps"]))),
    ("9 scenario 2 p99 < 10 ms in the burst", rows["s9_get_burst"]["p99_ms"] < 10 and bu["opened"] == bu["clients"] and not bu["presence_dups"],
     "p99 %.2f ms (%.2f ms without; %d of %d streams open in %.2f s, handshake p99 %.1f ms)" % (rows["s9_get_burst"]["p99_ms"], rows["s9_get_no_burst"]["p99_ms"], bu["opened"], bu["clients"], bu["open_span_s"], bu["handshake_p99_ms"])),
    ("idle RSS < 2 MB (chatd-static)", meta["idle_rss_kb"]["chatd-static"] is not None and meta["idle_rss_kb"]["chatd-static"] < 2048, "%s KiB (glibc chatd %s KiB)" % (meta["idle_rss_kb"]["chatd-static"], meta["idle_rss_kb"]["chatd"])),
    ("static binary < 300 KB", meta["static_binary_bytes"] is not None and meta["static_binary_bytes"] < 300000, "%s bytes" % meta["static_binary_bytes"]),
]
# how cost grows: each row's figure at its sizes, the stated complexity, and the measured
# growth (largest size's figure / smallest's) beside the growth the complexity allows;
# "FASTER" when it exceeds twice that (a bug by issue 14's rule)
import math
def growth_row(label, cplx, sizes, vals, unit):
    if not vals or any(v is None for v in vals): return
    n0, n1, v0, v1 = sizes[0], sizes[-1], vals[0], vals[-1]
    allowed = {"O(1)": 1.0, "O(log n)": math.log(n1) / math.log(n0), "O(n)": n1 / n0}[cplx]
    g = v1 / v0 if v0 else float("inf")
    scaling.append(dict(row=label, complexity=cplx, sizes=sizes, values=vals, unit=unit, growth=round(g, 2), allowed=round(allowed, 2), faster=g > 2 * allowed))
    print("  %-40s %-9s %-26s %7.2fx (%s allows %.1fx)%s" % (label, cplx, " / ".join(("%.3g" % v) for v in vals) + " " + unit, g, cplx, allowed, "  FASTER" if g > 2 * allowed else ""))
def size_name(n): return "%dM" % (n // 1000000) if n >= 1000000 and n % 1000000 == 0 else "%dk" % (n // 1000) if n >= 1000 and n % 1000 == 0 else str(n)
scaling = []
print()
print("How cost grows (figure at each size; growth = largest size's / smallest's):")
se = sorted((r["users"], r, rows.get("search_c1_%d" % r["users"]), rows.get("search_cN_%d" % r["users"]))
            for k, r in rows.items() if k.startswith("search_start_"))   # scripts/bench_search.sh
if se and all(c and c.get("rps") for _, _, c, _ in se):
    sz, (n0, s0, _, _), (n1, s1, c1, cn1) = [n for n, *_ in se], se[0], se[-1]
    print("  people search (GET /api/users?q=PREFIX&limit=20) at %s users:" % " / ".join(size_name(n) for n in sz))
    growth_row("  server CPU per search", "O(log n)", sz, [c["cpu_s"] * 1e6 / (c["rps"] * c["seconds"]) for _, _, c, _ in se], "us")
    growth_row("  p99, 1 connection", "O(log n)", sz, [c["p99_ms"] for _, _, c, _ in se], "ms")
    print("  %-40s %.0f B of RSS per user (%s users: %s KiB, %s: %s KiB); replay %s ms + first lookup (sort) %s ms" % (
        "", (s1["rss_kb"] - s0["rss_kb"]) * 1024.0 / (n1 - n0), size_name(n0), s0["rss_kb"], size_name(n1), s1["rss_kb"],
        s1["replay_ms"], s1["first_lookup_ms"]))
    targets.append(("people search p99 < 1 ms at %s users" % size_name(n1), c1["p99_ms"] < 1, "p99 %.3f ms (1 connection%s), %.0f req/s at %d" % (
        c1["p99_ms"], ", BENCH_RT=1" if s1.get("rt") else "", cn1["rps"] if cn1 else 0, meta["connections"])))
fo = sorted((r["subscribers"], r["ws"]["steady"]) for k, r in rows.items() if k.startswith("scale_fanout_"))
if fo:
    sz = [n for n, _ in fo]
    print("  fan-out to %s subscribers, %s deliveries/s offered:" % (" / ".join(size_name(n) for n in sz), meta.get("scale_deliveries")))
    growth_row("  server CPU per delivery", "O(1)", sz, [st.get("server_us_per_delivery") for _, st in fo], "us")
    growth_row("  POST to the last subscriber, p50", "O(n)", sz, [st.get("complete_p50_ms") for _, st in fo], "ms")
    growth_row("  delivery p99", "O(n)", sz, [st.get("p99_ms") for _, st in fo], "ms")
def sized(prefix): return sorted((int(k[len(prefix):]), r) for k, r in rows.items() if k.startswith(prefix))
li = sized("scale_list_")
if li:
    sz = [n for n, _ in li]
    print("  GET the newest 50 of a conversation of %s messages (wrk, %d connections): %s req/s" % (
        " / ".join(size_name(n) for n in sz), meta["connections"], " / ".join("%.0f" % r["rps"] for _, r in li)))
    growth_row("  server CPU per request", "O(1)", sz, [r["cpu_s"] * 1e6 / (r["rps"] * r["seconds"]) if r.get("rps") else None for _, r in li], "us")
    growth_row("  p50", "O(1)", sz, [r["p50_ms"] for _, r in li], "ms")
    growth_row("  p99", "O(1)", sz, [r["p99_ms"] for _, r in li], "ms")
rp = sized("scale_replay_")
if rp:
    sz = [n for n, _ in rp]
    print("  start-up on a log of %s messages (loggen, page cache warm):" % " / ".join(size_name(n) for n in sz))
    growth_row("  start-up CPU", "O(n)", sz, [r["cpu_s"] for _, r in rp], "s")
    growth_row("  start-up CPU per message", "O(1)", sz, [r["cpu_s"] * 1e9 / n for n, r in rp], "ns")
    growth_row("  replay time (wall: waits for CPU 0)", "O(n)", sz, [r["replay_ms"] for _, r in rp], "ms")
    growth_row("  RSS after start-up, over idle", "O(n)", sz, [r["rss_kb"] - r["idle_rss_kb"] for _, r in rp], "KiB")
    growth_row("  RSS per message", "O(1)", sz, [(r["rss_kb"] - r["idle_rss_kb"]) * 1024.0 / n for n, r in rp], "B")
print()
for name, ok, detail in targets:
    print("  %-4s %-40s %s" % ("MET" if ok else "MISS", name, detail))
bad = [r for r in rows.values() if r.get("non2xx") or r.get("errors")]
if bad: print("  warning: some runs had non-2xx answers or socket errors (see build/bench.json)")
print("\nbench: %d s in all; JSON in %s" % (meta["total_seconds"], sys.argv[2]))
json.dump(dict(meta=meta, scenarios=rows, table=[dict(zip(("scenario", "rps", "p50_ms", "p99_ms", "rss_kb", "cpu_s", "ratio", "other_cpu_s"), t)) for t in table],
               targets=[dict(target=n, met=bool(o), detail=d) for n, o, d in targets], scaling=scaling), open(sys.argv[2], "w"), indent=1)
EOF
