#!/usr/bin/env bash
# Durability: clean restart, kill -9 after acked writes (--fsync always), torn tails, damage.
. "$(dirname "$0")/lib.sh"

LOG_FILE=chatd.log
# log_lacks [-i] ERE: the current server log has nothing matching ERE (-i: the log lowercased, for
# a lowercase ERE); read by bash, not a bash and a grep each
log_lacks() {
    local log
    log=$(<"$SERVER_LOG")
    if [ "$1" == -i ]; then shift; log=${log,,}; fi
    [[ ! $log =~ $1 ]]
}
snapshot() {   # TOKEN -> one JSON document of everything that user can see
    local tok=$1 out="" p
    for p in /api/conversations "/api/messages?limit=200"; do
        req GET "$p" "" "$tok"
        out+="$STATUS $BODY"$'\n'
    done
    for p in "${USER_IDS[@]}"; do
        req GET "/api/users/$p" "" "$tok"
        out+="$STATUS $BODY"$'\n'
    done
    printf '%s' "$out"
}

# =============================================================================================
# 1. clean restart (SIGTERM): everything is still there
start_server
new_user A alice
new_user B bob
new_user C carol
new_user D dave
USER_IDS=("$A_ID" "$B_ID" "$C_ID" "$D_ID")
req PUT "/api/users/$A_ID" '{"display_name":"Alice Liddell"}' "$A_TOK"
expect_status 200
req POST /api/users/login '{"username":"bob","password":"password123"}'
B_OLD_TOK=$(jqb .token)
req PUT "/api/users/$B_ID" '{"password":"bobs-new-password","current_password":"password123"}' "$B_TOK"
expect_status 200
req POST /api/users/login '{"username":"carol","password":"password123"}'
C_TOK2=$(jqb .token)
req POST /api/users/logout "" "$C_TOK2"
expect_status 204
new_conv "$A_TOK" "kept" "[$B_ID,$C_ID,$D_ID]"
C1=$CONV_ID
new_conv "$A_TOK" "doomed" "[$B_ID]"
C2=$CONV_ID
new_conv "$B_TOK" "renamed" "[$C_ID]"
C3=$CONV_ID
post_msg "$A_TOK" "$C1" "one"; M1=$MSG_ID
post_msg "$B_TOK" "$C1" "two"; M2=$MSG_ID
post_msg "$D_TOK" "$C1" "from dave"; MD=$MSG_ID
post_msg "$A_TOK" "$C2" "gone with the conversation"; MC2=$MSG_ID
req POST /api/messages "$(mbody "$C3" "keyed")" "$C_TOK" -H 'Idempotency-Key: durable-key'
expect_status 201
MK=$(jqb .message.id)
post_msg "$C_TOK" "$C3" "to delete"; MX=$MSG_ID
req PUT "/api/messages/$M2" '{"body":"two (edited)"}' "$B_TOK"
expect_status 200
req DELETE "/api/messages/$MX" "" "$C_TOK"
expect_status 204
req DELETE "/api/conversations/$C2" "" "$A_TOK"
expect_status 204
req PUT "/api/conversations/$C3" "{\"title\":\"renamed!\",\"member_ids\":[$B_ID,$C_ID,$A_ID]}" "$C_TOK"
expect_status 200
req DELETE "/api/users/$D_ID" '{"password":"password123"}' "$D_TOK"
expect_status 204
SNAP_A=$(snapshot "$A_TOK")
SNAP_B=$(snapshot "$B_TOK")
SNAP_C=$(snapshot "$C_TOK")
SIZE1=$(stat -c %s "$SERVER_DATA_DIR/$LOG_FILE" 2>/dev/null || echo 0)
expect_true "the log file $SERVER_DATA_DIR/$LOG_FILE exists and is not empty" test "$SIZE1" -gt 8

