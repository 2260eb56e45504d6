#!/usr/bin/env bash
# scripts/rss.sh — chatd's memory: resident set (VmRSS) idle after start-up, with N stored
# messages (live), and after a restart that replays them; then per idle connection: C keep-alive
# connections that each made one GET /healthz, measured 2.5 s later (an idle connection gives
# its buffers back after 1 s). Needs python3.
#   scripts/rss.sh [BINARY] [N] [BODY_BYTES] [C]      defaults: ./chatd-static 100000 100 2000
set -euo pipefail
bin=${1:-./chatd-static} n=${2:-100000} size=${3:-100} conns=${4:-2000}
[ -x "$bin" ] || { echo "rss.sh: $bin is not executable (make static?)" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/chatd-rss.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

start() {   # LOGNAME -> pid, port
    "$bin" --bind 127.0.0.1 --port 0 --data-dir "$dir/data" --fsync never --pbkdf2-iters 1000 \
        --max-conns 20000 --max-conns-per-ip 0 --max-streams-per-user 0 --write-rate 0 --register-rate 0 \
        2>"$dir/$1.log" &
    pid=$!
    for _ in $(seq 500); do
        port=$(sed -nE 's/.*listening on [^ ]*:([0-9]+).*/\1/p' "$dir/$1.log")
        [ -n "$port" ] && { sleep 0.2; return 0; }
        sleep 0.02
    done
    echo "rss.sh: chatd did not start:" >&2; cat "$dir/$1.log" >&2; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }
mem() {   # LABEL: VmRSS and VmHWM of the server, in KiB
    awk -v l="$1" '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 }
        END { printf "%-28s VmRSS %7d KiB  (peak VmHWM %7d KiB)\n", l, r, h }' "/proc/$pid/status"
}

echo "chatd: $bin ($(stat -c %s "$bin") bytes); $n messages of $size bytes"
start first
mem "idle after start-up"
python3 - "$port" "$n" "$size" <<'EOF'
import http.client, json, sys, time
port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body, tok=None):
    h = {"Content-Type": "application/json"}
    if tok: h["Authorization"] = "Bearer " + tok
    c.request(method, path, json.dumps(body), h)
    r = c.getresponse(); data = r.read()
    if r.status not in (200, 201): sys.exit("%s %s: %d %s" % (method, path, r.status, data[:200]))
    return json.loads(data)
tok = call("POST", "/api/users/register", {"username": "rss", "password": "password123"})["token"]
peer = call("POST", "/api/users/register", {"username": "peer", "password": "password123"})["user"]["id"]
cid = call("POST", "/api/conversations", {"title": "rss", "member_ids": [peer]}, tok)["conversation"]["id"]
t0 = time.time()
pad = "x" * size
for i in range(n):
    call("POST", "/api/messages", {"conversation_id": cid, "body": ("%d " % i + pad)[:size]}, tok)
dt = time.time() - t0
print("posted %d messages in %.1f s (%.0f/s, one keep-alive connection)" % (n, dt, n / dt))
EOF
mem "live, $n messages"
echo "log file: $(stat -c %s "$dir/data/chatd.log") bytes"
stop
start second
mem "after restart (replayed)"
grep -o 'records replayed in [0-9]* ms' "$dir/second.log" | sed 's/^/restart: /'
before=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
python3 - "$port" "$conns" "$pid" "$before" <<'EOF'
import resource, socket, sys, time
port, n, pid, before = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while not got.rstrip().endswith(b"}"): got += s.recv(4096)
    socks.append(s)
time.sleep(2.5)
rss = int([l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0])
print("%-28s VmRSS %7d KiB  (+%d KiB: %.0f bytes per idle connection)"
      % ("%d idle connections" % n, rss, rss - before, (rss - before) * 1024.0 / n))
EOF
stop
