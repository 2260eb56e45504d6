#!/usr/bin/env bash
# Recovery: the log cut at every byte offset within its last two records (a start keeps exactly
# the records before the cut); a flipped byte in the middle (start refuses; --check names the
# offset; --repair keeps the prefix and moves the rest aside byte for byte); disk full (a
# file-size limit: 507, nothing stored, reads work) and recovery without a restart (the limit
# raised on the running process); a live backup (cp of the log while writes go on) that starts
# with every write acknowledged before the copy began.
. "$(dirname "$0")/lib.sh"

LOG_NAME=chatd.log

# record boundaries of a log: "start end" per record (python: the framing from src/store.h; a
# len below 9 ends it: zeros written ahead)
records() {
    "$CWPY" - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
off = 8
while off + 8 <= len(d):
    n = struct.unpack_from("<I", d, off)[0]
    if n < 9 or off + 8 + n > len(d):
        break
    print(off, off + 8 + n)
    off += 8 + n
PY
}

run_check() {   # DIR -> CHECK_RC, CHECK_OUT
    CHECK_OUT=$("$CHATD" --check "$1" 2>&1)
    CHECK_RC=$?
}

# =============================================================================================
# 1. a log cut at every byte offset within its last two records
start_server
new_user A alice
new_conv "$A_TOK" "cuts" "[]"
C=$CONV_ID
IDS=()
for i in 1 2 3 4 5 6; do
    post_msg "$A_TOK" "$C" "m$i"
    IDS+=("$MSG_ID")
done
recs_before=$(metric chatd_store_records)
post_msg "$A_TOK" "$C" "second to last"
M_PREV=$MSG_ID
post_msg "$A_TOK" "$C" "the last one"
M_LAST=$MSG_ID
expect_eq "each post is one record (store records +2)" $((recs_before + 2)) "$(metric chatd_store_records)"
D0=$SERVER_DATA_DIR
stop_server
mapfile -t RECS < <(records "$D0/$LOG_NAME")
FSIZE=$(stat -c %s "$D0/$LOG_NAME")
read -r A_START A_END <<<"${RECS[-2]}"
read -r B_START B_END <<<"${RECS[-1]}"
expect_eq "the records end at the end of the file" "$FSIZE" "$B_END"
expect_eq "the last two records are adjacent" "$A_END" "$B_START"
ids_json() { local IFS=,; echo "[$*]"; }
WANT_NONE=$(ids_json "${IDS[@]}")
WANT_PREV=$(ids_json "${IDS[@]}" "$M_PREV")
WANT_ALL=$(ids_json "${IDS[@]}" "$M_PREV" "$M_LAST")
cut_fails=0
ncut=0
CUT_STEP=${CUT_STEP:-1}     # every byte offset; scripts/valgrind.sh samples (CUT_STEP=5)
cuts=()
for ((cut = A_START; cut <= FSIZE; cut++)); do
    if ((CUT_STEP > 1 && (cut - A_START) % CUT_STEP != 0 && cut != B_START && cut != FSIZE)); then continue; fi
    cuts+=("$cut")
done
# every cut log made by one process (rm, mkdir and head for each cost more than its server start)
"$CWPY" - "$D0/$LOG_NAME" "$TMP_ROOT/cut" "${cuts[@]}" <<'PY'
import os, sys
d = open(sys.argv[1], "rb").read()
for c in sys.argv[3:]:
    os.mkdir(sys.argv[2] + c)
    with open(os.path.join(sys.argv[2] + c, "chatd.log"), "wb") as f:
        f.write(d[:int(c)])
PY
# server_log_has TEXT: the current server log has TEXT, in any case (read by bash: no grep process)
server_log_has() { local log; log=$(<"$SERVER_LOG"); [[ ${log,,} == *"${1,,}"* ]]; }
for cut in "${cuts[@]}"; do
    f0=$FAILS   # (the jq check counts later: a cut failing only that does not stop the sweep)
    ncut=$((ncut + 1))
    Dc=$TMP_ROOT/cut$cut
    if ((cut < B_START)); then want=$WANT_NONE keep=$A_START
    elif ((cut < FSIZE)); then want=$WANT_PREV keep=$B_START
    else want=$WANT_ALL keep=$FSIZE; fi
    DATA_DIR=$Dc start_server
    req GET "/api/messages?conversation_id=$C&limit=200" "" "$A_TOK"
    expect_jq "[.messages[].id]" "$want"
    if ((cut == A_START || cut == B_START || cut == FSIZE)); then
        expect_true "cut at $cut (a record boundary): no torn tail reported" eval '! server_log_has torn'
    else
        expect_true "cut at $cut: the start reports the torn tail it cut" server_log_has "torn record at offset $keep"
    fi
    stop_server
    [ "$FAILS" != "$f0" ] && cut_fails=$((cut_fails + 1))
    ((cut_fails > 5)) && { echo "  (too many failing cut points; stopping the sweep)"; break; }
