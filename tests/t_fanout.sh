#!/usr/bin/env bash
# t_fanout.sh — one message to a 200-member conversation reaches each of the 200 members'
# WebSockets exactly once; and back-pressure: with --stream-queue 65536, an SSE client and a
# WebSocket client that stop reading are dropped ("stream dropped" in the log; once they read
# again they find the end of the stream, the WebSocket a close 1008), while a normal client
# still gets every event and /healthz answers. No check asserts on timing.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
WSC=$(cd "$(dirname "$0")" && pwd)/ws_client.py
N=200




# wait_line FILE JQ_FILTER [SECONDS]: until a JSON line of FILE matches (the filter gives true).
# jq looks again only when FILE changed since its last look (a jq over a few MB each turn of
# the poll would cost more CPU than the wait): a new mark file each look, a nap between it and
# the jq, so a write after jq read the file is newer than the mark (mtime ticks are coarse)
WL_N=0
wait_line() { WL_MARK=; poll "${3:-30}" _has_line "$1" "$2"; }
_has_line() {
    [ -s "$1" ] || return 1
    [[ -n $WL_MARK && ! $1 -nt $WL_MARK ]] && return 1   # unchanged since the last look
    WL_N=$((WL_N + 1)) WL_MARK=$TMP_ROOT/wl.$WL_N
    : >"$WL_MARK"
    nap 0.02
    jq -e "select($2)" "$1" >/dev/null 2>&1
}

# FILE JQ_FILTER [JQ_FILTER2]: the first JSON line of FILE that matches (or FILTER2 of it)
line() { jq -nc "first(inputs | select($2)) | ${3:-.}" "$1" 2>/dev/null; }

start_server --max-conns 1024 --stream-queue 65536

# ---------------------------------------------------------------------------------------------
# 200 members, 200 WebSockets, one message -> 200 deliveries

: >"$TMP_ROOT/reg.all"
for ((i = 1; i <= N; i++)); do   # by lib.sh's req (bash over /dev/tcp: no curl and cat per user)
    req POST /api/users/register "{\"username\":\"fan$i\",\"password\":\"$PASSWORD\"}"
    printf '%s\n' "$BODY" >>"$TMP_ROOT/reg.all"
done
jq -r '.token // empty' "$TMP_ROOT/reg.all" >"$TMP_ROOT/tokens"
LAST_REQ="register fan1..fan$N" STATUS=
expect_eq "registered users" $N "$(wc -l <"$TMP_ROOT/tokens")"
OWNER_TOK=$(head -n1 "$TMP_ROOT/tokens")
OTHERS=$(jq -sc '[.[].user.id] | .[1:]' "$TMP_ROOT/reg.all")
req POST /api/conversations "$(jq -nc --argjson m "$OTHERS" '{title:"everyone",member_ids:$m}')" "$OWNER_TOK"
expect_status 201
expect_jq '.conversation.member_ids | length' $N
FAN=$(jqb .conversation.id)

OUT=$TMP_ROOT/fanout.jsonl
: >"$OUT"
timeout 58 "$PY" "$WSC" fanout "ws://127.0.0.1:$PORT/api/ws" "$TMP_ROOT/tokens" "$OUT" --expect 1 --max-time 30 \
    2>"$TMP_ROOT/fanout.err" &
