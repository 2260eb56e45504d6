#!/usr/bin/env bash
# Compaction: online (thresholds, the log shrinks, data and ids intact, a restart replays the
# compacted log), event replay reach (resync before the compaction point, exact events after
# it, a live stream that lives through it), offline `chatd --compact DIR`, writes (deletes,
# edits) that arrive while a compaction is copying, and kill -9 at random moments while a
# compaction runs at start-up (no stray chatd.log.compact, all data there after a restart).
. "$(dirname "$0")/lib.sh"

LOG_NAME=chatd.log
CRASH_ROUNDS=${CRASH_ROUNDS:-4}

wait_metric_ge() {   # NAME VALUE SECONDS: poll /metrics until NAME >= VALUE
    local n=$(($3 * 10)) v
    while ((n-- > 0)); do
        v=$(metric "$1")
        [ -n "$v" ] && [ "${v%.*}" -ge "$2" ] && return 0
        nap 0.1
    done
    return 1
}
wait_no_compact_file() {   # DIR SECONDS
    local n=$(($2 * 10))
    while ((n-- > 0)); do [ -e "$1/$LOG_NAME.compact" ] || return 0; nap 0.1; done
    return 1
}

# SSE text -> JSON array of {id, event, data}; with several files, an array a line (one python)
SSE_PY=$TMP_ROOT/sse.py
cat >"$SSE_PY" <<'PY'
import json, sys
for f in sys.argv[1:]:
    out = []
    for block in open(f, encoding="utf-8", errors="replace").read().split("\n\n"):
        ev = {"id": None, "event": None, "data": None}
        for line in block.split("\n"):
            if line.startswith("id: "): ev["id"] = int(line[4:])
            elif line.startswith("event: "): ev["event"] = line[7:]
            elif line.startswith("data: "):
                try: ev["data"] = json.loads(line[6:])
                except ValueError: ev["data"] = line[6:]
        if ev["event"]:
            out.append(ev)
    print(json.dumps(out))
PY
sse_events() { "$PYTHON" "$SSE_PY" "$@"; }
sse_get() {   # FILE TOKEN LAST_EVENT_ID: a stream read for 2 s into FILE
    curl -sN --max-time 2 -H "Authorization: Bearer $2" -H "Last-Event-ID: $3" "$BASE/api/events" >"$1" 2>/dev/null
}
snapshot() {   # TOKEN...: what those users see
    local t p
    for t in "$@"; do
        for p in /api/conversations "/api/messages?limit=200"; do
            req GET "$p" "" "$t"
            printf '%s %s\n' "$STATUS" "$BODY"
        done
    done
}

