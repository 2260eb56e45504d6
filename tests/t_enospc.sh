#!/usr/bin/env bash
# A real full disk: the data directory on an 8 MiB tmpfs mounted here (the log grows by a MiB of
# zeros written ahead at a time, and each part below uses up about a MiB of it; needs root; SKIP
# without, a failure under CI=true). Filled with a file until ENOSPC and the zeros the store wrote
# ahead of its records (--fsync always) used up, writes must get 507
# insufficient_storage with nothing of them stored — also a change made of several records
# (registration: user + token; account deletion: one record per conversation left + the delete)
# when the space left holds only part of it — reads keep working, compaction does not spin on the
# full disk, and once space is freed writes succeed again without a restart; a restart replays
# cleanly, `chatd --check` passes, and every acknowledged write is there.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root to mount a tmpfs (a real ENOSPC)"
    exit 0
fi
MNT=$TMP_ROOT/small
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=8m tmpfs "$MNT" 2>"$TMP_ROOT/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here: $(cat "$TMP_ROOT/mount.err")"
    exit 0
fi
trap 'rc=$?; [ -n "$SERVER_PID" ] && kill9_server; umount -l "$MNT"; (exit $rc); _cleanup' EXIT
D=$MNT/data
LOG=$D/chatd.log
size() { metric chatd_store_bytes; }          # the end of the last record
fsize() { stat -c %s "$LOG"; }                 # the file: the records, then zeros written ahead
ahead() { echo $(( $(fsize) - $(size) )); }    # room for records without a new block
only_zeros_after() {   # OFFSET: every byte of the log from OFFSET on is zero
    "$CWPY" -c 'import sys; d = open(sys.argv[1], "rb").read()[int(sys.argv[2]):]; sys.exit(d.count(0) != len(d))' \
        "$LOG" "$1"
}
fill() {   # take every free block of the tmpfs
    rm -f "$MNT/filler"
    dd if=/dev/zero of="$MNT/filler" bs=4096 status=none 2>/dev/null
    dd if=/dev/zero of="$MNT/filler" bs=1 oflag=append conv=notrunc status=none 2>/dev/null
}
unfill() { rm -f "$MNT/filler"; }
XS=$(head -c 16000 /dev/zero | tr '\0' x)   # a body of N x's: ${XS:0:N} (not two processes each)
# bulk post N BYTES (N messages of BYTES to CONV, each must be 201; adds them to ACKED) or
# bulk check ID:LEN... (prints how many are missing or changed): the many requests here made by
# one keep-alive client (crash_writer.py's: no http.client to import), not a process or two each
bulk() {
    local out
    out=$("$CWPY" - "$CW" "$PORT" "$A_TOK" "$CONV" "$@" <<'PY'
import json, os, sys
sys.path.insert(0, os.path.dirname(sys.argv.pop(1)))
sys.dont_write_bytecode = True   # no __pycache__ left in tests/
from crash_writer import Client
port, tok, conv, cmd = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Client(port, timeout=30)
if cmd == "post":
    for _ in range(int(sys.argv[5])):
        st, doc = c.request("POST", "/api/messages", {"conversation_id": conv, "body": "x" * int(sys.argv[6])}, tok)
        if st != 201: sys.exit("POST: %d %s" % (st, json.dumps(doc)[:200]))
        print("%d:%s" % (doc["message"]["id"], sys.argv[6]))
else:
    bad = 0
    for a in sys.argv[5:]:
        i, want = a.split(":")
        st, doc = c.request("GET", "/api/messages/" + i, None, tok)
        got = doc["message"]["body"] if st == 200 else None
        bad += got is None or (want not in got if want in ("edited", "after") else len(got) != int(want))
    print(bad)
PY
    ) || fail "bulk $1 $2: $out"
    [ "$1" == post ] && { mapfile -t -O "${#ACKED[@]}" ACKED <<<"$out"; return; }
    echo "$out"
}
# leave R: the disk full and exactly R bytes of zeros ahead left for records (posts over them)
leave() {
    local r=$1 b
    (($(ahead) < 65536)) && bulk post 5 16000   # room first: one of these writes zeros ahead
    fill
    b=$(($(ahead) - r - OVERHEAD - 16000))
    ((b > 0)) && bulk post $((b / (8000 + OVERHEAD) + 1)) 8000
    b=$(($(ahead) - r - OVERHEAD))
    ((b >= 1)) && bulk post 1 "$b"
    expect_eq "$r bytes are left for the log (disk full, zeros ahead used up to them)" "$r" "$(ahead)"
}

DATA_DIR=$D start_server --fsync always --compact-pct 0
new_user A alice
new_user B bob
new_conv "$A_TOK" "full disk" "[$B_ID]"
CONV=$CONV_ID
ACKED=()   # id:body length of every message acknowledged
s0=$(size)
post_msg "$A_TOK" "$CONV" "${XS:0:10}"
ACKED+=("$MSG_ID:10")
OVERHEAD=$(( $(size) - s0 - 10 ))
note "a message record is $OVERHEAD bytes + its body"

