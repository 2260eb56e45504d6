#!/usr/bin/env bash
# Token expiry (contract: Users): a token stops working --token-ttl seconds after it was issued
# (401 like a revoked one), its SSE and WebSocket streams close, a token issued later lives on,
# and the issue time survives a restart. The ttl is scaled from a measured request round
# (register + login + GET), so a slow machine gets a longer one; every timed check waits well
# past the bound it proves (issue times are whole seconds, rounded up: a token lives ttl..ttl+1 s).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
WSC=$(cd "$(dirname "$0")" && pwd)/ws_client.py
now() { echo "${EPOCHREALTIME/./}"; }                 # microseconds
sleep_until() { local d=$(($1 - ${EPOCHREALTIME/./})); ((d > 0)) && printf -v d '%d.%06d' $((d / 1000000)) $((d % 1000000)) && nap "$d"; }
has() { local t=; { read -r -d '' t <"$1"; } 2>/dev/null; [[ $t =~ $2 ]]; }   # FILE ERE (polled: no process a turn)
ended() { ! proc_alive "$1"; }                                                # PID

# --- the flag --------------------------------------------------------------------------------
for v in -1 abc 1.5 ""; do
    "$CHATD" --token-ttl "$v" --port 0 --data-dir "$TMP_ROOT/never" >"$TMP_ROOT/usage" 2>&1
    expect_eq "--token-ttl '$v': usage error" 2 $?
    expect_true "--token-ttl '$v': the message names the flag" grep -q -- --token-ttl "$TMP_ROOT/usage"
done
expect_true "--help states the default 2592000" sh -c "'$CHATD' --help | grep -- --token-ttl | grep -q 2592000"

# --- one unit of this machine's speed ----------------------------------------------------------
start_server
t0=$(now)
new_user M mia
req POST /api/users/login '{"username":"mia","password":"password123"}'
req GET "/api/users/$M_ID" "" "$M_TOK"
U=$((($(now) - t0) / 1000))                            # ms
TTL=$(((10 * U + 999) / 1000)); ((TTL < 6)) && TTL=6
note "one round took $U ms: --token-ttl $TTL"
# a token that is not expired keeps working with --token-ttl 0 and with the default
req GET "/api/users/$M_ID" "" "$M_TOK"
expect_status 200
stop_server

start_server --token-ttl "$TTL"
ta=$(now)
new_user A alice
ta2=$(now)                                            # A_TOK was issued in [ta, ta2]
req GET "/api/users/$A_ID" "" "$A_TOK"
expect_status 200
req POST /api/users/login '{"username":"alice","password":"password123"}'
R_TOK=$(jqb .token)
req POST /api/users/logout "" "$R_TOK"
req GET "/api/users/$A_ID" "" "$R_TOK"
expect_error 401 ""
REVOKED_CODE=$(jqb .error.code)                      # what a revoked token gets
: >"$TMP_ROOT/sse1"
timeout $((TTL * 3 + 30)) curl -sN "$BASE/api/events?token=$A_TOK" >"$TMP_ROOT/sse1" 2>/dev/null &
SSE1=$!
timeout $((TTL * 3 + 30)) "$PY" "$WSC" listen "ws://127.0.0.1:$PORT/api/ws?token=$A_TOK" "$TMP_ROOT/ws1" \
    --max-time $((TTL * 3 + 25)) 2>/dev/null &
WS1=$!
EXTRA_PIDS="$SSE1 $WS1"
expect_true "the WebSocket opened" poll 10 has "$TMP_ROOT/ws1" '"k": *"open"'

sleep_until $((ta + TTL * 500000))                    # half the ttl later: a second token
tb=$(now)
req POST /api/users/login '{"username":"alice","password":"password123"}'
expect_status 200
tb2=$(now)
A2_TOK=$(jqb .token)
: >"$TMP_ROOT/sse2"
timeout $((TTL * 4 + 30)) curl -sN "$BASE/api/events?token=$A2_TOK" >"$TMP_ROOT/sse2" 2>/dev/null &
SSE2=$!
EXTRA_PIDS="$EXTRA_PIDS $SSE2"

sleep_until $((ta2 + (TTL + 1) * 1000000 + 500000))  # past the first token's end
req GET "/api/users/$A_ID" "" "$A_TOK"
expect_error 401 unauthorized
expect_eq "the same code as a revoked token" "$REVOKED_CODE" "$(jqb .error.code)"
req GET "/api/conversations" "" "$A_TOK"
expect_error 401 unauthorized
req POST /api/users/logout "" "$A_TOK"
expect_error 401 unauthorized
req GET "/api/events" "" "$A_TOK"
expect_error 401 unauthorized
if (($(now) < tb + TTL * 1000000)); then               # the later token is not due yet
    req GET "/api/users/$A_ID" "" "$A2_TOK"
    expect_status 200
else note "too slow to check the second token before its end"; fi
expect_true "the expired token's SSE stream closed" poll 10 ended "$SSE1"
expect_true "the expired token's WebSocket closed" poll 10 has "$TMP_ROOT/ws1" '"k": *"close"'
LAST_REQ="ws1: $(tail -c 300 "$TMP_ROOT/ws1")" STATUS=
expect_eq "... with close code 1008" 1008 "$(jq -rs 'map(select(.k == "close"))[0].code' "$TMP_ROOT/ws1")"
if (($(now) < tb + TTL * 1000000)); then
    expect_true "the later token's stream is still open" proc_alive "$SSE2"
fi

# --- the issue time survives a restart ---------------------------------------------------------
stop_clients
restart_server
tr=$(now)
req GET "/api/users/$A_ID" "" "$A_TOK"
expect_error 401 unauthorized
new_user B bob                                        # a fresh token after the restart works
req GET "/api/users/$A_ID" "" "$B_TOK"
expect_status 200
sleep_until $((tb2 + (TTL + 1) * 1000000 + 500000))  # past the second token's end
LAST_REQ="restart at +$(((tr - tb2) / 1000)) ms after the second login" STATUS=
expect_true "the restart came after the second token was issued (else this proves nothing)" \
    test $((tr - tb2)) -gt 1000000
req GET "/api/users/$A_ID" "" "$A2_TOK"                # counted from its issue, not from the restart
expect_error 401 unauthorized
if (($(now) < tr + TTL * 1000000)); then
    req GET "/api/users/$A_ID" "" "$B_TOK"
    expect_status 200
fi
req POST /api/users/login '{"username":"alice","password":"password123"}'
req GET "/api/users/$A_ID" "" "$(jqb .token)"
expect_status 200
stop_server

# --- a token from a log written before issue times were stored counts from the start-up -------
mkdir -p "$TMP_ROOT/v1" && cp "$(dirname "$0")/fixtures/v1/chatd.log" "$TMP_ROOT/v1/"
V1_TOK=$(cat "$(dirname "$0")/fixtures/v1/TOKEN")
DATA_DIR=$TMP_ROOT/v1 start_server --token-ttl "$TTL"
tv=$(now)
req GET /api/users/1 "" "$V1_TOK"
expect_status 200
sleep_until $((tv + (TTL + 1) * 1000000 + 500000))
req GET /api/users/1 "" "$V1_TOK"
expect_error 401 unauthorized
stop_server

# --- 0: tokens never expire --------------------------------------------------------------------
start_server --token-ttl 0
new_user C carol
req GET "/api/users/$C_ID" "" "$C_TOK"
expect_status 200
stop_server