# =============================================================================================
# 1. online compaction
start_server --compact-min 20 --compact-pct 30
D=$SERVER_DATA_DIR
new_user A alice
new_user B bob
LIVE=$TMP_ROOT/live.sse
curl -sN --max-time 120 -H "Authorization: Bearer $A_TOK" "$BASE/api/events" >"$LIVE" 2>/dev/null &
LIVE_PID=$!
EXTRA_PIDS=$LIVE_PID
# A delete must not arrive while a compaction is copying (section 3 tests that case on its own):
# wait until none runs. Race-free: a compaction starts at the end of the loop turn that crossed
# the threshold, before that turn's responses go out.
safe_delete() {   # PATH TOKEN [BODY]
    wait_no_compact_file "$D" 20
    req DELETE "$1" "${3-}" "$2"
}
# the newest user, conversation and message are deleted before the compaction
new_user Z zed
safe_delete "/api/users/$Z_ID" "$Z_TOK" '{"password":"password123"}'
expect_status 204
new_conv "$A_TOK" "main" "[$B_ID]"
C1=$CONV_ID
declare -A WANT_BODY=()
declare -A WANT_EDITED=()
SENT_BYTES=0
MIDS=()
M200=$(rep m 200)
for i in {1..30}; do
    if ((i % 2)); then tok=$A_TOK; else tok=$B_TOK; fi
    b="message $i $M200"
    post_msg "$tok" "$C1" "$b"
    MIDS+=("$MSG_ID")
    WANT_BODY[$MSG_ID]=$b WANT_EDITED[$MSG_ID]=false
    SENT_BYTES=$((SENT_BYTES + ${#b}))
done
new_conv "$A_TOK" "doomed" "[$B_ID]"
C2=$CONV_ID
post_msg "$A_TOK" "$C2" "in the doomed conversation"
MC2=$MSG_ID
post_msg "$A_TOK" "$C1" "the newest message, deleted"
ML=$MSG_ID
safe_delete "/api/messages/$ML" "$A_TOK"
expect_status 204
safe_delete "/api/conversations/$C2" "$A_TOK"
expect_status 204
DELETED=()
for k in 1 5; do
    safe_delete "/api/messages/${MIDS[$k]}" "$B_TOK"
    expect_status 204
    DELETED+=("${MIDS[$k]}")
    unset "WANT_BODY[${MIDS[$k]}]"
done
# edits (big bodies, the same few messages again and again) push the obsolete records over
# the thresholds; they stop once a compaction has run, so that exactly one runs
nedits=0
E1500=$(rep e 1500)
for ((e = 0; e < 200; e++)); do
    id=${MIDS[$(((e % 3) * 2))]}
    b="edit $e of $id $E1500"
    _jstr "$b"
    req PUT "/api/messages/$id" "{\"body\":$JSTR}" "$A_TOK"
    expect_status 200
    WANT_BODY[$id]=$b WANT_EDITED[$id]=true
    SENT_BYTES=$((SENT_BYTES + ${#b}))
    nedits=$((nedits + 1))
    c=$(metric chatd_compactions_total)
    [ "${c:-0}" -ge 1 ] && break
done
echo "  $nedits edits until the first compaction"
LAST_REQ="poll /metrics chatd_compactions_total >= 1"
expect_true "a compaction ran (chatd_compactions_total >= 1)" wait_metric_ge chatd_compactions_total 1 20
expect_true "no compaction in progress (no $LOG_NAME.compact)" wait_no_compact_file "$D" 20
expect_true "the server log says 'compaction started'" grep -q "compaction started" "$SERVER_LOG"
done_line=$(grep "compaction done:" "$SERVER_LOG" | tail -n 1)
expect_match "the server log says 'compaction done: A -> B bytes'" 'compaction done: [0-9]+ -> [0-9]+ bytes' "$done_line"
read -r from to <<<"$(sed -E 's/.*done: ([0-9]+) -> ([0-9]+) bytes.*/\1 \2/' <<<"$done_line")"
expect_true "the compaction shrank the log ($from -> $to bytes)" test "${to:-0}" -lt "${from:-0}"
SIZE=$(stat -c %s "$D/$LOG_NAME")
expect_eq "chatd_store_bytes is the file size" "$SIZE" "$(metric chatd_store_bytes)"
expect_true "the log ($SIZE bytes) is smaller than the bodies ever sent ($SENT_BYTES bytes)" test "$SIZE" -lt "$SENT_BYTES"
P=$(grep "compaction started at seq" "$SERVER_LOG" | tail -n 1 | sed -E 's/.*at seq ([0-9]+).*/\1/')
expect_match "the compaction point (seq)" '^[0-9]+$' "$P"
# every message reads back as it should
check_messages() {   # WHAT (the bodies and edited flags of all answers read by one jq)
    local id bad="" ids=() got=() i want
    : >"$TMP_ROOT/cm"
    for id in "${MIDS[@]}"; do
        req GET "/api/messages/$id" "" "$A_TOK"
        if [ -n "${WANT_BODY[$id]+x}" ]; then
            if [ "$STATUS" == 200 ]; then printf '%s\n' "$BODY" >>"$TMP_ROOT/cm"; ids+=("$id"); else bad+=" $id($STATUS)"; fi
        else
            [ "$STATUS" == 404 ] || bad+=" $id(deleted,$STATUS)"
        fi
    done
    mapfile -t got < <(jq -c '[.message.body, .message.edited]' "$TMP_ROOT/cm" 2>/dev/null)
    for i in "${!ids[@]}"; do
        id=${ids[$i]}
        if _jstr "${WANT_BODY[$id]}"; then want=$JSTR; else want=$(jq -nc --arg b "${WANT_BODY[$id]}" '$b'); fi
        [ "${got[$i]-}" == "[$want,${WANT_EDITED[$id]}]" ] || bad+=" $id(200)"
    done
    for id in "$ML" "$MC2"; do
        req GET "/api/messages/$id" "" "$A_TOK"
        [ "$STATUS" == 404 ] || bad+=" $id(deleted,$STATUS)"
    done
    expect_eq "$1: every message has its current body and edited flag, deleted ones are 404" "" "$bad"
    req GET "/api/messages?conversation_id=$C1&limit=200" "" "$B_TOK"
    expect_jq '[.messages[].id] | length' "${#WANT_BODY[@]}"
    req GET "/api/conversations/$C2" "" "$A_TOK"
    expect_status 404
    req GET "/api/users/$Z_ID" "" "$A_TOK"
    expect_status 404
    req GET "/api/conversations/$C1" "" "$B_TOK"
    expect_jq .conversation.title main
}
check_messages "after the compaction"
# new ids are above every earlier one, deleted ones included
new_user Y yan
expect_true "a user created after the compaction has a new id ($Y_ID > deleted $Z_ID)" test "${Y_ID:-0}" -gt "$Z_ID"
new_conv "$B_TOK" "after" "[$A_ID]"
C3=$CONV_ID
expect_true "a conversation created after the compaction has a new id ($C3 > deleted $C2)" test "${C3:-0}" -gt "$C2"
post_msg "$B_TOK" "$C1" "after the compaction"
X=$MSG_ID
expect_true "a message posted after the compaction has a new id ($X > deleted $ML)" test "${X:-0}" -gt "$ML"
WANT_BODY[$X]="after the compaction" WANT_EDITED[$X]=false
MIDS+=("$X")
req PUT "/api/messages/$X" '{"body":"after the compaction, edited"}' "$B_TOK"
expect_status 200
WANT_BODY[$X]="after the compaction, edited" WANT_EDITED[$X]=true
safe_delete "/api/messages/${MIDS[3]}" "$B_TOK"
expect_status 204
unset "WANT_BODY[${MIDS[3]}]"

# the live stream, connected before the compaction, goes on after it
n=50
until jq -e --argjson x "$X" 'any(.[]; .event == "message.deleted" and .data.message.id == '"${MIDS[3]}"')' \
    <<<"$(sse_events "$LIVE")" >/dev/null 2>&1 || ((n-- <= 0)); do nap 0.1; done
LIVE_EV=$TMP_ROOT/live.json
sse_events "$LIVE" >"$LIVE_EV"
LAST_REQ="the live SSE stream of alice (connected before the compaction)"
# what the checks below compare, a line each, by one jq: how many message.created of X, E1 (its
# event id), the events after E1, how many resyncs
live=()
mapfile -t live < <(jq -r --argjson x "$X" '
    ([.[] | select(.event == "message.created" and .data.message.id == $x)] | length),
    (([.[] | select(.event == "message.created" and .data.message.id == $x) | .id][0] // 0) as $e
     | $e, ([.[] | select(.id != null and .id > $e) | .event] | join(" "))),
    ([.[] | select(.event == "resync")] | length)' "$LIVE_EV")
expect_eq "the live stream got the message posted after the compaction" 1 "${live[0]-}"
E1=${live[1]:-0}
expect_eq "the live stream got the edit and the delete after it" "message.updated message.deleted" "${live[2]-}"
expect_eq "the live stream has no resync" 0 "${live[3]-}"

check_replay() {   # WHAT: replay reach from the compaction point P, and exact replay after E1
    local f=$TMP_ROOT/replay r=()
    sse_get "$f.1" "$A_TOK" $((P - 2))
    sse_get "$f.2" "$A_TOK" "$E1"
    sse_get "$f.3" "$A_TOK" $((P - 1))
    # the three replays (one python) and what they must be after the live stream (one jq), a line
    # each: replay 1's first event; the live events after E1, replay 2's; those from P on, replay 3's
    mapfile -t r < <(sse_events "$f.1" "$f.2" "$f.3" | jq -rcs --argjson e "$E1" --argjson p "$P" --slurpfile live "$LIVE_EV" '
        (.[0][0].event),
        ($live[0] | [.[] | select(.id != null and .id > $e) | [.id, .event]]), (.[1] | [.[] | [.id, .event]]),
        ($live[0] | [.[] | select(.id != null and .id >= $p) | [.id, .event]]), (.[2] | [.[] | [.id, .event]])')
    LAST_REQ="GET /api/events Last-Event-ID: $((P - 2)) (compaction point $P)"
    expect_eq "$1: Last-Event-ID before the compaction point: the first event is resync" resync "${r[0]-}"
    LAST_REQ="GET /api/events Last-Event-ID: $E1"
    expect_eq "$1: Last-Event-ID after the compaction point: exactly the later events" "${r[1]-}" "${r[2]-(no line: the jq or python failed)}"
    LAST_REQ="GET /api/events Last-Event-ID: $((P - 1)) (compaction point $P)"
    expect_eq "$1: replay reaches back to the compaction point (every event since it)" "${r[3]-}" "${r[4]-(no line: the jq or python failed)}"
}
expect_eq "exactly one compaction ran" 1 "$(metric chatd_compactions_total)"
check_replay "online"

# a restart replays the compacted log: same data, same replay reach, ids still new
SNAP=$(snapshot "$A_TOK" "$B_TOK")
kill "$LIVE_PID" 2>/dev/null
wait "$LIVE_PID" 2>/dev/null
EXTRA_PIDS=
restart_server --compact-pct 0
expect_eq "the data after a restart on the compacted log" "$SNAP" "$(snapshot "$A_TOK" "$B_TOK")"
check_messages "after a restart"
check_replay "after a restart"
new_user W wes
expect_true "user ids stay new after a restart ($W_ID > $Y_ID)" test "${W_ID:-0}" -gt "$Y_ID"
post_msg "$A_TOK" "$C1" "after the restart"
expect_true "message ids stay new after a restart ($MSG_ID > $X)" test "${MSG_ID:-0}" -gt "$X"
stop_server

# =============================================================================================
# 2. offline: chatd --compact DIR
DATA_DIR=$D start_server --compact-pct 0
O1000=$(rep o 1000)
for k in 0 2 4 6 8; do
    for r in 1 2 3 4; do
        b="offline edit $r $O1000"
        _jstr "$b"
        req PUT "/api/messages/${MIDS[$k]}" "{\"body\":$JSTR}" "$A_TOK"
        expect_status 200
    done
done
req DELETE "/api/messages/${MIDS[10]}" "" "$A_TOK"
expect_status 204
SNAP=$(snapshot "$A_TOK" "$B_TOK")
stop_server
S1=$(stat -c %s "$D/$LOG_NAME")
compact_offline "$D"
S2=$(stat -c %s "$D/$LOG_NAME")
expect_true "chatd --compact shrank the log ($S1 -> $S2 bytes)" test "$S2" -lt "$S1"
expect_true "no $LOG_NAME.compact left" test ! -e "$D/$LOG_NAME.compact"
out=$("$CHATD" --check "$D" 2>&1); rc=$?   # before the message's $(...) resets $?
expect_eq "chatd --check after chatd --compact (output: $(head -c 200 <<<"$out"))" 0 "$rc"
DATA_DIR=$D start_server --compact-pct 0
expect_eq "the data after an offline compaction" "$SNAP" "$(snapshot "$A_TOK" "$B_TOK")"
stop_server

# =============================================================================================
# 3. a large store; writes that arrive while an online compaction is copying
BIG=$TMP_ROOT/big
start_server --compact-pct 0
LAST_REQ="crash_writer fill"
FILL=$("$CWPY" "$CW" fill --port "$PORT" --out "$TMP_ROOT/fill.json" --messages 3000 --edits 3 --deletes 100 2>&1 | tail -n 1)
expect_eq "the store is filled (3000 messages, 3 edits each, 100 deleted)" 2900 "$(jq -r .messages <<<"$FILL" 2>&1)"
FT=$(jq -r .token "$TMP_ROOT/fill.json")
FC=$(jq -r .conversation_id "$TMP_ROOT/fill.json")
# written last, so a compaction copies them last
new_conv "$FT" "late, kept" "[]"
CK=$CONV_ID
post_msg "$FT" "$CK" "late, to be deleted during the compaction"
L1=$MSG_ID
post_msg "$FT" "$CK" "late, to be edited during the compaction"
L2=$MSG_ID
new_conv "$FT" "late conversation" "[]"
CL=$CONV_ID
post_msg "$FT" "$CL" "in the late conversation"
LC=$MSG_ID
stop_server
cp -r "$SERVER_DATA_DIR" "$BIG"

verify_big() {   # WHAT [DURING=1: the late writes happened]
    local v
    LAST_REQ="crash_writer verify ($1)"
    v=$("$CWPY" "$CW" verify --port "$PORT" --expect "$TMP_ROOT/fill.json" 2>&1 | tail -n 1)
    expect_eq "$1: every message of the big store is there with its body (none extra, none missing)" "[]" "$(jq -c .errors <<<"$v" 2>&1)"
    req GET "/api/messages/$L1" "" "$FT"
    if [ "${2-}" == 1 ]; then expect_status 404; else expect_jq .message.body "late, to be deleted during the compaction"; fi
    req GET "/api/messages/$L2" "" "$FT"
    if [ "${2-}" == 1 ]; then expect_jq .message.body "edited during the compaction"; else expect_jq .message.edited false; fi
    req GET "/api/conversations/$CL" "" "$FT"
    if [ "${2-}" == 1 ]; then expect_status 404; else expect_status 200; fi
    req GET "/api/messages/$LC" "" "$FT"
    if [ "${2-}" == 1 ]; then expect_status 404; else expect_status 200; fi
}

D3=$TMP_ROOT/during
cp -r "$BIG" "$D3"
DATA_DIR=$D3 start_server --compact-min 100 --compact-pct 10
n=300
# the server's own line, not the temporary file: a fast compaction can come and go between polls
while ((n-- > 0)) && ! grep -q "compaction started" "$SERVER_LOG"; do sleep 0.01; done
expect_true "a compaction started at start-up (the server log says so)" grep -q "compaction started" "$SERVER_LOG"
req DELETE "/api/messages/$L1" "" "$FT"
expect_status 204
during=$(metric chatd_compactions_total)
req PUT "/api/messages/$L2" '{"body":"edited during the compaction"}' "$FT"
expect_status 200
req DELETE "/api/conversations/$CL" "" "$FT"
expect_status 204
[ "$during" == 0 ] || note "the first write did not land while the compaction ran (compactions: $during): the delete came after it"
expect_true "the compaction finished (chatd_compactions_total >= 1)" wait_metric_ge chatd_compactions_total 1 60
verify_big "after a compaction with writes during it" 1
stop_server
LAST_REQ="chatd --check (after a compaction with writes during it)"
out=$("$CHATD" --check "$D3" 2>&1)
rc=$?
expect_eq "chatd --check after a compaction with writes during it (output: $(head -c 300 <<<"$out"))" 0 "$rc"
if DATA_DIR=$D3 try_start_server --compact-pct 0; then
    ok
    verify_big "restart after a compaction with writes during it" 1
    stop_server
else
    fail "a restart after a compaction with deletes/edits during it" "the server starts" "exit $SERVER_RC: $(tail -n 2 "$SERVER_LOG" | tr '\n' ' ')"
fi

# =============================================================================================
# 4. kill -9 at random moments while a compaction runs at start-up
mid=0 before=0 after=0
for ((r = 1; r <= CRASH_ROUNDS; r++)); do
    checks_done; f0=$FAILS
    W=$TMP_ROOT/kill$r
    rm -rf "$W"
    cp -r "$BIG" "$W"
    DATA_DIR=$W start_server --compact-min 100 --compact-pct 10
    delay_ms=$((100 + RANDOM % 6000))
    printf -v delay_s '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000))
    nap "$delay_s"
    kill9_server
    if [ -e "$W/$LOG_NAME.compact" ]; then mid=$((mid + 1)) stale=1
    elif grep -q "compaction done" "$SERVER_LOG"; then after=$((after + 1)) stale=0
    else before=$((before + 1)) stale=0; fi
    DATA_DIR=$W start_server --compact-pct 0
    expect_true "round $r (kill after ${delay_ms} ms): no $LOG_NAME.compact after a start" test ! -e "$W/$LOG_NAME.compact"
    if [ "$stale" == 1 ]; then
        expect_true "round $r: the start says it removed the interrupted compaction's file" grep -q "interrupted compaction" "$SERVER_LOG"
    fi
    verify_big "round $r (kill after ${delay_ms} ms)"
    stop_server
    out=$("$CHATD" --check "$W" 2>&1); rc=$?   # before the message's $(...) resets $?
    expect_eq "round $r: chatd --check (output: $(head -c 200 <<<"$out"))" 0 "$rc"
    checks_done; [ "$FAILS" == "$f0" ] || echo "  (round $r failed: kill after $delay_ms ms)"
    rm -rf "$W"
done
echo "  crash during compaction: $CRASH_ROUNDS rounds: killed before it started $before, during it $mid, after it $after"