restart_server
expect_eq "alice's view after restart" "$SNAP_A" "$(snapshot "$A_TOK")"
expect_eq "bob's view after restart" "$SNAP_B" "$(snapshot "$B_TOK")"
expect_eq "carol's view after restart" "$SNAP_C" "$(snapshot "$C_TOK")"
req GET "/api/users/$A_ID" "" "$A_TOK"
expect_jq .user.display_name "Alice Liddell"
req GET "/api/users/$B_ID" "" "$B_OLD_TOK"        # revoked by the password change
expect_error 401 ""
req GET "/api/users/$B_ID" "" "$C_TOK2"           # logged out
expect_error 401 ""
req GET "/api/users/$B_ID" "" "$D_TOK"            # deleted user
expect_error 401 ""
req GET "/api/users/$D_ID" "" "$A_TOK"
expect_error 404 ""
req POST /api/users/login '{"username":"bob","password":"password123"}'
expect_error 401 ""
req POST /api/users/login '{"username":"BOB","password":"bobs-new-password"}'
expect_status 200
req POST /api/users/register '{"username":"Alice","password":"password123"}'
expect_error 409 username_taken
req GET "/api/messages/$M2" "" "$A_TOK"
expect_jq .message.body "two (edited)"
expect_jq .message.edited true
req GET "/api/messages/$MX" "" "$C_TOK"
expect_error 404 ""
req GET "/api/messages/$MC2" "" "$A_TOK"
expect_error 404 ""
req GET "/api/conversations/$C2" "" "$A_TOK"
expect_error 404 ""
req GET "/api/messages/$MD" "" "$A_TOK"
expect_jq .message.author_id "$D_ID"
req GET "/api/conversations/$C1" "" "$A_TOK"
expect_jq ".conversation.member_ids | index($D_ID)" null
expect_jq .conversation.last_message_id "$MD"
req GET "/api/conversations/$C3" "" "$A_TOK"
expect_jq .conversation.title "renamed!"
# the idempotency key survives
req POST /api/messages "$(mbody "$C3" "keyed")" "$C_TOK" -H 'Idempotency-Key: durable-key'
expect_status 200
expect_jq .message.id "$MK"
# ids are never reused, even those of deleted things
new_user E erin
expect_true "user id after restart > deleted user's ($E_ID > $D_ID)" test "${E_ID:-0}" -gt "$D_ID"
new_conv "$A_TOK" "new" "[$B_ID]"
expect_true "conversation id after restart > deleted one ($CONV_ID > $C2)" test "${CONV_ID:-0}" -gt "$C2"
C4=$CONV_ID
post_msg "$A_TOK" "$C4" "after restart"
expect_true "message id after restart > deleted one ($MSG_ID > $MX)" test "${MSG_ID:-0}" -gt "$MX"
M4=$MSG_ID
# and a second restart replays the new writes too
SNAP_A=$(snapshot "$A_TOK")
restart_server
expect_eq "alice's view after a second restart" "$SNAP_A" "$(snapshot "$A_TOK")"
req GET "/api/messages/$M4" "" "$B_TOK"
expect_jq .message.body "after restart"
stop_server

# =============================================================================================
# 2. kill -9 right after acked writes, --fsync always: nothing acked is lost
D2=$(mktemp -d "$TMP_ROOT/crash.XXXXXX")
DATA_DIR=$D2 start_server --fsync always
new_user P pat
new_user Q quinn
USER_IDS=("$P_ID" "$Q_ID")
new_conv "$P_TOK" "crash" "[$Q_ID]"
K=$CONV_ID
post_msg "$P_TOK" "$K" "before edit"; KE=$MSG_ID
post_msg "$Q_TOK" "$K" "doomed"; KD=$MSG_ID
req PUT "/api/messages/$KE" '{"body":"after edit"}' "$P_TOK"
expect_status 200
req DELETE "/api/messages/$KD" "" "$Q_TOK"
expect_status 204
# a burst of pipelined writes on one connection; every one is acked before the kill
CRLF=$'\r\n'
burst=""
N=30
for ((i = 1; i <= N; i++)); do
    b="{\"conversation_id\":$K,\"body\":\"burst $i\"}"
    burst+="POST /api/messages HTTP/1.1${CRLF}Host: t${CRLF}Authorization: Bearer $P_TOK${CRLF}Content-Length: ${#b}$CRLF$CRLF$b"