# ---- 1. the disk fills up under ordinary posts: 201 until it is full and the zeros written
# ahead are used up, then 507, nothing half (the part of a refused post that landed is zeroed)
fill
note "disk full with $(ahead) bytes of zeros ahead of the log's end"
b=$(($(ahead) - 30000))
((b > 0)) && bulk post $((b / (8000 + OVERHEAD) + 1)) 8000   # most of them used up at once
n201=0 n507=0 other=""
for i in {1..40}; do
    b=$(( (i * 997) % 12000 + 1 ))
    s1=$(size) f1=$(fsize)
    req POST /api/messages "{\"conversation_id\":$CONV,\"body\":\"${XS:0:b}\"}" "$A_TOK"
    if [ "$STATUS" == 201 ]; then
        _jid message   # (lib.sh: the id read by bash when the answer has its usual shape)
        n201=$((n201 + 1)); ACKED+=("$JID:$b")
    elif [ "$STATUS" == 507 ]; then
        n507=$((n507 + 1))
        [ "$n507" == 1 ] && expect_error_code insufficient_storage
        expect_eq "a refused post leaves the log as it was" "$s1" "$(size)"
        expect_eq "... and the file's size" "$f1" "$(fsize)"
        expect_true "... with only zeros after the log's end" only_zeros_after "$s1"
        ((n507 >= 5)) && break
    else other+=" $STATUS"; fi
done
note "on the full disk: $n201 posts stored, $n507 refused"
expect_true "posts on the full disk were refused with 507 ($n507)" test "$n507" -ge 1
expect_eq "nothing but 201 or 507" "" "$other"
req GET "/api/messages?conversation_id=$CONV&limit=5" "" "$B_TOK"
expect_status 200
req GET /healthz
expect_status 200

# ---- 2. registration is two records: room for the first only must store neither
unfill
s0=$(size)
req POST /api/users/register '{"username":"sizing_1","password":"password123"}'
expect_status 201
REG=$(( $(size) - s0 ))
s0=$(size)
req POST /api/users/login '{"username":"sizing_1","password":"password123"}'
expect_status 200
TOKREC=$(( $(size) - s0 ))
leave $((REG - TOKREC / 2))
req POST /api/users/register '{"username":"halfway","password":"password123"}'
expect_error 507 insufficient_storage
unfill
req POST /api/users/login '{"username":"halfway","password":"password123"}'
expect_error 401 ""
req POST /api/users/register '{"username":"halfway","password":"password123"}'
expect_status 201     # not 409: the refused registration stored nothing

# ---- 3. account deletion: a record per conversation left, then the delete
new_user C carol
new_user E erin
for t in one two three; do new_conv "$A_TOK" "with carol and erin $t" "[$C_ID,$E_ID]"; done
s0=$(size)
req DELETE "/api/users/$E_ID" '{"password":"password123"}' "$E_TOK"
expect_status 204
DEL=$(( $(size) - s0 ))
leave $((DEL / 2))
req DELETE "/api/users/$C_ID" '{"password":"password123"}' "$C_TOK"
expect_error 507 insufficient_storage
unfill
req GET "/api/conversations" "" "$C_TOK"
expect_status 200      # her token still works ...
expect_jq '[.conversations[] | select(.title | startswith("with carol"))] | length' 3   # ... she left none
req DELETE "/api/users/$C_ID" '{"password":"password123"}' "$C_TOK"
expect_status 204

# ---- 4. compaction on a full disk: abandoned, retried with a pause, not every loop turn
stop_server
DATA_DIR=$D start_server --fsync always --compact-pct 1 --compact-min 5   # 1 %: the log holds many posts
post_msg "$A_TOK" "$CONV" "to be edited"
ACKED+=("$MSG_ID:edited")
EDITED=$MSG_ID
fill
for i in {1..10}; do req PUT "/api/messages/$EDITED" '{"body":"x"}' "$A_TOK"; done
before=$(grep -c 'compaction abandoned' "$SERVER_LOG")
Y=$(mbody "$CONV" "y")
for i in {1..40}; do req POST /api/messages "$Y" "$A_TOK"; done
sleep 2
after=$(grep -c 'compaction abandoned' "$SERVER_LOG")
note "compactions abandoned on the full disk: $before, then $after after 40 more requests and 2 s"
expect_true "compaction on a full disk is not retried every turn ($((after - before)) more attempts)" \
    test $((after - before)) -le 3
expect_true "... but it was tried, and abandoned ($after)" test "$after" -ge 1
unfill
req PUT "/api/messages/$EDITED" '{"body":"edited"}' "$A_TOK"
expect_status 200      # space is back: writes succeed without a restart
post_msg "$A_TOK" "$CONV" "after the disk was freed"
ACKED+=("$MSG_ID:after")

# ---- 5. restart: clean replay, every acknowledged write there
stop_server
"$CHATD" --check "$D" >"$TMP_ROOT/check.out" 2>&1
rc=$?
expect_eq "chatd --check after the full disk: $(tail -n 2 "$TMP_ROOT/check.out")" 0 "$rc"
DATA_DIR=$D start_server --fsync always --compact-pct 0
expect_true "the restart replays without cutting or refusing anything" \
    bash -c "! grep -qiE 'torn|corrupt|damage' '$SERVER_LOG'"
missing=$(bulk check "${ACKED[@]}")
expect_eq "acknowledged messages missing or changed after the restart (of ${#ACKED[@]})" 0 "$missing"
req POST /api/users/login '{"username":"halfway","password":"password123"}'
expect_status 200
req POST /api/users/login '{"username":"carol","password":"password123"}'
expect_error 401 ""
stop_server
