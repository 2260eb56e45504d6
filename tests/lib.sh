# tests/lib.sh — shared helpers for the shell tests. Sourced by every tests/t_*.sh, each run
# as its own bash process by tests/run.sh. Needs: bash, curl, jq, python3, coreutils.
#
# Server:     start_server [flags...]   a fresh data dir unless DATA_DIR is set (e.g.
#                                       DATA_DIR=$d start_server); --bind 127.0.0.1 --port 0;
#                                       sets PORT BASE SERVER_PID SERVER_LOG SERVER_DATA_DIR
#             stop_server               SIGTERM, must exit 0 with no sanitizer report
#             kill9_server              SIGKILL (no checks)
#             restart_server            stop_server + start_server on the same data dir/flags
#             try_start_server [flags]  like start_server but returns 1 (SERVER_RC set) if it exits
# Requests:   req METHOD PATH [BODY] [TOKEN] [curl args...]   sets STATUS BODY HEADERS
#             raw [--methods M,M] [-n N] [--timeout S] <<<bytes (use raw_send)  sets RAW (JSON)
# Checks:     expect_status, expect_jq, expect_header, expect_no_header, expect_error_code,
#             expect_eq, expect_match, expect_true, ok, fail
# Fixtures:   new_user PREFIX USERNAME [PASSWORD] [DISPLAY_NAME]  sets PREFIX_ID PREFIX_TOK
#             new_conv TOKEN TITLE MEMBER_IDS_JSON -> CONV_ID;  post_msg TOKEN CONV BODY -> MSG_ID
#
# A failed check prints the request, expected and got, and the test goes on; the test exits 1
# at the end if any check failed. Nothing here asserts on timing.

set -u
export LC_ALL=C.UTF-8 2>/dev/null || export LC_ALL=C

: "${CHATD:?set CHATD to the chatd binary (absolute path)}"
TEST_NAME=${0##*/}
TEST_NAME=${TEST_NAME%.sh}
LIB_DIR=${BASH_SOURCE[0]%/*}   # this file's directory, absolute (no process: read at every test's start)
[[ ${BASH_SOURCE[0]} == */* ]] || LIB_DIR=.
[[ $LIB_DIR == /* ]] || LIB_DIR=$PWD/$LIB_DIR
CHECKS=0
FAILS=0
SERVER_PID=
SERVER_LOG=
SERVER_FLAGS=()
SERVER_N=0
PORT=
BASE=
STATUS=
BODY=
HEADERS=
ALL_HEADERS=
LAST_REQ=
RAW=
DATA_DIR=${DATA_DIR:-}
SERVER_DATA_DIR=
TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/chatd-$TEST_NAME.XXXXXX") || exit 1
PASSWORD=password123

TS_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'
DATE_RE='^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$'
JSON_CT_RE='^application/json(;.*)?$'

# ---------------------------------------------------------------------------------------------
# reporting

_where() { _where_set; echo "$WHERE"; }   # file:line of the first caller outside lib.sh
_where_set() {   # the same into WHERE, without a subshell (set by a batched check when it reports)
    local i
    if [ -n "${_JQ_WHERE:-}" ]; then WHERE=$_JQ_WHERE; return; fi
    for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
        if [[ ${BASH_SOURCE[$i]} != *lib.sh ]]; then
            WHERE="${BASH_SOURCE[$i]##*/}:${BASH_LINENO[$((i - 1))]}"
            return
        fi
    done
    WHERE="?"
}