done
raw_send "$burst" -n $N
want=201
for ((i = 2; i <= N; i++)); do want+=,201; done
expect_eq "all $N pipelined writes acked" "$want" "$(raw_statuses)"
BURST_IDS=$(jq -c '[.responses[] | select(.status == 201) | .body | fromjson | .message.id]' <<<"$RAW")
req POST /api/messages "$(mbody "$K" "last words")" "$Q_TOK" -H 'Idempotency-Key: last'
expect_status 201
KL=$(jqb .message.id)
SNAP_P=$(snapshot "$P_TOK")
kill9_server

DATA_DIR=$D2 start_server --fsync always
expect_eq "pat's view after kill -9" "$SNAP_P" "$(snapshot "$P_TOK")"
req GET "/api/messages?conversation_id=$K&limit=200" "" "$Q_TOK"
expect_jq "[.messages[] | select(.body | startswith(\"burst \")) | .id]" "$BURST_IDS"
expect_jq "[.messages[].id] | index($KD)" null
req GET "/api/messages/$KE" "" "$Q_TOK"
expect_jq .message.body "after edit"
expect_jq .message.edited true
req GET "/api/messages/$KL" "" "$P_TOK"
expect_jq .message.body "last words"
req POST /api/messages "$(mbody "$K" "last words")" "$Q_TOK" -H 'Idempotency-Key: last'
expect_status 200
expect_jq .message.id "$KL"
post_msg "$P_TOK" "$K" "post-crash"; KP=$MSG_ID
SNAP_P=$(snapshot "$P_TOK")
REC_END=$(metric chatd_store_bytes)
kill9_server

# =============================================================================================
# 3. a torn tail after kill -9 is cut away; all acked data is there (written where the next
# record goes: over the zeros written ahead)
printf '\x20\x00\x00\x00\x01' | dd of="$D2/$LOG_FILE" bs=1 seek="$REC_END" conv=notrunc status=none
DATA_DIR=$D2 start_server --fsync always
expect_eq "view after a torn tail" "$SNAP_P" "$(snapshot "$P_TOK")"
expect_true "the server log reports the cut (torn/truncat/cut)" grep -qiE 'torn|truncat|cut' "$SERVER_LOG"
post_msg "$P_TOK" "$K" "after the cut"; KC=$MSG_ID
SNAP_P=$(snapshot "$P_TOK")
# the garbage is gone for good: a clean restart replays without complaint
restart_server
expect_eq "view after restarting past the cut" "$SNAP_P" "$(snapshot "$P_TOK")"
expect_true "no second cut reported" log_lacks -i 'torn|truncat'
REC_END=$(metric chatd_store_bytes)
kill9_server

# zero bytes after the last record (written ahead by the store, or a file extended whose data
# never landed) are free space, kept
head -c 4096 /dev/zero >>"$D2/$LOG_FILE"
ZSIZE=$(stat -c %s "$D2/$LOG_FILE")
DATA_DIR=$D2 start_server --fsync always
expect_eq "view after a zero-filled tail" "$SNAP_P" "$(snapshot "$P_TOK")"
expect_true "zeros after the last record are no torn record" log_lacks -i 'torn|truncat'
req GET "/api/messages/$KC" "" "$P_TOK"
expect_jq .message.body "after the cut"
kill9_server
expect_eq "the zeros are kept" "$ZSIZE" "$(stat -c %s "$D2/$LOG_FILE")"

# a last record cut short, zeros after it (its last non-zero byte and all after it: a write over
# zeros written ahead, torn), loses only that record
python3 - "$D2/$LOG_FILE" "$REC_END" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()[:int(sys.argv[2])]
open(sys.argv[1], "wb").write(d[:len(d.rstrip(b"\0")) - 1] + bytes(5000))
PY
DATA_DIR=$D2 start_server --fsync always
expect_true "the server log reports the cut" grep -qiE 'torn|truncat|cut' "$SERVER_LOG"
req GET "/api/messages/$KE" "" "$P_TOK"
expect_jq .message.body "after edit"
req GET "/api/messages/$KP" "" "$P_TOK"
expect_status 200
post_msg "$P_TOK" "$K" "life goes on"
SIZE=$(metric chatd_store_bytes)   # the records (zeros written ahead follow them)
stop_server

# =============================================================================================
# 4. damage before the end: the server refuses to start, naming the file and the offset
corrupt_copy() {   # NAME -> a copy of the data dir in $COPY
    COPY=$TMP_ROOT/$1
    rm -rf "$COPY"
    cp -r "$D2" "$COPY"
}
flip() {   # FILE OFFSET
    python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xFF]))
