#!/usr/bin/env bash
# Start-up: every flag is checked before anything touches the disk; a usage error exits 2 and a
# run-time failure 1, each with a message that names the flag or path and what was wrong; the
# data directory is created with its parents; every application/json body ends with a newline.
. "$(dirname "$0")/lib.sh"

# run_chatd ARGS...: run chatd in $TMP_ROOT/cwd (a fresh, empty directory each time: made anew
# when the last run left something in it) with a 10 s limit; sets RC, ERR (stderr) and LEFT (what
# it left in the directory). Read by bash, without a process, unless something was left.
run_chatd() {
    local e
    if [ -n "${LEFT-unset}" ]; then rm -rf "$TMP_ROOT/cwd"; mkdir "$TMP_ROOT/cwd"; fi
    LAST_REQ="chatd $*"
    cd "$TMP_ROOT/cwd" || exit 1
    timeout 10 "$CHATD" "$@" >/dev/null 2>"$TMP_ROOT/err"
    RC=$?
    cd "$OLDPWD" || exit 1
    ERR=$(<"$TMP_ROOT/err")
    shopt -s nullglob dotglob
    e=("$TMP_ROOT/cwd"/*)
    shopt -u nullglob dotglob
    LEFT=
    ((${#e[@]} == 0)) || LEFT=$(cd "$TMP_ROOT/cwd" && find . -mindepth 1 | sort | tr '\n' ' ')
}

# usage_error WHAT ERE ARGS...: exit 2, one message matching ERE, nothing created on disk
usage_error() {
    local what=$1 re=$2
    shift 2
    run_chatd --bind 127.0.0.1 --port 0 --data-dir d "$@"
    expect_eq "$what: exit status (usage error)" 2 "$RC"
    expect_match "$what: the message names the flag and what was wrong" "$re" "$ERR"
    expect_eq "$what: nothing created" "" "$LEFT"
}

# --- usage errors: exit 2, specific messages, no data dir --------------------------------------
usage_error "--fsync sometimes" "--fsync: expected always or never, got 'sometimes'" --fsync sometimes
usage_error "a bad --bind" "--bind: 'nope' is not an IPv4 or IPv6 address" --bind nope
usage_error "an out-of-range --bind" "--bind: '300.1.1.1' is not an IPv4" --bind 300.1.1.1
cors=()
for i in 1 2 3 4 5 6 7 8 9; do cors+=(--cors-origin "http://o$i.example"); done
usage_error "a ninth --cors-origin" "--cors-origin: at most 8 origins; 'http://o9.example' is one too many" "${cors[@]}"
run_chatd --bind 127.0.0.1 --port 0 --data-dir d "${cors[@]:0:16}" --fsync sometimes
expect_match "eight --cors-origin are fine (the --fsync after them is what is refused)" "^chatd: --fsync" "$ERR"
usage_error "--port 70000" "--port: expected an integer in 0\.\.65535, got '70000'" --port 70000
usage_error "--port abc" "--port: expected an integer in 0\.\.65535, got 'abc'" --port abc
usage_error "--port without its value" "--port: missing value" --port
usage_error "an unknown flag" "unknown option '--no-such-flag'" --no-such-flag 1
usage_error "an unknown flag last" "unknown option '--no-such-flag'" --no-such-flag
usage_error "a stray argument" "unknown option 'stray'" stray
usage_error "an empty --data-dir" "--data-dir: empty path" --data-dir ""
usage_error "--tls-cert alone" "--tls-cert and --tls-key go together" --tls-cert c.pem
usage_error "--check with other flags" "--check DIR: an offline mode" --check d
usage_error "--pbkdf2-iters too small" "--pbkdf2-iters: expected an integer in 1000\.\." --pbkdf2-iters 10
# every flag --help shows with a number placeholder refuses a word (flags added later included)
NUMFLAGS=$("$CHATD" --help | grep -oE -- '--[a-z0-9-]+ (N|S|P|MS|B|BYTES)\b' | cut -d' ' -f1 | sort -u)
expect_true "--help lists numeric flags ($(wc -w <<<"$NUMFLAGS"))" test "$(wc -w <<<"$NUMFLAGS")" -ge 10
for f in $NUMFLAGS; do
    usage_error "$f x" "$f: .*'x'" "$f" x
done

# --- run-time failures: exit 1, the path or address named, nothing left behind ---------------
start_server
BUSY=$PORT
run_chatd --bind 127.0.0.1 --port "$BUSY" --data-dir d
expect_eq "port in use: exit status (run-time failure)" 1 "$RC"
expect_match "port in use: the message names the address and the reason" \
    "--bind 127\.0\.0\.1 --port $BUSY: cannot listen: Address already in use" "$ERR"
expect_eq "port in use: no data directory or log left behind" "" "$LEFT"
stop_server

run_chatd --bind 127.0.0.1 --port 0 --data-dir /proc/self/no/such/dir
expect_eq "an uncreatable --data-dir: exit status" 1 "$RC"
expect_match "an uncreatable --data-dir: the message names it" "--data-dir /proc/self/no/such/dir: " "$ERR"
: >"$TMP_ROOT/afile"
run_chatd --bind 127.0.0.1 --port 0 --data-dir "$TMP_ROOT/afile"
expect_eq "--data-dir naming a file: exit status" 1 "$RC"
expect_match "--data-dir naming a file: the message names the path" "$TMP_ROOT/afile" "$ERR"
run_chatd --check "$TMP_ROOT/no-such-dir"
expect_eq "--check of a missing directory: exit status" 1 "$RC"
expect_match "--check of a missing directory: the message names it" "$TMP_ROOT/no-such-dir" "$ERR"

# --- the data directory is created with its parents, relative or absolute ---------------------
DATA_DIR=$TMP_ROOT/p/a/b/c start_server
expect_true "--data-dir p/a/b/c: created with its parents" test -f "$TMP_ROOT/p/a/b/c/chatd.log"
expect_eq "the parents are private (0700)" 700 "$(stat -c %a "$TMP_ROOT/p/a")"
new_user U startup_alice
restart_server
req GET "/api/users/$U_ID" "" "$U_TOK"
expect_status 200
expect_jq .user.username startup_alice
stop_server
mkdir -p "$TMP_ROOT/rel"
(cd "$TMP_ROOT/rel" && exec "$CHATD" --bind 127.0.0.1 --port 0 --fsync never --data-dir x/y//z/ \
    >"$TMP_ROOT/rel.log" 2>&1) &
RELPID=$!
EXTRA_PIDS="$RELPID"
n=250
until { [[ $(<"$TMP_ROOT/rel.log") == *'listening on'* ]]; } 2>/dev/null || ((n-- == 0)); do nap 0.02; done
expect_true "a relative --data-dir x/y//z/ is created with its parents" test -f "$TMP_ROOT/rel/x/y/z/chatd.log"
expect_true "listening is said after the replay line" \
    awk '/records replayed/ { r = NR } /listening on/ { l = NR } END { exit !(r && l > r) }' "$TMP_ROOT/rel.log"
kill -TERM "$RELPID"
wait "$RELPID"
expect_eq "stopped by SIGTERM: exit 0" 0 "$?"
EXTRA_PIDS=

# --- every application/json body ends with one newline ----------------------------------------
start_server --max-conns 2
# json_nl METHOD PATH [BODY] [TOKEN]: the body as sent, its Content-Length, its last byte
json_nl() {   # (the body file read by bash, in bytes: no process)
    req "$@"
    local LC_ALL=C b= last two
    IFS= read -r -d '' b <"$TMP_ROOT/b"   # all of it, the final newlines too
    last=${b: -1} two=${b: -2}
    [ "$last" == $'\n' ] && last='\n'      # (as od -c shows it)
    two=${two//[!$'\n']/}
    expect_match "$1 $2 ($STATUS): a JSON Content-Type" "$JSON_CT_RE" "$(hdr Content-Type)"
    expect_eq "$1 $2 ($STATUS): the body ends with a newline" '\n' "$last"
    expect_eq "$1 $2 ($STATUS): exactly one" 1 "${#two}"
    expect_eq "$1 $2 ($STATUS): Content-Length counts it" "${#b}" "$(hdr Content-Length)"
}
json_nl GET /healthz
json_nl POST /api/users/register '{"username":"nl_user","password":"password123"}'
json_nl POST /api/users/login '{"username":"nl_user","password":"password123"}'
TOK=$(jqb .token)
json_nl GET /api/conversations "" "$TOK"
json_nl POST /api/conversations '{"title":"nl","member_ids":[]}' "$TOK"
json_nl GET "/api/messages?conversation_id=1" "" "$TOK"
json_nl GET /api/nope                                  # 404 error envelope
json_nl GET /api/conversations                         # 401
json_nl POST /api/users/register '{"username":1}'      # 400 validation_failed
json_nl POST /api/users/register '{'                   # 400 bad JSON
req HEAD /healthz
expect_eq "HEAD /healthz: the same Content-Length as GET (newline counted)" 16 "$(hdr Content-Length)"
# the 503 written on accept over the connection cap is JSON too
RAW=$(timeout 60 "$PYTHON" "$RAW_PY" conncap "$PORT" 2)
LAST_REQ="a 3rd connection over --max-conns 2"
expect_jq_of "$RAW" '.extra.status // "none"' 503 "over the cap: 503"
expect_jq_of "$RAW" '.extra.body | endswith("}\n")' true "over the cap: the body ends with a newline"
stop_server