_snip() {   # printable, shortened form of $1 (max $2 chars, default 300)
    local s=$1 max=${2:-300}
    s=${s//$'\r'/\\r}
    s=${s//$'\n'/\\n}
    if ((${#s} > max)); then s="${s:0:max}...(${#1} bytes)"; fi
    printf '%s' "$s"
}

ok() { CHECKS=$((CHECKS + 1)); }

# compact_offline DIR: `chatd --compact DIR` (its server stopped), checked to exit 0; OUT its output
compact_offline() {
    LAST_REQ="chatd --compact $1"
    OUT=$("$CHATD" --compact "$1" 2>&1)
    local rc=$?   # taken at once: a command substitution in the check's message would reset $?
    expect_eq "chatd --compact exit status (output: $(head -c 200 <<<"$OUT"))" 0 "$rc"
}

# start_v1_fixture [FLAGS]: start a server on a copy of the v1 release's data dir
# (tests/fixtures/v1); V1_TOKEN is its user's token. Returns 1 (a failed check) without the fixture.
start_v1_fixture() {
    local fx
    fx=$LIB_DIR/fixtures/v1
    [ -f "$fx/chatd.log" ] || { fail "fixture $fx/chatd.log missing"; return 1; }
    mkdir -p "$TMP_ROOT/v1" && cp "$fx/chatd.log" "$TMP_ROOT/v1/"
    V1_TOKEN=$(<"$fx/TOKEN")
    DATA_DIR=$TMP_ROOT/v1 start_server "$@"
}

# fail WHAT [EXPECTED GOT]: record a failed check with the last request for context
fail() {
    CHECKS=$((CHECKS + 1))
    FAILS=$((FAILS + 1))
    _where_set
    echo "FAIL [$WHERE] $1"
    [ -n "$LAST_REQ" ] && echo "  request:  $(_snip "$LAST_REQ" 200)"
    if [ $# -ge 3 ]; then
        echo "  expected: $(_snip "$2")"
        echo "  got:      $(_snip "$3")"
    fi
    if [ -n "$STATUS" ] && [ "${4-}" != nobody ]; then
        echo "  status:   $STATUS  body: $(_snip "$BODY")"
    fi
}

# note: print context without counting a check
note() { echo "  note [$(_where)]: $*"; }

expect_eq() {   # DESCRIPTION EXPECTED GOT
    if [ "$2" == "$3" ]; then ok; else fail "$1" "$2" "$3"; fi
}

expect_match() {   # DESCRIPTION ERE GOT
    if [[ $3 =~ $2 ]]; then ok; else fail "$1" "/$2/" "$3"; fi
}

expect_true() {   # DESCRIPTION command...   (the command must succeed)
    local d=$1
    shift
    if "$@"; then ok; else fail "$d"; fi
}

expect_status() {   # N
    if [ "$STATUS" == "$1" ]; then ok; else fail "status" "$1" "$STATUS"; fi
}

expect_jq() {   # FILTER EXPECTED   (jq -rc output compared as a string)
    _jq_queue "$1" "$2" "jq '$1'"
}

# Batched jq checks. jq 1.6 spends ~30 ms of CPU starting, more than a request costs, so the
# checks (expect_jq, expect_error_shape) are queued with a copy of their BODY and run by one jq
# process for many bodies: when the queue is long (100 bodies or 400 checks) and at exit
# (checks_done runs them at once, e.g. before reading FAILS). Each is reported (file:line,
# request, status) exactly as if it had run at once, only later; a check whose BODY is not one
# JSON value runs again on its own (as do all of them if the batch fails as a whole: a jq error,
# a NUL in an output). In a subshell, checks run at once. JQ_BATCH=0: never batch.
_JQF=() _JQE=() _JQD=() _JQN=() _JQW=() _JQR=() _JQS=() _JQK=() _JQBS=() _JQ_WHERE=
_jq_queue() {   # FILTER EXPECTED DESCRIPTION [nobody]
    if [[ ${JQ_BATCH:-1} == 0 || $BASHPID != "$$" ]]; then _jq_one "$@"; return; fi
    local nb=${#_JQBS[@]}
    if ((nb == 0)) || [[ $BODY != "${_JQBS[nb - 1]}" ]]; then
        if ((nb >= 100 || ${#_JQF[@]} >= 400)); then _jq_flush; nb=0; fi
        _JQBS+=("$BODY")
        printf '%s' "$BODY" >"$TMP_ROOT/jqb.$nb"
        nb=$((nb + 1))
    fi
    _where_set
    _JQF+=("$1") _JQE+=("$2") _JQD+=("$3") _JQN+=("${4-}") _JQW+=("$WHERE") _JQR+=("$LAST_REQ") _JQS+=("$STATUS")
    _JQK+=($((nb - 1)))
}
_jq_one() {   # FILTER EXPECTED DESCRIPTION [nobody]: at once
    local got
    got=$(jq -rc "$1" <<<"$BODY" 2>&1)
    if [ "$got" == "$2" ]; then ok; else fail "$3" "$2" "$got" "${4-}"; fi
}
checks_done() { _jq_flush; }   # every queued check has run (CHECKS and FAILS are final)
_jq_flush() {
    local n=${#_JQF[@]} i k prog= out=() args=() req=$LAST_REQ st=$STATUS body=$BODY
    ((n)) || return 0
    # per body: its one JSON value in an array ([] when it is not one value); per check: its
    # outputs as jq -rc prints them (one line each), NUL-terminated, or \u0001 (run it alone)
    # (one function for what every check does around its filter: jq 1.6 compiles the program
    # ~8 times faster than with that code written out for each check, 0.09 vs 0.66 s for 400)
    prog='def __jqc(f): if length != 1 then "\u0001" else (.[0] | try ([f] | map(if type == "string" then .
        else tojson end) | join("\n")) catch ("jq: error: " + tostring)) end + "\u0000";'$'\n'
    for ((k = 0; k < ${#_JQBS[@]}; k++)); do
        args+=(--rawfile "__jqr$k" "$TMP_ROOT/jqb.$k")
        prog+="(try [\$__jqr$k | fromjson] catch []) as \$__jqv$k | "
    done
    for ((i = 0; i < n; i++)); do
        ((i)) && prog+=$'\n, '
        prog+="(\$__jqv${_JQK[$i]} | __jqc(${_JQF[$i]}"$'\n'"))"
    done
    printf '%s\n' "$prog" >"$TMP_ROOT/jq.prog"
    if jq -n -j "${args[@]}" -f "$TMP_ROOT/jq.prog" >"$TMP_ROOT/jq.out" 2>/dev/null; then
        readarray -d '' out <"$TMP_ROOT/jq.out"
    fi
    ((${#out[@]} == n)) || out=()
    for ((i = 0; i < n; i++)); do
        _JQ_WHERE=${_JQW[$i]} LAST_REQ=${_JQR[$i]} STATUS=${_JQS[$i]} BODY=${_JQBS[${_JQK[$i]}]}
        [ -n "${out[i]+set}" ] && out[i]=${out[i]%"${out[i]##*[!$'\n']}"}   # as $(jq) has it: no final newlines
        if [ -z "${out[i]+set}" ] || [[ ${out[i]} == $'\001' ]]; then _jq_one "${_JQF[$i]}" "${_JQE[$i]}" "${_JQD[$i]}" "${_JQN[$i]}"
        elif [ -n "${JQ_BATCH_VERIFY:-}" ] && [ "$(jq -rc "${_JQF[$i]}" <<<"$BODY" 2>&1)" != "${out[$i]}" ]; then
            echo "JQBATCH MISMATCH ${_JQW[$i]} ${_JQF[$i]}: batch '${out[$i]}' one '$(jq -rc "${_JQF[$i]}" <<<"$BODY" 2>&1)'"; fail "jqbatch"
        elif [ "${out[$i]}" == "${_JQE[$i]}" ]; then ok
        else fail "${_JQD[$i]}" "${_JQE[$i]}" "${out[$i]}" "${_JQN[$i]}"; fi
    done
    _JQF=() _JQE=() _JQD=() _JQN=() _JQW=() _JQR=() _JQS=() _JQK=() _JQBS=() _JQ_WHERE=
    LAST_REQ=$req STATUS=$st BODY=$body
}

# expect_jq_of JSON FILTER EXPECTED DESCRIPTION: expect_jq on another JSON value than BODY (a
# python helper's report), batched the same way; a failure is reported as DESCRIPTION
expect_jq_of() { local BODY=$1; _jq_queue "$2" "$3" "$4"; }

# jqb FILTER: a value from BODY (no check). The commonest two, .token and .KEY.id, are read by
# bash when BODY has the server's usual shape ("token" its last key; "id" the first key of KEY,
# its first key), as the fixtures read them: a jq process costs more than the request; any
# other filter or shape goes to jq
jqb() {
    if [[ $1 == .token && $BODY =~ \"token\":\"([A-Za-z0-9_-]+)\"\}$ ]] ||
        [[ $1 =~ ^\.([a-z_]+)\.id$ && $BODY =~ ^\{\"${BASH_REMATCH[1]}\":\{\"id\":([1-9][0-9]{0,14})[,}] ]]; then
        echo "${BASH_REMATCH[1]}"
    else
        jq -rc "$1" <<<"$BODY" 2>/dev/null
    fi
}

expect_ts() {   # JQ_PATH   value is an RFC 3339 UTC time with milliseconds (TS_RE), in the batched jq
    expect_jq "$1 | if type == \"string\" and test(\"${TS_RE//\\/\\\\}\") then \"a timestamp\" else tojson end" "a timestamp"
}

# hdr NAME -> the value(s) of header NAME in HEADERS (joined with ", "), empty if absent;
# _hdr_v NAME: the same into HDR, without a subshell
hdr() { _hdr_v "$1"; printf '%s' "$HDR"; }
_hdr_v() {
    local n=${1,,} line k v sp=$' \t'
    HDR=
    while IFS= read -r line; do
        [[ $line == *:* ]] || continue
        k=${line%%:*}
        [[ ${k,,} == "$n" ]] || continue
        v=${line#*:}
        v=${v#"${v%%[!$sp]*}"}
        v=${v%"${v##*[!$sp]}"}
        HDR=${HDR:+$HDR, }$v
    done <<<"$HEADERS"
}

has_hdr() {   # NAME: present in HEADERS (any case)
    local n=${1,,} line
    while IFS= read -r line; do
        [[ $line == *:* ]] || continue
        line=${line%%:*}
        [[ ${line,,} == "$n" ]] && return 0
    done <<<"$HEADERS"
    return 1
}

expect_header() {   # NAME ERE
    local v
    if ! has_hdr "$1"; then fail "header $1 present" "$1: /$2/" "(absent)"; return; fi
    _hdr_v "$1"
    v=$HDR
    if [[ $v =~ $2 ]]; then ok; else fail "header $1" "/$2/" "$v"; fi
}

expect_no_header() {   # NAME
    if has_hdr "$1"; then fail "header $1 absent" "(absent)" "$1: $(hdr "$1")"; else ok; fi
}

# the error body shape {"error":{"code":CODE,"message":"..."}} with a JSON Content-Type. A body
# of exactly the usual form (a non-empty message of valid JSON string characters) is one JSON
# value of that shape without asking jq (a check costs the batched jq ~5 ms to compile); any
# other body is checked by jq
_ERR_BODY_RE='^\{"error":\{"code":"([a-z][a-z0-9_]*)","message":"([^"\[:cntrl:]]|\\(["\/bfnrt]|u[0-9a-fA-F]{4}))+"\}\}$'
expect_error_shape() {
    local got
    if [[ $BODY =~ $_ERR_BODY_RE ]]; then ok
    else _jq_queue 'if (.error|type)=="object" and (.error.code|type)=="string" and (.error.code|test("^[a-z][a-z0-9_]*$"))
               and (.error.message|type)=="string" and (.error.message|length)>0 then "ok" else tojson end' ok \
        'error body shape {"error":{"code","message"}}, got (compact) the body after "got"' nobody
    fi
    local ct
    _hdr_v Content-Type
    ct=$HDR
    if [[ $ct =~ $JSON_CT_RE ]]; then ok; else fail "error Content-Type" "application/json" "$ct"; fi
}

expect_error_code() {   # CODE
    expect_error_shape
    if [[ $BODY =~ $_ERR_BODY_RE ]]; then expect_eq "jq '.error.code'" "$1" "${BASH_REMATCH[1]}"
    else expect_jq '.error.code' "$1"; fi
}

expect_error() {   # STATUS CODE   (CODE may be "" to skip the code check)
    expect_status "$1"
    if [ -n "${2-}" ]; then expect_error_code "$2"; else expect_error_shape; fi
}

expect_empty_body() {
    if [ -z "$BODY" ]; then ok; else fail "empty body" "(empty)" "$BODY" nobody; fi
}

# ---------------------------------------------------------------------------------------------
# server lifecycle

# nap SECONDS: sleep without a process (a read that times out on a pipe nobody writes to);
# the waits below poll every 20 ms, and a sleep process each time costs more than the wait
exec {_NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$_NAP_FD" _ 2>/dev/null; return 0; }

_alive() {   # PID: running and not a zombie (the state after the last ") " of /proc/PID/stat)
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [[ ${st:0:1} != [ZX] ]]
}

_wait_exit() {   # PID SECONDS -> 0 when it exited in time
    local pid=$1 n=$(($2 * 50))
    while ((n-- > 0)); do
        _alive "$pid" || return 0
        nap 0.02
    done
    return 1
}

_has_flag() {   # FLAG args...
    local f=$1 a
    shift
    for a in "$@"; do [[ $a == "$f" || $a == "$f="* ]] && return 0; done
    return 1
}

# try_start_server [flags...]: 0 when listening (PORT etc set); 1 when the process exited
# (SERVER_RC set, SERVER_PID cleared) or did not come up within 10 s (then it is killed, rc 124).
# Unless given, adds --fsync never, --pbkdf2-iters 1000, --write-rate 0 and --register-rate 0
# (set NO_FAST_DEFAULTS=1 to skip).
try_start_server() {
    [ -n "$SERVER_PID" ] && stop_server
    # a fresh data dir: a new name, which chatd creates (0700, as mktemp -d would: no process)
    if [ -n "${DATA_DIR:-}" ]; then SERVER_DATA_DIR=$DATA_DIR
    else
        SERVER_DATA_DIR=$TMP_ROOT/data.$BASHPID.$((SERVER_N + 1))
        [ -e "$SERVER_DATA_DIR" ] && SERVER_DATA_DIR=$(mktemp -d "$TMP_ROOT/data.XXXXXX")
    fi
    local flags=("$@")
    if [ -z "${NO_FAST_DEFAULTS:-}" ]; then
        _has_flag --fsync "${flags[@]}" || flags+=(--fsync never)
        _has_flag --pbkdf2-iters "${flags[@]}" || flags+=(--pbkdf2-iters 1000)
        # tests post back to back, and many faster than --write-rate allows; t_limits tests it
        _has_flag --write-rate "${flags[@]}" || flags+=(--write-rate 0)
        # many tests register many users from 127.0.0.1; t_register_rate tests the limit
        _has_flag --register-rate "${flags[@]}" || flags+=(--register-rate 0)
    fi
    SERVER_FLAGS=("$@")
    SERVER_N=$((SERVER_N + 1))
    SERVER_LOG=$TMP_ROOT/server.$SERVER_N.log
    : >"$SERVER_LOG"   # emptied here: a start in a subshell reuses the name, and the poll below must not read the last one's port
    # SERVER_WRAP: an optional command prefix that must exec its arguments (e.g. a ulimit)
    ${SERVER_WRAP[@]+"${SERVER_WRAP[@]}"} "$CHATD" --bind 127.0.0.1 --port 0 --data-dir "$SERVER_DATA_DIR" "${flags[@]}" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    SERVER_RC=
    local n=500 line _LISTEN_RE='listening on [^ ]*:([0-9]+)'
    while ((n-- > 0)); do
        { line=$(<"$SERVER_LOG"); } 2>/dev/null   # read by bash itself: no process per poll
        if [[ $line =~ $_LISTEN_RE ]]; then
            PORT=${BASH_REMATCH[1]}
            BASE=http://127.0.0.1:$PORT
            return 0
        fi
        if ! _alive "$SERVER_PID"; then
            wait "$SERVER_PID"
            SERVER_RC=$?
            SERVER_PID=
            return 1
        fi
        nap 0.02
    done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
    SERVER_RC=124
    return 1
}

start_server() {
    if ! try_start_server "$@"; then
        LAST_REQ= STATUS=
        fail "server did not start (exit status $SERVER_RC): $CHATD ${*}"
        echo "  --- server log tail ($SERVER_LOG):"
        tail -n 30 "$SERVER_LOG" | sed 's/^/  | /'
        exit 1
    fi
}

# the sanitizers' reports in the current server log
_SAN_RE='ERROR: [A-Za-z]*Sanitizer|runtime error:'
_check_log_clean() {   # (read by bash: a grep process per stop costs more than the read)
    local log=
    { log=$(<"$SERVER_LOG"); } 2>/dev/null
    if [[ $log =~ $_SAN_RE ]]; then
        LAST_REQ= STATUS=
        fail "sanitizer report in server log $SERVER_LOG"
        grep -m5 -A15 -E 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$SERVER_LOG" | sed 's/^/  | /'
    else
        ok
    fi
}

stop_server() {
    [ -z "$SERVER_PID" ] && return 0
    local pid=$SERVER_PID rc
    SERVER_PID=
    kill -TERM "$pid" 2>/dev/null
    if ! _wait_exit "$pid" 15; then
        LAST_REQ= STATUS=
        fail "server did not exit within 15 s of SIGTERM"
        kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    LAST_REQ= STATUS=
    if [ "$rc" == 0 ]; then ok; else
        fail "server exit status after SIGTERM" 0 "$rc"
        echo "  --- server log tail ($SERVER_LOG):"
        tail -n 40 "$SERVER_LOG" | sed 's/^/  | /'
    fi
    _check_log_clean
}

# After a failed connection: if the server died (a crash, a sanitizer abort), say so once with
# the log tail, and start it again on the same data dir so the rest of the test still runs
# (at most 3 times). A server that is merely slow or still alive is left alone.
SERVER_DEATHS=0
_check_server_alive() {
    [ -z "$SERVER_PID" ] && return 0
    _wait_exit "$SERVER_PID" 5 || return 0      # still running: not a death
    local pid=$SERVER_PID rc req=$LAST_REQ st=$STATUS
    wait "$pid" 2>/dev/null
    rc=$?
    SERVER_PID=
    SERVER_DEATHS=$((SERVER_DEATHS + 1))
    STATUS=
    fail "the server died (exit status $rc) during: $(_snip "$req" 200)"
    echo "  --- server log tail ($SERVER_LOG):"
    tail -n 25 "$SERVER_LOG" | sed 's/^/  | /'
    if ((SERVER_DEATHS > 3)); then echo "  (too many server deaths; giving up)"; exit 1; fi
    echo "  (restarting the server on the same data dir to go on)"
    DATA_DIR=$SERVER_DATA_DIR start_server "${SERVER_FLAGS[@]}"
    LAST_REQ=$req STATUS=$st
}

kill9_server() {
    [ -z "$SERVER_PID" ] && return 0
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

restart_server() {   # same data dir, same flags
    local d=$SERVER_DATA_DIR
    stop_server
    DATA_DIR=$d start_server "${SERVER_FLAGS[@]}"
}

_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    _jq_flush
    if [ -n "$SERVER_PID" ]; then stop_server; fi
    if [ -n "${EXTRA_PIDS:-}" ]; then
        local p
        for p in $EXTRA_PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    fi
    _raw_srv_stop   # (reaped: its CPU counts as the file's)
    rm -rf "$TMP_ROOT"
    echo "$TEST_NAME: $CHECKS checks, $FAILS failed"
    if ((FAILS > 0)); then exit 1; fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# requests

# req METHOD PATH [BODY] [TOKEN] [extra curl args...]
# BODY "" sends no body; TOKEN "" sends no Authorization. Sets STATUS, BODY, HEADERS (the final
# response's header block, CRs removed), ALL_HEADERS (every block, 1xx included), CURL_RC; the
# body as received is in $TMP_ROOT/b.
# A request is made by bash itself over /dev/tcp (_tcp), as curl would make it (no Expect, a JSON
# Content-Type with a body, Host, the path as given): a curl process costs ~30 ms of CPU, more
# than the server spends on the request, and a test file makes hundreds. curl makes it when an
# extra argument is not a plain -H header, the path has dot segments or odd bytes (curl would
# rewrite or refuse them), over TLS, or with REQ_CURL=1. Failures get curl's exit codes (7
# refused, 28 timeout, 52 nothing, 56 cut off).
req() {
    local method=$1 path=$2 body=${3-} token=${4-}
    shift 2
    if [ $# -gt 0 ]; then shift; fi
    if [ $# -gt 0 ]; then shift; fi
    LAST_REQ="$method $path${body:+ $body}"
    if ! _tcp_ok "$path" "$@" || ! _tcp "$method" "$path" "$body" "$token" "$@"; then
        _curl_req "$method" "$path" "$body" "$token" "$@"
    fi
    if [ "$CURL_RC" != 0 ]; then LAST_REQ="$LAST_REQ  [curl exit $CURL_RC: $(head -c 200 "$TMP_ROOT/curlerr")]"; fi
    case $CURL_RC in 7 | 28 | 52 | 55 | 56) _check_server_alive ;; esac
    HEADERS=$ALL_HEADERS   # the last block: from the last line that starts with HTTP/
    [[ $HEADERS == *$'\n'HTTP/* ]] && HEADERS=HTTP/${HEADERS##*$'\n'HTTP/}
    return 0   # (not the status of the test above: `until req ... && [ "$STATUS" == 200 ]` polls)
}

_curl_req() {   # METHOD PATH BODY TOKEN [curl args...]
    local method=$1 path=$2 body=$3 token=$4
    shift 4
    local args=(-s -S -g --max-time 20 -D "$TMP_ROOT/h" -w '%{http_code}' -H 'Expect:')
    if [ "$method" == HEAD ]; then
        args+=(-I -o /dev/null)
    else
        args+=(-X "$method" -o "$TMP_ROOT/b")
    fi
    if [ -n "$body" ]; then
        printf '%s' "$body" >"$TMP_ROOT/reqbody"
        args+=(--data-binary "@$TMP_ROOT/reqbody" -H 'Content-Type: application/json')
    fi
    if [ -n "$token" ]; then args+=(-H "Authorization: Bearer $token"); fi
    : >"$TMP_ROOT/b"
    : >"$TMP_ROOT/h"
    STATUS=$(curl "${args[@]}" "$@" "$BASE$path" 2>"$TMP_ROOT/curlerr")
    CURL_RC=$?
    # without a process per line: bash reads $(<file) itself (trailing newlines dropped)
    BODY=$(<"$TMP_ROOT/b")
    ALL_HEADERS=$(<"$TMP_ROOT/h")
    ALL_HEADERS=${ALL_HEADERS//$'\r'/}
    ALL_HEADERS=${ALL_HEADERS%"${ALL_HEADERS##*[!$'\n']}"}
}

_TCP_PATH_RE="^/[-A-Za-z0-9._~%!\$&'()*+,;=:@/?]*\$"   # printable, nothing curl would escape
_TCP_DOTS_RE='/\.\.?(/|$)'                            # dot segments: curl removes them
_tcp_ok() {   # PATH [args...]: can _tcp make this request as curl would?
    [[ -z ${REQ_CURL:-} && $BASE == http://* && $1 =~ $_TCP_PATH_RE && ! ${1%%\?*} =~ $_TCP_DOTS_RE ]] || return 1
    shift
    while [ $# -gt 0 ]; do
        [[ $1 == -H && $2 == [A-Za-z]*:* ]] || return 1
        case ${2%%:*} in [Tt]ransfer-[Ee]ncoding | [Cc]onnection | [Uu]pgrade | [Ee]xpect | [Cc]ontent-* | [Hh]ost) return 1 ;; esac
        shift 2
    done
}

# _tcp_read VAR [read options]: a line (or with -N, that many bytes) from _tcp's fd into VAR.
# bash's read -t guards every byte with two system calls (~3 us a byte: 7 ms for a 2 KiB body);
# without -t it reads in bulk but waits for good. A response's head and small body come in one
# write of the server, so -t 20 only while no byte is waiting (read -t 0): for the wait for the
# answer, not for the bytes of an answer that has begun to arrive.
_tcp_read() {
    local v=$1
    shift
    if IFS= read -r -t 0 -u "$fd"; then IFS= read -r "$@" -u "$fd" "$v"
    else IFS= read -r -t 20 "$@" -u "$fd" "$v"; fi
}

# _tcp METHOD PATH BODY TOKEN [-H 'Name: value'...]: the request over bash's /dev/tcp; sets what
# _curl_req sets. 1 (curl should make it) only before anything was sent.
_tcp() {
    local LC_ALL=C   # lengths and reads in bytes
    local method=$1 path=$2 body=$3 token=$4 fd line head= all= st= len= te= data= n more rc bodyfile=
    shift 4
    local r="$method $path HTTP/1.1"$'\r\n'"Host: 127.0.0.1:$PORT"$'\r\n'"User-Agent: chatd-tests"$'\r\n'"Accept: */*"$'\r\n'
    [ -n "$token" ] && r+="Authorization: Bearer $token"$'\r\n'
    while [ $# -gt 0 ]; do r+="$2"$'\r\n'; shift 2; done
    [ -n "$body" ] && r+="Content-Type: application/json"$'\r\n'"Content-Length: ${#body}"$'\r\n'
    r+=$'\r\n'"$body"
    STATUS=000 BODY= ALL_HEADERS= CURL_RC=0
    : >"$TMP_ROOT/curlerr"
    if ! { exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; then
        CURL_RC=7; echo "Failed to connect to 127.0.0.1 port $PORT" >"$TMP_ROOT/curlerr"; : >"${_TCP_B:-$TMP_ROOT/b}"; return 0
    fi
    trap '' PIPE                      # an early answer and close: a failed write, not a signal
    printf '%s' "$r" >&"$fd" 2>/dev/null
    trap - PIPE
    while :; do                       # header blocks: 1xx ones, then the final one
        _tcp_read line
        rc=$?
        if ((rc)); then   # (not `if ! _tcp_read`: then $? is that of the `!`, always 0)
            if ((rc > 128)); then CURL_RC=28; elif [ -z "$all$head" ]; then CURL_RC=52; else CURL_RC=56; fi
            break
        fi
        line=${line%$'\r'}
        if [ -n "$line" ]; then head+=$line$'\n'; continue; fi
        [ -z "$head" ] && continue
        all+=$head$'\n'
        st=${head:9:3}
        [[ $head == HTTP/1.?\ [1-5][0-9][0-9]* ]] || { CURL_RC=56; break; }
        [[ $st == 1* ]] && { head=; continue; }
        break
    done
    if ((CURL_RC == 0)); then
        STATUS=$st
        if [[ ${head,,} =~ (^|$'\n')content-length:\ *([0-9]+) ]]; then len=${BASH_REMATCH[2]}; fi
        [[ ${head,,} =~ (^|$'\n')transfer-encoding:\ *chunked ]] && te=1
        if [[ $method == HEAD || $st == 204 || $st == 304 ]]; then :
        elif [ -n "$te" ]; then        # chunked: size line, data, CRLF ... 0, trailers, blank
            while IFS= read -r -t 20 -u "$fd" line && n=$((16#${line%%[;$'\r']*})); do
                if ((n == 0)); then
                    while IFS= read -r -t 20 -u "$fd" line && [ -n "${line%$'\r'}" ]; do :; done
                    break
                fi
                IFS= read -r -N "$n" -t 20 -u "$fd" more && data+=$more || { CURL_RC=56; break; }
                IFS= read -r -t 20 -u "$fd" line
            done
        elif [ -n "$len" ]; then
            if ((len > 4096)); then    # bash reads a socket a byte per system call: head reads in bulk
                timeout 20 head -c "$len" <&"$fd" >"${_TCP_B:-$TMP_ROOT/b}"
                (($? == 124)) && CURL_RC=28
                bodyfile=$(stat -c %s "${_TCP_B:-$TMP_ROOT/b}")
                ((CURL_RC || bodyfile == len)) || CURL_RC=18
            elif ((len > 0)); then
                _tcp_read data -N "$len"
                rc=$?
                ((${#data} == len)) || { ((rc > 128)) && CURL_RC=28 || CURL_RC=18; }
            fi
        else
            IFS= read -r -d '' -t 20 -u "$fd" data
            (($? > 128)) && CURL_RC=28
        fi
    fi
    exec {fd}>&-
    if [ -n "$bodyfile" ]; then BODY=$(<"${_TCP_B:-$TMP_ROOT/b}")
    else
        printf '%s' "$data" >"${_TCP_B:-$TMP_ROOT/b}"
        BODY=${data%"${data##*[!$'\n']}"}
    fi
    ALL_HEADERS=${all%"${all##*[!$'\n']}"}
    ((CURL_RC == 0)) || echo "bash /dev/tcp client: curl-style exit $CURL_RC" >"$TMP_ROOT/curlerr"
    return 0
}

# ---------------------------------------------------------------------------------------------
# raw sockets (python3): bytes on stdin are sent at once; the answer is parsed into RAW:
#   {"responses":[{"status":N,"headers":{"lower-name":["v",...]},"body":"..."}...],
#    "closed":bool (EOF seen), "timeout":bool, "error":str|null, "rest":"unparsed bytes"}
# Options: -n N (stop after N final responses), --timeout S (idle read timeout, default 5),
# --methods A,B,... (request methods in order, so HEAD responses are read without a body),
# --progressive BYTES (send the head first, then BYTES of body in 8 KiB pieces, stopping as
# soon as an answer arrives; with --chunked the pieces are chunks), --pieces K (send the bytes
# K at a time, a moment apart, to exercise incremental parsing).

RAW_PY=$TMP_ROOT/raw.py
# The Debian python (it has python3-websockets and starts in half the time of a pyenv build);
# else the python3 on PATH, past any shim (a pyenv shim costs ~0.4 s of CPU a call)
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PYTHON=python3
python3() { command "$PYTHON" "$@"; }   # a test's own `python3 - <<EOF` too (a pyenv shim: ~0.4 CPU-s a call)

# Shared by several test files: a POST /api/messages body; a /metrics value read without
# touching req's STATUS/BODY; the concurrent writer (tests/crash_writer.py) and its python.
mbody() {   # in bash when it is plain (as post_msg), else jq
    if [[ $1 =~ ^(0|[1-9][0-9]*)$ ]] && _jstr "$2"; then echo "{\"conversation_id\":$1,\"body\":$JSTR}"
    else jq -nc --argjson c "$1" --arg b "$2" '{conversation_id:$c,body:$b}'; fi
}
metric() {
    local STATUS BODY ALL_HEADERS CURL_RC _TCP_B=$TMP_ROOT/metrics k v _
    _tcp_ok /metrics && _tcp GET /metrics "" "" || BODY=$(curl -s --max-time 10 "$BASE/metrics")
    while read -r k v _; do [[ $k == "$1" ]] && echo "$v"; done <<<"$BODY"
}
CW=$LIB_DIR/crash_writer.py
# JQ_ASNOW (t_sse, t_ws): a jq def. `asnow` turns a list of events as they were sent live into
# the list a replay shows now (API.md: a message deleted since only as its message.deleted, one
# edited since with its current body): message.created/.updated of a deleted message left out,
# an edited one's message replaced by its last message.updated's. Items: event objects or
# {sid, ev, data} wrappers of them.
JQ_ASNOW='def asnow: def e: .data // .;
    ([.[] | e | select(.type == "message.deleted") | .message.id]) as $del
    | (reduce (.[] | e | select(.type == "message.updated")) as $u ({}; .[$u.message.id | tostring] = $u.message))
      as $upd
    | map(if (e | .type == "message.created" or .type == "message.updated") then
            (e | .message.id) as $i | if any($del[]; . == $i) then empty
            elif .data then .data.message = ($upd[$i | tostring] // .data.message)
            else .message = ($upd[$i | tostring] // .message) end
          else . end);'
CWPY=/usr/bin/python3
[ -x "$CWPY" ] || CWPY=$PYTHON
cat >"$RAW_PY" <<'PYEOF'
import json, os, select, socket, sys, threading, time
SERVING = len(sys.argv) > 1 and sys.argv[1] == "serve"

def parse(data, methods, closed):
    out = []; pos = 0; i = 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        try:
            if not parts[0].startswith("HTTP/"):
                raise ValueError
            status = int(parts[1])
        except Exception:
            break
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        b = end + 4
        m = methods[i] if i < len(methods) else "GET"
        if 100 <= status < 200:
            out.append({"status": status, "headers": hdrs, "body": ""}); pos = b; continue
        if m == "HEAD" or status in (204, 304):
            e = b
        elif "chunked" in ",".join(hdrs.get("transfer-encoding", [])).lower():
            body = b""; p = b; done = False
            while True:
                le = data.find(b"\r\n", p)
                if le < 0: break
                try: n = int(data[p:le].split(b";")[0], 16)
                except ValueError: break
                if n == 0:
                    q = le + 2
                    while True:
                        l2 = data.find(b"\r\n", q)
                        if l2 < 0: break
                        if l2 == q: e = q + 2; done = True; break
                        q = l2 + 2
                    break
                if len(data) < le + 2 + n + 2: break
                body += data[le + 2: le + 2 + n]; p = le + 2 + n + 2
            if not done:
                break
            out.append({"status": status, "headers": hdrs, "body": body.decode("utf-8", "replace")})
            pos = e; i += 1; continue
        elif "content-length" in hdrs:
            try: n = int(hdrs["content-length"][0])
            except ValueError: n = 0
            if len(data) < b + n: break
            e = b + n
        else:
            if not closed: break
            e = len(data)
        out.append({"status": status, "headers": hdrs, "body": data[b:e].decode("utf-8", "replace")})
        pos = e; i += 1
    return out, data[pos:]

def finals(rs): return sum(1 for r in rs if r["status"] >= 200)

def emit(res, pre, out=None):
    # the JSON (on stdout, or into the file OUT); and with a PREFIX what raw_statuses/raw_closed/
    # raw_pick read without a jq: PREFIX.meta (final statuses, closed, no answer at all) and
    # PREFIX.K.{status,body,headers}
    if out is None:
        print(json.dumps(res))
    else:
        with open(out, "w", encoding="utf-8") as f:
            f.write(json.dumps(res))
    if not pre:
        return
    fin = [r for r in res["responses"] if r["status"] >= 200]
    bad = res["error"] is not None or not res["responses"]
    with open(pre + ".meta", "w", encoding="utf-8") as f:
        f.write("%s\n%s\n%s\n" % (",".join(str(r["status"]) for r in fin), str(res["closed"]).lower(), str(bad).lower()))
    for k, r in enumerate(fin):
        for part, text in (("status", str(r["status"])), ("body", r["body"]),
                           ("headers", "\n".join("%s: %s" % (h, v) for h, vs in r["headers"].items() for v in vs))):
            with open("%s.%d.%s" % (pre, k, part), "w", encoding="utf-8", newline="") as f:
                f.write(text)

def send(a, payload):
    # the raw exchange: a = [PORT, options...]; the bytes to send -> the RAW dict
    a = list(a)
    port = int(a.pop(0)); n = 0; tmo = 5.0; methods = []; prog = None; chunked = False; pieces = 0
    while a:
        o = a.pop(0)
        if o == "-n": n = int(a.pop(0))
        elif o == "--timeout": tmo = float(a.pop(0))
        elif o == "--methods": methods = a.pop(0).split(",")
        elif o == "--progressive": prog = int(a.pop(0))
        elif o == "--chunked": chunked = True
        elif o == "--pieces": pieces = int(a.pop(0))
    res = {"responses": [], "closed": False, "timeout": False, "error": None, "rest": ""}
    data = b""; sender = None
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=tmo)
    except Exception as e:
        res["error"] = "connect: %s" % e; return res
    try:
        if pieces:
            for k in range(0, len(payload), pieces):
                s.sendall(payload[k:k + pieces]); time.sleep(0.002)
        else:
            # send from a thread so a big pipelined payload cannot deadlock against unread answers
            def _send():
                try: s.sendall(payload)
                except OSError: pass
            sender = threading.Thread(target=_send, daemon=True)
            sender.start()
            if len(payload) <= 65536: sender.join(5)
        if prog is not None:
            # wait a little for an early answer to the head alone, then feed the body
            r, _, _ = select.select([s], [], [], 1.0)
            sent = 0
            while not r and sent < prog:
                k = min(8192, prog - sent)
                piece = b"a" * k
                if chunked: piece = b"%x\r\n" % k + piece + b"\r\n"
                try: s.sendall(piece)
                except OSError: break
                sent += k
                r, _, _ = select.select([s], [], [], 0)
            if not r and chunked:
                try: s.sendall(b"0\r\n\r\n")
                except OSError: pass
        deadline = time.time() + 30
        while time.time() < deadline:
            r, _, _ = select.select([s], [], [], tmo)
            if not r:
                res["timeout"] = True; break
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                res["closed"] = True; res["error"] = "reset"; break
            if not chunk:
                res["closed"] = True; break
            data += chunk
            if n:
                rs, _ = parse(data, methods, False)
                if finals(rs) >= n: break
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if SERVING and sender is not None and sender.is_alive():
            try: s.shutdown(socket.SHUT_RDWR)   # the process goes on: wake the blocked sender
            except OSError: pass
        s.close()
    rs, rest = parse(data, methods, res["closed"])
    res["responses"] = rs
    res["rest"] = rest.decode("latin-1")
    return res

def main():
    emit(send(sys.argv[1:], sys.stdin.buffer.read()), os.environ.get("RAW_OUT"))

def conncap():
    # conncap PORT K: open K keep-alive connections, each answered 200 on /healthz, then a
    # (K+1)th; report its answer; close all.
    port = int(sys.argv[2]); k = int(sys.argv[3])
    res = {"held": [], "extra": None, "extra_closed": False, "error": None}
    socks = []
    try:
        for _ in range(k):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""; st = None
            while True:
                rs, _ = parse(data, [], False)
                if finals(rs): st = rs[0]["status"]; break
                c = s.recv(65536)
                if not c: break
                data += c
            res["held"].append(st)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
        try: s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        except OSError: pass
        data = b""; closed = False
        try:
            while True:
                c = s.recv(65536)
                if not c: closed = True; break
                data += c
                rs, _ = parse(data, [], False)
                if finals(rs): break
        except ConnectionResetError:
            closed = True
        rs, _ = parse(data, [], closed)
        res["extra"] = rs[0] if rs else {"raw": data.decode("latin-1")}
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    for s in socks: s.close()
    print(json.dumps(res))

def abort(port, rst, payload):
    # abort PORT RST(0|1): send stdin's bytes, then close at once (with RST when RST is 1)
    import struct
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    s.sendall(payload)
    if rst == "1":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()

def serve():
    # raw_send's and raw_abort's one process for a whole test file (a python start costs more CPU
    # than the exchange): per call a line "send|abort TAB PREFIX TAB LEN [TAB ARG]..." and LEN bytes
    # on stdin; a send's RAW goes to PREFIX.json (and its parts as with RAW_OUT); then "done" on
    # stdout ("failed" after an exception, with its traceback on stderr as a lone run's)
    import traceback
    os.closerange(3, 1 << 16)   # no connection or pipe of the test's kept open by this process
    inp = sys.stdin.buffer
    while True:
        line = inp.readline()
        if not line:
            return
        f = line.rstrip(b"\n").decode("utf-8", "replace").split("\t")
        payload = inp.read(int(f[2]))
        try:
            if f[0] == "send":
                emit(send(f[3:], payload), f[1], f[1] + ".json")
            else:
                abort(f[3], f[4], payload)
            ans = "done"
        except Exception:
            traceback.print_exc()
            ans = "failed"
        sys.stdout.write(ans + "\n")
        sys.stdout.flush()

if len(sys.argv) > 1 and sys.argv[1] == "conncap":
    conncap()
elif len(sys.argv) > 1 and sys.argv[1] == "abort":
    abort(sys.argv[2], sys.argv[3], sys.stdin.buffer.read())
elif len(sys.argv) > 1 and sys.argv[1] == "serve":
    serve()
else:
    main()
PYEOF

# raw_send and raw_abort hand their exchanges to one python process (raw.py serve, started at the
# first, ended by _cleanup): a python start costs ~30 ms of CPU, far more than an exchange. In a
# subshell (no shared pipe), with a tab or newline in an argument, or with RAW_SERVE=0: one
# python process per call, as before. A call gets as long as a lone process got (its timeout).
_RAW_PY_PID= _RAW_R= _RAW_W=
_raw_srv() {   # KIND PREFIX SECONDS BYTES ARG... -> _RAW_ANS (done, failed; "" when it timed out
    local kind=$1 pre=$2 tmo=$3 bytes=$4 line a    # or died); 1: not here (run one process)
    shift 4
    [[ ${RAW_SERVE:-1} != 0 && $BASHPID == "$$" && $pre != *[$'\t\n']* ]] || return 1
    for a; do [[ $a != *[$'\t\n']* ]] || return 1; done
    if [ -z "$_RAW_PY_PID" ] || ! _alive "$_RAW_PY_PID"; then
        _raw_srv_stop
        coproc _RAW_SRV { exec "$PYTHON" "$RAW_PY" serve; }
        _RAW_PY_PID=$_RAW_SRV_PID _RAW_R=${_RAW_SRV[0]} _RAW_W=${_RAW_SRV[1]}
    fi
    _blen "$bytes"
    line="$kind"$'\t'"$pre"$'\t'"$_BLEN"
    for a; do line+=$'\t'$a; done
    trap '' PIPE                      # it died: a failed write, not a signal
    printf '%s\n%s' "$line" "$bytes" >&"$_RAW_W" 2>/dev/null
    trap - PIPE
    _RAW_ANS=
    IFS= read -r -t "$tmo" -u "$_RAW_R" _RAW_ANS 2>/dev/null || { _RAW_ANS=; _raw_srv_stop; }
    return 0
}
_raw_srv_stop() {
    [ -n "$_RAW_PY_PID" ] || return 0
    kill "$_RAW_PY_PID" 2>/dev/null
    wait "$_RAW_PY_PID" 2>/dev/null
    _RAW_PY_PID=
}
_blen() { local LC_ALL=C; _BLEN=${#1}; }   # STRING -> _BLEN: its length in bytes

# raw_send BYTES [options]: send BYTES on a fresh connection to PORT; sets RAW (and, for the
# helpers below, without a jq process each: _RAW_FOR, _RAW_ST (final statuses), _RAW_CL (closed)
# and the final responses' parts in $TMP_ROOT/rawN.K.*; a RAW a test set itself goes to jq)
raw_send() {
    local bytes=$1 bad= pre
    shift
    LAST_REQ="raw: $bytes"
    STATUS=
    _RAW_N=$((${_RAW_N:-0} + 1))   # a new name each time: no stale part of the last one
    pre=$TMP_ROOT/raw$_RAW_N
    if _raw_srv send "$pre" 60 "$bytes" "$PORT" "$@"; then
        RAW=
        [ "$_RAW_ANS" == done ] && { IFS= read -r -d '' RAW <"$pre.json"; } 2>/dev/null
    else
        RAW=$(printf '%s' "$bytes" | RAW_OUT=$pre timeout 60 "$PYTHON" "$RAW_PY" "$PORT" "$@")
    fi
    _RAW_FOR=$RAW _RAW_ST= _RAW_CL=false
    if [ -z "$RAW" ] || ! { read -r _RAW_ST && read -r _RAW_CL && read -r bad; } <"$TMP_ROOT/raw$_RAW_N.meta" 2>/dev/null; then
        RAW='{"responses":[],"closed":false,"timeout":false,"error":"raw helper failed","rest":""}'
        _RAW_FOR=$RAW _RAW_ST= _RAW_CL=false bad=true
    fi
    if [ "$bad" == true ]; then _check_server_alive; fi
}

# raw_abort BYTES [rst]: send BYTES and hang up at once (with a TCP reset when "rst" is given)
raw_abort() {
    local rst=0
    [ "${2-}" == rst ] && rst=1
    _raw_srv abort "$TMP_ROOT/abort" 20 "$1" "$PORT" "$rst" ||
        printf '%s' "$1" | timeout 20 "$PYTHON" "$RAW_PY" abort "$PORT" "$rst"
}

_raw_mine() { [[ -n ${_RAW_FOR+set} && $RAW == "$_RAW_FOR" ]]; }   # RAW is raw_send's last
raw_statuses() {
    if _raw_mine; then echo "$_RAW_ST"; return; fi
    jq -r '[.responses[] | select(.status >= 200) | .status] | map(tostring) | join(",")' <<<"$RAW"
}
raw_closed() { if _raw_mine; then echo "$_RAW_CL"; else jq -r '.closed' <<<"$RAW"; fi; }

expect_raw_statuses() {   # "400" or "200,404,..." (final responses, in order)
    local got
    if _raw_mine; then got=$_RAW_ST; else got=$(raw_statuses); fi
    if [ "$got" == "$1" ]; then ok; else fail "raw response statuses" "$1" "$got  (raw: $(jq -c '{closed,timeout,error,rest,n:(.responses|length),first:(.responses[0]//null|if . then {status,body} else null end)}' <<<"$RAW"))"; fi
}

expect_raw_closed() {
    local got
    if _raw_mine; then got=$_RAW_CL; else got=$(raw_closed); fi
    if [ "$got" == true ]; then ok; else fail "connection closed by the server" true "$got (timeout: $(jq -r .timeout <<<"$RAW"))"; fi
}

# select the Kth final raw response (0-based) into STATUS/BODY/HEADERS for the usual checks
raw_pick() {
    local k=${1:-0} r
    if _raw_mine; then
        STATUS= BODY= HEADERS=
        r=$TMP_ROOT/raw$_RAW_N.$k
        { STATUS=$(<"$r.status") BODY=$(<"$r.body") HEADERS=$(<"$r.headers"); } 2>/dev/null
        [ -z "${RAW_VERIFY:-}" ] && return 0   # RAW_VERIFY=1: check against the jq path
        local s=$STATUS b=$BODY h=$HEADERS st=$_RAW_ST cl=$_RAW_CL
        _RAW_FOR= RAW_VERIFY= raw_pick "$k"
        [[ $s == "$STATUS" && $b == "$BODY" && $h == "$HEADERS" && $st == "$(raw_statuses)" && $cl == "$(raw_closed)" ]] ||
            fail "RAW_VERIFY: raw_pick $k" "$STATUS|$BODY|$HEADERS|$(raw_statuses)|$(raw_closed)" "$s|$b|$h|$st|$cl"
        _RAW_FOR=$RAW
        return 0
    fi
    r=$(jq -c "[.responses[] | select(.status >= 200)][$k] // {}" <<<"$RAW")
    STATUS=$(jq -r '.status // ""' <<<"$r")
    BODY=$(jq -r '.body // ""' <<<"$r")
    HEADERS=$(jq -r '(.headers // {}) | to_entries[] | .key as $k | .value[] | "\($k): \(.)"' <<<"$r")
}

# ---------------------------------------------------------------------------------------------
# fixtures and small utilities

rep() {   # STRING N -> STRING repeated N times (by doubling, in bash: no process; in bytes)
    local LC_ALL=C s=$1 n
    if [ "$2" -le 0 ] || [ -z "$1" ]; then return; fi
    n=$((${#1} * $2))
    while ((${#s} < n)); do s+=$s; done
    printf '%s' "${s:0:n}"
}

# The fixtures build their JSON and read the ids back in bash when the strings are printable
# ASCII and the answer has its usual shape (a jq process costs more than the request), else jq.
_jstr() {   # STRING -> JSTR: a JSON string literal; 1 (use jq) unless printable ASCII
    [[ $1 == *[![:print:]]* || $1 == *[![:ascii:]]* ]] && return 1
    local s=${1//\\/\\\\}
    JSTR="\"${s//\"/\\\"}\""
}
_jid() {   # KEY -> JID: the id in BODY's leading {"KEY":{"id":N; else jq's .KEY.id
    if [[ $BODY =~ ^\{\"$1\":\{\"id\":([0-9]+)[,}] ]]; then JID=${BASH_REMATCH[1]}; else JID=$(jqb ".$1.id"); fi
}

# new_user PREFIX USERNAME [PASSWORD] [DISPLAY_NAME] -> ${PREFIX}_ID, ${PREFIX}_TOK
new_user() {
    local p=$1 u=$2 pw=${3:-$PASSWORD} body ju jp jd tok
    if _jstr "$u" && ju=$JSTR && _jstr "$pw" && jp=$JSTR && { [ $# -lt 4 ] || { _jstr "$4" && jd=$JSTR; }; }; then
        body="{\"username\":$ju,\"password\":$jp${jd:+,\"display_name\":$jd}}"
    elif [ $# -ge 4 ]; then
        body=$(jq -nc --arg u "$u" --arg p "$pw" --arg d "$4" '{username:$u,password:$p,display_name:$d}')
    else
        body=$(jq -nc --arg u "$u" --arg p "$pw" '{username:$u,password:$p}')
    fi
    req POST /api/users/register "$body"
    if [ "$STATUS" != 201 ]; then fail "register $u (fixture)" 201 "$STATUS"; fi
    _jid user
    if [[ $BODY =~ \"token\":\"([A-Za-z0-9_-]+)\"\}$ ]]; then tok=${BASH_REMATCH[1]}; else tok=$(jqb .token); fi
    printf -v "${p}_ID" '%s' "$JID"
    printf -v "${p}_TOK" '%s' "$tok"
}

# pbkdf2_iters_for MS -> ITERS: the --pbkdf2-iters that hash in about MS ms with this build (at
# most 100,000, at least 10,000; ASan makes a fixed count ~6 x slower), from a probe
# registration at 100,000 on a server of its own
pbkdf2_iters_for() {
    local t0 us
    start_server --pbkdf2-iters 100000
    t0=$EPOCHREALTIME
    new_user P probe
    us=$((${EPOCHREALTIME/./} - ${t0/./}))
    ITERS=$((100000 * $1 * 1000 / (us > 1 ? us : 1)))
    ((ITERS > 100000)) && ITERS=100000
    ((ITERS < 10000)) && ITERS=10000
    note "a registration at 100,000 iterations took $us us: --pbkdf2-iters $ITERS"
    stop_server
}

# new_conv TOKEN TITLE MEMBER_IDS_JSON -> CONV_ID
new_conv() {
    local body
    if _jstr "$2" && [[ $3 =~ ^\[[0-9,\ ]*\]$ ]]; then body="{\"title\":$JSTR,\"member_ids\":$3}"
    else body=$(jq -nc --arg t "$2" --argjson m "$3" '{title:$t,member_ids:$m}'); fi
    req POST /api/conversations "$body" "$1"
    if [ "$STATUS" != 201 ]; then fail "create conversation (fixture)" 201 "$STATUS"; fi
    _jid conversation
    CONV_ID=$JID
}

# post_msg TOKEN CONV_ID BODY -> MSG_ID
post_msg() {
    local body
    if _jstr "$3" && [[ $2 =~ ^[0-9]+$ ]]; then body="{\"conversation_id\":$2,\"body\":$JSTR}"
    else body=$(jq -nc --argjson c "$2" --arg b "$3" '{conversation_id:$c,body:$b}'); fi
    req POST /api/messages "$body" "$1"
    if [ "$STATUS" != 201 ]; then fail "post message (fixture)" 201 "$STATUS"; fi
    _jid message
    MSG_ID=$JID
}

# wait until the clock has moved on (a later millisecond) — keeps updated_at orderings strict
tick() { nap 0.01; }

# ---------------------------------------------------------------------------------------------
# background clients (the stream tests)

# poll SECONDS command...: run the command until it succeeds (0) or SECONDS of wall-clock time
# have passed (1); between two runs 50 ms, or twice as long as the command took (at most 1 s):
# a check that starts jq and python processes (~25-35 ms of CPU each) would otherwise spend
# more CPU than a loaded machine has while it waits, and make the wait longer
poll() {
    local end=$((${EPOCHREALTIME/./} + $1 * 1000000)) t0 d
    shift
    while :; do
        t0=${EPOCHREALTIME/./}
        "$@" && return 0
        d=$((${EPOCHREALTIME/./} - t0))
        ((t0 + d >= end)) && return 1
        ((d = d * 2 < 50000 ? 50000 : d * 2 > 1000000 ? 1000000 : d * 2))
        printf -v d '%d.%06d' $((d / 1000000)) $((d % 1000000))
        nap "$d"
    done
}

# stop_clients: end this file's background clients that are still running (only our own
# children, by pid), reap them, and clear EXTRA_PIDS so nothing is signalled twice
stop_clients() {
    local p
    for p in ${EXTRA_PIDS:-}; do
        if [ "$(sed -E 's/^.*\) [A-Za-z] ([0-9]+) .*$/\1/' "/proc/$p/stat" 2>/dev/null)" == "$$" ]; then
            kill "$p" 2>/dev/null
        fi
        wait "$p" 2>/dev/null
    done
    EXTRA_PIDS=
}

# proc_alive PID: running and not a zombie
proc_alive() { _alive "$1"; }