PY
}
expect_refusal() {   # WHAT
    checks_done; local f0=$FAILS
    if DATA_DIR=$COPY try_start_server --fsync always; then
        fail "$1: server refused to start" "non-zero exit" "it is listening on $PORT"
        stop_server
        return
    fi
    expect_true "$1: non-zero exit status (got $SERVER_RC)" test "$SERVER_RC" != 0 -a "$SERVER_RC" != 124
    expect_true "$1: the message names the file ($LOG_FILE)" grep -q "$LOG_FILE" "$SERVER_LOG"
    expect_true "$1: the message names the offset" grep -qi "offset" "$SERVER_LOG"
    expect_true "$1: no sanitizer report" log_lacks 'ERROR: [A-Za-z]*Sanitizer|runtime error:'
    [ "$FAILS" -gt "$f0" ] && { echo "  --- server log:"; tail -n 5 "$SERVER_LOG" | sed 's/^/  | /'; }
}

corrupt_copy flip20
flip "$COPY/$LOG_FILE" 20
expect_refusal "a flipped byte at offset 20"

corrupt_copy flipmid
flip "$COPY/$LOG_FILE" $((SIZE / 2))
expect_refusal "a flipped byte at offset $((SIZE / 2)) of $SIZE"

corrupt_copy magic
flip "$COPY/$LOG_FILE" 0
if DATA_DIR=$COPY try_start_server --fsync always; then
    fail "a bad magic: server refused to start" "non-zero exit" "listening"
    stop_server
else
    expect_true "a bad magic: non-zero exit status (got $SERVER_RC)" test "$SERVER_RC" != 0 -a "$SERVER_RC" != 124
    expect_true "a bad magic: the message names the file" grep -q "$LOG_FILE" "$SERVER_LOG"
fi

# the undamaged original still starts
DATA_DIR=$D2 start_server
req GET "/api/messages/$KE" "" "$P_TOK"
expect_jq .message.body "after edit"
stop_server

# =============================================================================================
# 5. disk full (a file-size limit stands in for it): 507, and nothing of that write is stored
SERVER_WRAP=(bash -c 'ulimit -f 40; exec "$@"' limit)     # 40 KiB
start_server --fsync always
unset SERVER_WRAP
D5=$SERVER_DATA_DIR
new_user F full
new_conv "$F_TOK" "full" "[$F_ID]"
FC=$CONV_ID
acked=()
got507=0
for i in 1 2 3 4 5; do
    req POST /api/messages "$(mbody "$FC" "$i$(rep x 15999)")" "$F_TOK"
    if [ "$STATUS" == 201 ]; then acked+=("$(jqb .message.id)")
    elif [ "$STATUS" == 507 ]; then got507=$((got507 + 1)); expect_error 507 ""
    else fail "a write near a full disk is 201 or 507" "201|507" "$STATUS"; fi
done
expect_true "writes beyond the limit are 507 (got $got507 of 5)" test "$got507" -ge 1
expect_true "writes within the limit are stored (got ${#acked[@]})" test "${#acked[@]}" -ge 1
ACKED_JSON=$(IFS=,; echo "[${acked[*]}]")
req GET "/api/messages?conversation_id=$FC" "" "$F_TOK"
expect_status 200
expect_jq '[.messages[].id]' "$ACKED_JSON"
req PUT "/api/messages/${acked[0]}" "{\"body\":\"$(rep y 16000)\"}" "$F_TOK"
expect_error 507 ""
req GET "/api/messages/${acked[0]}" "" "$F_TOK"
expect_jq '.message.edited' false
expect_jq '.message.body[0:1]' 1
req GET /healthz
expect_status 200
post_msg "$F_TOK" "$FC" "small still fits"
SMALL=$MSG_ID
restart_server
req GET "/api/messages?conversation_id=$FC" "" "$F_TOK"
expect_jq '[.messages[].id]' "$(jq -nc --argjson a "$ACKED_JSON" --argjson s "$SMALL" '$a + [$s]')"
expect_jq '[.messages[] | select(.body | startswith("y"))] | length' 0
stop_server