done
# After its start each cut's data dir must be what --check passes, cut back to the last whole
# record. --check is a function of the dir's files, and every cut's start must leave the same
# files as the cut at its record boundary (keep): so --check runs on those three dirs, and every
# other cut's dir is compared with its boundary's, file for file, byte for byte (one process for
# all: a --check for each cut cost more than its server start, ~80 ms of CPU each under ASan).
for b in "$A_START" "$B_START" "$FSIZE"; do
    run_check "$TMP_ROOT/cut$b"
    expect_eq "cut at $b (a record boundary): chatd --check after the start (output: ${CHECK_OUT:0:200})" 0 "$CHECK_RC"
done
declare -A cut_size cut_same
while read -r c s same; do cut_size[$c]=$s cut_same[$c]=$same; done < <("$CWPY" - "$TMP_ROOT/cut" "$A_START" "$B_START" "$FSIZE" "${cuts[@]:0:ncut}" <<'PY'
import os, sys
pre, a, b, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def files(d): return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))}
ref = {k: files(pre + str(k)) for k in (a, b, end)}
for c in map(int, sys.argv[5:]):
    keep = a if c < b else b if c < end else end
    got = files(pre + str(c))
    if got == ref[keep]: same = "same"
    elif sorted(got) != sorted(ref[keep]): same = "files %s, not %s" % (",".join(got), ",".join(ref[keep]))
    else: same = "bytes differ in " + ",".join(n for n in got if got[n] != ref[keep][n])
    print(c, len(got["chatd.log"]) if "chatd.log" in got else "none", same)
PY
)
for ((i = 0; i < ncut; i++)); do
    cut=${cuts[i]}
    if ((cut < B_START)); then keep=$A_START; elif ((cut < FSIZE)); then keep=$B_START; else keep=$FSIZE; fi
    expect_eq "cut at $cut: the file is cut back to the last whole record" "$keep" "${cut_size[$cut]-}"
    ((cut == A_START || cut == B_START || cut == FSIZE)) && continue   # (its --check ran above)
    expect_eq "cut at $cut: after the start its data dir is the one cut at $keep (--check passes it), byte for byte" \
        same "${cut_same[$cut]-}"
done
rm -rf "$TMP_ROOT"/cut*
echo "  cut the log at $ncut offsets ($A_START..$FSIZE)"

# 1b. zeros after the last record (written ahead by the store, or a file grown whose data never
# landed): free space, kept by a start and by --check, which says how much; posts land in it
Dz=$TMP_ROOT/zero-tail
mkdir -p "$Dz"
head -c "$FSIZE" "$D0/$LOG_NAME" >"$Dz/$LOG_NAME"
ZSIZE=$((FSIZE + 1048576 + 13))   # not a multiple of a page: any length of zeros is free space
truncate -s "$ZSIZE" "$Dz/$LOG_NAME"
run_check "$Dz"
expect_eq "chatd --check on a log with a zero tail (output: ${CHECK_OUT:0:200})" 0 "$CHECK_RC"
expect_match "... and says the free bytes" "$FSIZE bytes \\(\\+$((ZSIZE - FSIZE)) free\\).*: ok" "$CHECK_OUT"
DATA_DIR=$Dz start_server
expect_true "a start keeps the zero tail: no torn record reported" eval '! server_log_has torn'
req GET "/api/messages?conversation_id=$C&limit=200" "" "$A_TOK"
expect_jq "[.messages[].id]" "$WANT_ALL"
post_msg "$A_TOK" "$C" "over the zeros"
Z_MSG=$MSG_ID
Z_END=$(metric chatd_store_bytes)
stop_server
expect_eq "the post landed in the zeros: the file did not grow" "$ZSIZE" "$(stat -c %s "$Dz/$LOG_NAME")"
run_check "$Dz"
expect_match "chatd --check after it" "$Z_END bytes \\(\\+$((ZSIZE - Z_END)) free\\).*: ok" "$CHECK_OUT"
DATA_DIR=$Dz start_server
req GET "/api/messages/$Z_MSG" "" "$A_TOK"
expect_jq .message.body "over the zeros"
stop_server

