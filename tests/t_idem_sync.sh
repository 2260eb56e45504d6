#!/usr/bin/env bash
# An answer never goes out before the fdatasync of a record it reveals (API.md: an acknowledged
# write is on disk, also after a power cut). chatd runs --fsync always with a preload built here
# whose fdatasync fails with EIO once the flag file exists: the server must then exit (loop.c
# commit_turn) with no client having seen anything of the write that failed to sync.
#  1. an Idempotency-Key retry arriving in the original's loop turn (the server is stopped while
#     both requests arrive on two connections): no 2xx to either;
#  2. the same for a direct conversation asked for twice in one turn;
#  3. a logout read behind a large answer (pipelined, so it runs in the sweep after the turn's
#     commit): the token's WebSocket stream must not get its "token revoked" close before the
#     logout's fdatasync (it did: close frames went out in the same sweep).
# Needs a dynamically linked chatd and a C compiler.
. "$(dirname "$0")/lib.sh"

if ! ldd "$CHATD" >/dev/null 2>&1; then
    echo "SKIP: $CHATD is not dynamically linked (LD_PRELOAD needs the dynamic build)"
    exit 0
fi
# the preload, built once and kept in build/ (again when this file, which holds its source, is
# newer): both suites of make test use it, and every later run
CCN=${CC:-cc}
SO=$(cd "$(dirname "$0")/.." && pwd)/build/idem_sync/failsync-${CCN//[^A-Za-z0-9_.-]/_}.so
if [[ ! -f $SO || $0 -nt $SO ]]; then
    mkdir -p "${SO%/*}"
    cat >"$TMP_ROOT/failsync.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
int fdatasync(int fd)   /* fails with EIO while the file named by FAILSYNC_FLAG exists */
{
    static int (*real)(int);
    const char *f = getenv("FAILSYNC_FLAG");
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (f && access(f, F_OK) == 0) { errno = EIO; return -1; }
    return real(fd);
}
C
    if ! $CCN -shared -fPIC -O2 -Wall -Wextra -Werror -o "$SO.$$" "$TMP_ROOT/failsync.c" -ldl; then
        fail "building the fdatasync preload"
        exit 1
    fi
    mv "$SO.$$" "$SO"   # whole or not at all: the other suite may be reading it
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
FLAG=$TMP_ROOT/failsync.flag
SERVER_WRAP=(env LD_PRELOAD="$SO" FAILSYNC_FLAG="$FLAG")

CLIENT=$TMP_ROOT/client.py
cat >"$CLIENT" <<'PY'
import base64, json, os, signal, socket, sys, time
port, mode, flag, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])

def http(method, path, body, tok, extra=""):
    b = json.dumps(body).encode() if body is not None else b""
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(b)}\r\n{extra}\r\n").encode() + b

def connect():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    return s

def drain(s):   # everything until EOF (the server exits) or the timeout
    d = b""
    try:
        while True:
            x = s.recv(65536)
            if not x: break
            d += x
    except OSError:
        pass
    return d

def statuses(d):   # status codes of the HTTP responses in d
    return [int(l.split()[1]) for l in d.decode("latin1").split("\r\n") if l.startswith("HTTP/1.1 ")]

out = {}
if mode in ("idem", "direct"):   # argv[5:]: token, then the conversation or the other user's id
    tok, arg = sys.argv[5], int(sys.argv[6])
    if mode == "idem":
        req = http("POST", "/api/messages", {"conversation_id": arg, "body": "once"}, tok,
                   "Idempotency-Key: same-turn\r\n")
    else:
        req = http("POST", "/api/conversations", {"direct": True, "member_ids": [arg]}, tok)
    os.kill(pid, signal.SIGSTOP)   # both arrive while it cannot read: one poll() returns both
    a, b = connect(), connect()
    time.sleep(0.1)   # the handshakes complete in the kernel's backlog
    a.sendall(req)
    b.sendall(req)
    time.sleep(0.1)
    open(flag, "w").close()
    os.kill(pid, signal.SIGCONT)
    out["a"], out["b"] = statuses(drain(a)), statuses(drain(b))
else:   # revoke: argv[5:]: the token to log out, a conversation with large messages
    tok, conv = sys.argv[5], int(sys.argv[6])
    y = connect()
    key = base64.b64encode(os.urandom(16)).decode()
    y.sendall((f"GET /api/ws?token={tok} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += y.recv(4096)
    out["ws"] = statuses(head)
    frames = head.split(b"\r\n\r\n", 1)[1]
    open(flag, "w").close()
    x = connect()   # the large answer first: the logout waits in the input until it drained
    x.sendall(http("GET", f"/api/messages?conversation_id={conv}&limit=20", None, tok) +
              http("POST", "/api/users/logout", None, tok))
    frames += drain(y)
    close = None   # the server's close frame (unmasked): op 8, a 2-byte length, the code
    while len(frames) >= 2:
        op, n = frames[0] & 15, frames[1] & 127
        if op == 8 and n >= 2: close = int.from_bytes(frames[2:4], "big")
        frames = frames[2 + n:]
    out["close"], out["x"] = close, statuses(drain(x))
print(json.dumps(out))
PY

# run_case NAME MODE ARGS...: the server (started by the caller) must die on the failed sync
run_case() {
    local name=$1 mode=$2 pid=$SERVER_PID rc
    shift 2
    OUT=$("$CWPY" "$CLIENT" "$PORT" "$mode" "$FLAG" "$pid" "$@" 2>&1)
    _wait_exit "$pid" 10
    wait "$pid" 2>/dev/null
    rc=$?
    SERVER_PID= LAST_REQ= STATUS=
    rm -f "$FLAG"
    expect_eq "$name: the server exits when its fdatasync fails ($(tail -n 2 "$SERVER_LOG"))" 1 "$rc"
    expect_true "$name: it says why" grep -q 'fdatasync .*exiting' "$SERVER_LOG"
}

# ---- 1. an Idempotency-Key retry in the original's turn
start_server --fsync always
new_user A alice
new_conv "$A_TOK" "t" "[]"
run_case "idempotency retry" idem "$A_TOK" "$CONV_ID"
expect_eq "idempotency retry: no answer before the sync: $OUT" '[] []' "$(jq -r '"\(.a) \(.b)"' <<<"$OUT")"

# ---- 2. a direct conversation asked for twice in one turn
start_server --fsync always
new_user A alice
new_user B bob
run_case "direct pair" direct "$A_TOK" "$B_ID"
expect_eq "direct pair: no answer before the sync: $OUT" '[] []' "$(jq -r '"\(.a) \(.b)"' <<<"$OUT")"

# ---- 3. a logout run in the sweep: its stream's close waits for the sync
start_server --fsync always
new_user A alice
new_conv "$A_TOK" "big" "[]"
BIG=$(rep x 16000)
for i in {1..20}; do post_msg "$A_TOK" "$CONV_ID" "$BIG"; done
run_case "logout" revoke "$A_TOK" "$CONV_ID"
ws= x= close=
{ read -r ws; read -r x; read -r close; } < <(jq -c '.ws, .x, .close' <<<"$OUT" 2>&1)   # one jq for the three
expect_eq "logout: the stream opened: $OUT" '[101]' "$ws"
expect_eq "logout: the large answer came (a read), the logout's 204 did not" '[200]' "$x"
expect_eq "logout: no 'token revoked' close before the sync" null "$close"