FPID=$!
EXTRA_PIDS="${EXTRA_PIDS:-} $FPID"
expect_true "fan-out client: all connections opened" wait_line "$OUT" '.k == "ready"' 30
LAST_REQ="fan-out client" STATUS=
expect_eq "fan-out: open connections" "{\"n\":$N,\"failed\":0}" "$(line "$OUT" '.k == "ready"' '{n,failed}')"
post_msg "$OWNER_TOK" "$FAN" "to all $N"
FMSG=$MSG_ID
expect_true "fan-out client finished" wait_line "$OUT" '.k == "done"' 35
once= all= other= closed=   # (one jq for the four numbers)
{ read -r once; read -r all; read -r other; read -r closed; } < <(line "$OUT" '.k == "done"' \
    "([.ids[] | select(. == [$FMSG])] | length), ([.ids[][] | select(. == $FMSG)] | length),
     ([.ids[][] | select(. != $FMSG)] | length), .closed")
LAST_REQ="fan-out client" STATUS=
expect_eq "connections that got exactly that message once" $N "$once"
expect_eq "deliveries of the message" $N "$all"
expect_eq "deliveries of anything else" 0 "$other"
expect_eq "connections closed by the server" 0 "$closed"
if ! wait "$FPID"; then note "fan-out client exit status non-zero: $(head -c 300 "$TMP_ROOT/fanout.err")"; fi

# ---------------------------------------------------------------------------------------------
# back-pressure: readers that stop reading are dropped; the others carry on

new_user P poster
new_user S slowsse
new_user W slowws
new_user R reader
new_conv "$P_TOK" "busy" "[$S_ID,$W_ID,$R_ID]"
BUSY=$CONV_ID

: >"$TMP_ROOT/normal"
timeout 298 "$PY" "$WSC" listen "ws://127.0.0.1:$PORT/api/ws?token=$R_TOK" "$TMP_ROOT/normal" --max-time 295 &
EXTRA_PIDS="$EXTRA_PIDS $!"
expect_true "normal client: handshake" wait_line "$TMP_ROOT/normal" '.k == "open"' 10

DRAIN=$TMP_ROOT/drain
for k in sse ws; do
    : >"$TMP_ROOT/slow.$k"
    if [ $k == sse ]; then path="/api/events?token=$S_TOK"; else path="/api/ws?token=$W_TOK"; fi
    timeout 298 "$PY" "$WSC" slow "$PORT" "$path" "$TMP_ROOT/slow.$k" "$DRAIN" --kind $k --rcvbuf 4096 --max-time 295 \
        2>"$TMP_ROOT/slow.$k.err" &
    printf -v "SLOW_$k" '%s' "$!"
    EXTRA_PIDS="$EXTRA_PIDS $!"
    expect_true "slow $k client: response head read" wait_line "$TMP_ROOT/slow.$k" '.k == "ready"' 10
done
LAST_REQ="slow clients" STATUS=
expect_eq "slow sse: status" 200 "$(line "$TMP_ROOT/slow.sse" '.k == "ready"' .status)"
expect_eq "slow ws: status" 101 "$(line "$TMP_ROOT/slow.ws" '.k == "ready"' .status)"

# post 8 KB messages, 40 at a time, until both slow streams were dropped (bounded: at most
# 2000 messages or 90 s of posting). The clients live up to 295 s (stop_clients ends them): on
# a loaded machine this file runs past a minute, and 30 s of posting were 320 messages, too few.
# One python process posts every batch: before each it reads the server log for the drops
# (killed after 150 s: the 90 s plus the 60 s a batch had; a request gives up after 20 s).
dropped() { grep -c 'stream dropped' "$SERVER_LOG"; }
ids=$(timeout 150 "$PY" "$WSC" post "$BASE" "$P_TOK" "$BUSY" 40 8000 \
    --batches 50 --until "$SERVER_LOG|stream dropped|2" --max-time 90)
POSTED=()
if [[ $ids =~ ^\[[0-9]+(,\ [0-9]+)*\]$ ]]; then   # its JSON array of ids
    ids=${ids:1:-1}
    POSTED=(${ids//,/})
else
    LAST_REQ="post batch" STATUS=
    fail "posting the batches of messages" "[ids...]" "$ids"
    mapfile -t POSTED < <(jq '.ids[]?' <<<"$ids" 2>/dev/null)   # the ones posted before the error
fi
LAST_REQ="after ${#POSTED[@]} messages of 8000 bytes" STATUS=
expect_eq "server log: both slow streams dropped" 2 "$(dropped)"
req GET /healthz
expect_status 200
expect_jq .status ok
LAST=${POSTED[-1]}
expect_true "normal client got the last message" wait_line "$TMP_ROOT/normal" ".k == \"text\" and .data.message.id == $LAST" 30
LAST_REQ="normal client" STATUS=
# (one jq over its few MB for both: the ids it got, then how many close lines)
{ read -r got; read -r closes; } < <(jq -sc '[.[] | select(.k == "text" and .data.type == "message.created") | .data.message.id],
    ([.[] | select(.k == "close")] | length)' "$TMP_ROOT/normal")
printf -v all '%s,' "${POSTED[@]}"
all="[${all%,}]"
expect_eq "normal client: every message, in order, once" "$all" "$got"
expect_eq "normal client: still connected" 0 "$closes"

# the slow clients read again: what was queued, then the end of the stream
touch "$DRAIN"
for k in sse ws; do
    expect_true "slow $k client drained" wait_line "$TMP_ROOT/slow.$k" '.k == "drained" or .k == "timeout"' 30
    d=$(line "$TMP_ROOT/slow.$k" '.k == "drained"')
    eof= events= bytes= code=
    read -r eof events bytes code < <(jq -r '"\(.eof) \(.events) \(.bytes) \(.last_close_code)"' <<<"$d" 2>/dev/null)
    printf -v "DRAINED_$k" '{"bytes":%s,"events":%s}' "$bytes" "$events"
    printf -v "CLOSE_$k" '%s' "$code"
    LAST_REQ="slow $k client: $d" STATUS=
    expect_eq "slow $k: the server ended the stream (EOF)" true "$eof"
    expect_true "slow $k: cut off before the last message ($events of ${#POSTED[@]} events)" \
        test "$events" -lt "${#POSTED[@]}"
done
note "back-pressure: ${#POSTED[@]} messages posted; slow sse drained $DRAINED_sse, slow ws $DRAINED_ws"
expect_eq "slow ws: last frame is close 1008" 1008 "$CLOSE_ws"

# the server still serves new streams and requests
post_msg "$P_TOK" "$BUSY" "after the drops"
expect_true "normal client got the message after the drops" wait_line "$TMP_ROOT/normal" ".k == \"text\" and .data.message.id == $MSG_ID" 15
req GET /healthz
expect_status 200

stop_clients
stop_server