# =============================================================================================
# 2. a flipped byte in the middle: refuse to start, --check names the offset, --repair
D1=$TMP_ROOT/flip
cp -r "$D0" "$D1"
mid=$(((${#RECS[@]} - 1) / 2))
read -r F_START F_END <<<"${RECS[$mid]}"
FLIP_AT=$((F_END - 2))       # inside the payload of the middle record
"$CWPY" - "$D1/$LOG_NAME" "$FLIP_AT" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x5A]))
PY
cp "$D1/$LOG_NAME" "$TMP_ROOT/damaged.orig"
if DATA_DIR=$D1 try_start_server; then
    fail "a flipped byte at $FLIP_AT (record at $F_START): the server refuses to start" "non-zero exit" "listening on $PORT"
    stop_server
else
    expect_true "refused start: non-zero exit status (got $SERVER_RC)" test "$SERVER_RC" != 0 -a "$SERVER_RC" != 124
    expect_true "refused start: the message names the file" grep -q "$LOG_NAME" "$SERVER_LOG"
    expect_true "refused start: the message names the offset ($F_START)" grep -q "offset $F_START" "$SERVER_LOG"
fi
expect_true "a refused start changes nothing" cmp -s "$D1/$LOG_NAME" "$TMP_ROOT/damaged.orig"
LAST_REQ="chatd --check (flipped byte at $FLIP_AT)"
run_check "$D1"
expect_true "chatd --check exits non-zero on damage (got $CHECK_RC)" test "$CHECK_RC" != 0
expect_match "chatd --check names the offset" "offset $F_START" "$CHECK_OUT"
expect_true "chatd --check changes nothing" cmp -s "$D1/$LOG_NAME" "$TMP_ROOT/damaged.orig"
LAST_REQ="chatd --repair (flipped byte at $FLIP_AT)"
REPAIR_OUT=$("$CHATD" --repair "$D1" 2>&1)
rc=$?
expect_eq "chatd --repair exit status (output: $(head -c 300 <<<"$REPAIR_OUT"))" 0 "$rc"
SIDE=$D1/$LOG_NAME.damaged-$F_START
expect_true "the damage is moved to $(basename "$SIDE") (dir: $(ls "$D1" | tr '\n' ' '))" test -f "$SIDE"
expect_true "the moved bytes are the original tail from offset $F_START" \
    cmp -s "$SIDE" <(tail -c +$((F_START + 1)) "$TMP_ROOT/damaged.orig")
expect_true "the kept log is the original prefix up to $F_START" \
    cmp -s "$D1/$LOG_NAME" <(head -c "$F_START" "$TMP_ROOT/damaged.orig")
run_check "$D1"
expect_eq "chatd --check after --repair (output: $(head -c 200 <<<"$CHECK_OUT"))" 0 "$CHECK_RC"
# the server starts with the prefix: the messages of the records before the damaged one
DATA_DIR=$D1 start_server
req GET "/api/messages?conversation_id=$C&limit=200" "" "$A_TOK"
expect_status 200
# records: user, token, conversation, then one per message: record i (0-based) >= 3 is message i-2
kept=()
for ((i = 3; i < mid; i++)); do kept+=("${IDS[$((i - 3))]}"); done
expect_jq "[.messages[].id]" "$(ids_json "${kept[@]}")"
req GET "/api/messages/${IDS[$((mid - 3))]}" "" "$A_TOK"
expect_status 404
post_msg "$A_TOK" "$C" "after the repair"
req GET "/api/messages/$MSG_ID" "" "$A_TOK"
expect_jq .message.body "after the repair"
stop_server

# =============================================================================================
# 3. disk full (a file-size limit) and recovery without a restart
if command -v prlimit >/dev/null 2>&1; then
    SERVER_WRAP=(prlimit --fsize=49152:unlimited --)
else
    SERVER_WRAP=(bash -c 'ulimit -S -f 48; exec "$@"' limit)
    echo "  note: no prlimit (util-linux): the limit cannot be raised on the running server; that part is SKIPPED"
fi
start_server --fsync always
unset SERVER_WRAP
D3=$SERVER_DATA_DIR
new_user F full
new_conv "$F_TOK" "full" "[]"
FC=$CONV_ID
acked=()
got507=0
BIG=$(rep x 15000)
for i in 1 2 3 4 5 6 7 8; do
    req POST /api/messages "$(mbody "$FC" "big $i $BIG")" "$F_TOK"
    if [ "$STATUS" == 201 ]; then acked+=("$(jqb .message.id)")
    elif [ "$STATUS" == 507 ]; then got507=$((got507 + 1)); expect_error 507 insufficient_storage; break
    else fail "a write near the limit is 201 or 507" "201|507" "$STATUS"; break; fi
done
expect_true "a write past the file-size limit is 507 (after ${#acked[@]} that fit)" test "$got507" == 1
expect_true "some writes fit under the limit (${#acked[@]})" test "${#acked[@]}" -ge 1
ACKED_JSON=$(ids_json "${acked[@]}")
size=$(metric chatd_store_bytes)   # the file goes on with the zeros written ahead that fitted
expect_eq "nothing of the refused write is in the file (only zeros after chatd_store_bytes)" "" \
    "$(tail -c +$((size + 1)) "$D3/$LOG_NAME" | tr -d '\0' | head -c 100)"
expect_true "the log ends on a record boundary after the refusal" \
    test "$(records "$D3/$LOG_NAME" | tail -n 1 | cut -d' ' -f2)" == "$size"
req GET "/api/messages?conversation_id=$FC&limit=200" "" "$F_TOK"
expect_status 200
expect_jq "[.messages[].id]" "$ACKED_JSON"
req GET "/api/messages/${acked[0]}" "" "$F_TOK"
expect_status 200
expect_jq '.message.body | startswith("big 1 ")' true
req PUT "/api/messages/${acked[0]}" "{\"body\":\"edit $BIG\"}" "$F_TOK"
expect_error 507 insufficient_storage
req GET "/api/messages/${acked[0]}" "" "$F_TOK"
expect_jq .message.edited false
req GET /healthz
expect_status 200
if command -v prlimit >/dev/null 2>&1; then
    LAST_REQ="prlimit --pid $SERVER_PID --fsize=unlimited"
    pid_before=$SERVER_PID
    expect_true "prlimit raises the limit of the running server" prlimit --pid "$SERVER_PID" --fsize=unlimited:unlimited
    req POST /api/messages "$(mbody "$FC" "big again $BIG")" "$F_TOK"
    expect_status 201
    acked+=("$(jqb .message.id)")
    req PUT "/api/messages/${acked[0]}" "{\"body\":\"edited after the limit went\"}" "$F_TOK"
    expect_status 200
    expect_eq "no restart happened" "$pid_before" "$SERVER_PID"
    expect_true "the server is the same process" _alive "$SERVER_PID"
    ACKED_JSON=$(ids_json "${acked[@]}")
else
    echo "  SKIP: raising the limit of the running process (no prlimit)"
fi
restart_server
req GET "/api/messages?conversation_id=$FC&limit=200" "" "$F_TOK"
expect_jq "[.messages[].id]" "$ACKED_JSON"
expect_jq '[.messages[] | select(.body | startswith("edit "))] | length' 0
if command -v prlimit >/dev/null 2>&1; then
    req GET "/api/messages/${acked[0]}" "" "$F_TOK"
    expect_jq .message.body "edited after the limit went"
fi
stop_server
run_check "$D3"
expect_eq "chatd --check after the disk-full episode (output: $(head -c 200 <<<"$CHECK_OUT"))" 0 "$CHECK_RC"

# =============================================================================================
# 4. a live backup: cp of the log while writes go on; it starts with every write acknowledged
#    before the copy began
start_server --fsync always
D4=$SERVER_DATA_DIR
STATE=$TMP_ROOT/backup-state.json
MARK=$TMP_ROOT/mark.json
rm -f "$TMP_ROOT/ready" "$TMP_ROOT/stop" "$MARK"
"$CWPY" "$CW" write --port "$PORT" --state "$STATE" --threads 4 --tag b --ready "$TMP_ROOT/ready" \
    --stop-file "$TMP_ROOT/stop" --mark-file "$MARK" --max-seconds 30 >"$TMP_ROOT/bw.out" 2>&1 &
WPID=$!
EXTRA_PIDS=$WPID
n=300
while ((n-- > 0)) && [ ! -e "$TMP_ROOT/ready" ] && kill -0 "$WPID" 2>/dev/null; do nap 0.1; done
expect_true "the writers got going" test -e "$TMP_ROOT/ready"
nap 0.$((3 + RANDOM % 5))
kill -USR1 "$WPID"
n=100
while ((n-- > 0)) && [ ! -s "$MARK" ]; do nap 0.05; done
BK=$TMP_ROOT/backup
mkdir -p "$BK"
cp "$D4/$LOG_NAME" "$BK/"       # the backup: one file, copied while the writes go on
nap 0.3
: >"$TMP_ROOT/stop"
n=300
while ((n-- > 0)) && kill -0 "$WPID" 2>/dev/null; do nap 0.1; done
wait "$WPID"
wrc=$?
EXTRA_PIDS=
W=$(tail -n 1 "$TMP_ROOT/bw.out")
expect_eq "backup writers: exit status (report: $(head -c 300 <<<"$W"))" 0 "$wrc"
mark=$(jq -r .mark "$MARK" 2>/dev/null)
W_ACKED=$(jq -r .acked <<<"$W")
expect_match "writes acknowledged before the copy began" '^[0-9]+$' "$mark"
expect_true "writes went on after the copy (acked $W_ACKED > $mark)" test "$W_ACKED" -gt "${mark:-0}"
# a second server on the backup, while the first keeps running
FIRST_PID=$SERVER_PID FIRST_PORT=$PORT FIRST_BASE=$BASE FIRST_LOG=$SERVER_LOG FIRST_DIR=$SERVER_DATA_DIR
EXTRA_PIDS=$FIRST_PID
SERVER_PID=
DATA_DIR=$BK start_server --fsync always
grep -qi torn "$SERVER_LOG" && echo "  note: the copy caught half a record; the start cut it"
LAST_REQ="crash_writer check on the backup (mark $mark)"
# check_report: the checker's errors and acked_checked (one jq; its output if that fails)
check_report() {
    C_ERRORS= C_CHECKED=
    { read -r C_ERRORS && read -r C_CHECKED; } < <(jq -c '.errors, .acked_checked' <<<"$C" 2>&1) || C_ERRORS=$C
}
C=$("$CWPY" "$CW" check --port "$PORT" --state "$STATE" --mark-file "$MARK" 2>&1 | tail -n 1)
check_report
expect_eq "the backup has every write acknowledged before the copy" "[]" "$C_ERRORS"
expect_eq "writes checked on the backup" "$mark" "$C_CHECKED"
{ read -r W0_TOK; read -r W0_CONV; } < <(jq -r '.users["b-w0"].token, .convs["b-w0-c0"].id' "$STATE")
post_msg "$W0_TOK" "$W0_CONV" "written to the restored backup"
stop_server
run_check "$BK"
expect_eq "chatd --check on the backup after its server stopped" 0 "$CHECK_RC"
# the original has everything
SERVER_PID=$FIRST_PID PORT=$FIRST_PORT BASE=$FIRST_BASE SERVER_LOG=$FIRST_LOG SERVER_DATA_DIR=$FIRST_DIR
EXTRA_PIDS=
LAST_REQ="crash_writer check on the original"
C=$("$CWPY" "$CW" check --port "$PORT" --state "$STATE" 2>&1 | tail -n 1)
check_report
expect_eq "the original has every acknowledged write" "[]" "$C_ERRORS"
expect_eq "writes checked on the original" "$W_ACKED" "$C_CHECKED"
echo "  backup: $mark writes acknowledged before the copy, $W_ACKED in all"
stop_server

# =============================================================================================
# A log written by other means than the API may hold a conversation larger than the API's
# 1000 members: deleting a member's account must still work (it once overflowed a fixed
# 1001-entry buffer; the ASan build of this test catches that).
BIG=$TMP_ROOT/bigconv
mkdir -p "$BIG"
BIG_TOK=$("$PYTHON" - "$BIG/chatd.log" <<'PYEOF'
import base64, hashlib, os, struct, sys
T = []
for i in range(256):
    c = i
    for _ in range(8): c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b: c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
def s(t): return struct.pack("<I", len(t)) + t
seq = 0
out = bytearray(b"CHATDLG1")
def rec(typ, payload):
    global seq
    seq += 1
    body = struct.pack("<QB", seq, typ) + payload
    out.extend(struct.pack("<II", len(body), crc32c(body)) + body)
N = 1500
PWHASH = hashlib.pbkdf2_hmac("sha256", b"password123", bytes(16), 1000)   # every user's password
for uid in range(1, N + 1):   # REC_USER_CREATE: id, created, username, display, iters, salt, hash
    rec(1, struct.pack("<IQ", uid, 1700000000000) + s(b"big%d" % uid) + s(b"") + struct.pack("<I", 1000) + bytes(16) + PWHASH)
raw = os.urandom(32)
rec(4, struct.pack("<I", 1) + hashlib.sha256(raw).digest())   # REC_TOKEN_ADD for user 1
members = b"".join(struct.pack("<I", u) for u in range(1, N + 1))   # REC_CONV_CREATE, all of them
rec(6, struct.pack("<IIQ", 1, 1, 1700000000000) + s(b"big") + struct.pack("<I", N) + members + struct.pack("<I", 0))
open(sys.argv[1], "wb").write(out)
print(base64.urlsafe_b64encode(raw).decode().rstrip("="))
PYEOF
)
DATA_DIR=$BIG start_server
req GET /api/conversations/1 "" "$BIG_TOK"
expect_status 200
expect_eq "the hand-written conversation has 1500 members" 1500 "$(jqb '.conversation.member_ids | length')"
req DELETE /api/users/1 '{"password":"password123"}' "$BIG_TOK"
expect_status 204
stop_server
DATA_DIR=$BIG start_server
req POST /api/users/login '{"username":"big2","password":"whatever"}'
expect_error 401 ""
expect_true "the server replays the deletion (log: $SERVER_LOG)" grep -q "records replayed" "$SERVER_LOG"
stop_server

# =============================================================================================
# A record type this chatd does not know (a newer version wrote it) is refused at replay with
# its offset and type, never skipped: a skipped record would be dropped by the next compaction.
UNK=$TMP_ROOT/unknown
mkdir -p "$UNK"
UNK_OFF=$("$PYTHON" - "$UNK/chatd.log" <<'PYEOF'
import struct, sys
T = []
for i in range(256):
    c = i
    for _ in range(8): c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b: c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
out = bytearray(b"CHATDLG1")
def rec(seq, typ, payload):
    body = struct.pack("<QB", seq, typ) + payload
    out.extend(struct.pack("<II", len(body), crc32c(body)) + body)
rec(1, 1, struct.pack("<IQ", 1, 1700000000000) + struct.pack("<I", 3) + b"ann" + struct.pack("<I", 0)
    + struct.pack("<I", 1000) + bytes(48))
off = len(out)
rec(2, 99, b"a record from the future")
open(sys.argv[1], "wb").write(out)
print(off)
PYEOF
)
cp "$UNK/$LOG_NAME" "$TMP_ROOT/unknown.orig"
if DATA_DIR=$UNK try_start_server; then
    fail "an unknown record type: the server refuses to start" "non-zero exit" "listening on $PORT"
    stop_server
else
    expect_true "unknown type: non-zero exit status (got $SERVER_RC)" test "$SERVER_RC" != 0 -a "$SERVER_RC" != 124
    expect_true "unknown type: the message names type 99 at offset $UNK_OFF ($(head -c 300 "$SERVER_LOG"))" \
        grep -q "unknown record type 99 at offset $UNK_OFF" "$SERVER_LOG"
fi
expect_true "an unknown type changes nothing" cmp -s "$UNK/$LOG_NAME" "$TMP_ROOT/unknown.orig"
run_check "$UNK"
expect_true "chatd --check exits non-zero on an unknown type (got $CHECK_RC)" test "$CHECK_RC" != 0
expect_match "chatd --check names the type and offset" "unknown record type 99 at offset $UNK_OFF" "$CHECK_OUT"
