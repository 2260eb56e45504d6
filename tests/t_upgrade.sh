#!/usr/bin/env bash
# t_upgrade.sh — the log format and its upgrade path (issue 12 item 7; README "Log format"):
# a data dir of format 1 — tests/fixtures/v1, written by the v1 release (d6cdf52), and one this
# test writes with that release's own binary, built from git when the history is here — starts
# on this binary with everything intact; its header becomes format 2 before anything new is
# written, and new records follow and survive a restart and a compaction. `chatd --check` reads
# format 1 and changes nothing. A log of a newer format is refused (start-up and --check) with
# its format named, untouched. And the v1 binary refuses a format-2 log at offset 0 (bad magic)
# instead of misreading what it does not know (read markers, direct conversations, replies...).
source "$(dirname "$0")/lib.sh"
TOP=$(cd "$(dirname "$0")/.." && pwd)
FIXTURE=$TOP/tests/fixtures/v1
V1_COMMIT=d6cdf52

magic() { head -c 8 "$1/chatd.log"; }

# check_v1 DIR: start on DIR (format 1, as scripts/v1fixture.sh writes it) and check each thing
# it holds, with the token it wrote; then add a post and a read marker
check_v1() {
    local d=$1 tok
    tok=$(cat "$d/TOKEN")
    DATA_DIR=$d start_server
    expect_eq "$d: the header is format 2 once the server is up" CHATDLG2 "$(magic "$d")"
    expect_true "$d: the upgrade is reported" grep -q "log format 1 upgraded to 2" "$SERVER_LOG"
    req GET /api/users/1 "" "$tok"
    expect_jq '.user | [.username, .display_name]' '["alice","Alice A"]'
    req GET /api/users/4 "" "$tok"
    expect_jq .user.display_name "Dave D"
    req GET /api/users/3 "" "$tok"
    expect_status 404
    req POST /api/users/login '{"username":"bob","password":"password123"}'
    expect_status 200
    req POST /api/users/login '{"username":"carol","password":"password123"}'
    expect_status 401
    req GET /api/conversations "" "$tok"
    expect_jq '[.conversations[] | [.id, .title, .member_ids]]' '[[2,"side2",[1]],[1,"team",[1,2,4]]]'
    req GET /api/conversations/3 "" "$tok"
    expect_status 404
    req GET "/api/messages?conversation_id=1" "" "$tok"
    expect_jq '[.messages[] | [.id, .body, .edited, .reply_to_id]]' \
        '[[1,"m1",false,null],[2,"m2 edited",true,null],[3,"m3",false,null],[5,"m5",false,null]]'
    req GET /api/messages/4 "" "$tok"
    expect_status 404
    req POST /api/messages '{"conversation_id":2,"body":"keyed"}' "$tok" -H 'Idempotency-Key: k1'
    expect_status 200
    expect_jq .message.id 6
    # new records after the old ones: a post (a reply) and a read marker
    req POST /api/messages '{"conversation_id":1,"body":"after the upgrade","reply_to_id":3}' "$tok"
    expect_status 201
    NEW=$(jqb .message.id)
    expect_eq "$d: the new message takes the next id" 7 "$NEW"
    req POST /api/users/login '{"username":"bob","password":"password123"}'
    BOB=$(jqb .token)
    req POST /api/conversations/1/read '{"message_id":3}' "$BOB"
    expect_jq '.conversation | [.last_read_message_id, .unread_count]' '[3,2]'
    restart_server
    req GET "/api/messages/$NEW" "" "$tok"
    expect_jq '.message | [.body, .reply_to_id]' '["after the upgrade",3]'
    req GET /api/conversations/1/reads "" "$tok"
    expect_jq '[.reads[].last_read_message_id]' "[$NEW,3,null]"
    stop_server
    out=$("$CHATD" --compact "$d" 2>&1); rc=$?   # before the message's $(...) resets $?
    expect_eq "$d: --compact (output: $(head -c 200 <<<"$out"))" 0 "$rc"
    expect_eq "$d: a compacted log is format 2" CHATDLG2 "$(magic "$d")"
    DATA_DIR=$d start_server
    req GET "/api/messages?conversation_id=1" "" "$tok"
    expect_jq '[.messages[].body]' '["m1","m2 edited","m3","m5","after the upgrade"]'
    req GET /api/conversations/1/reads "" "$tok"
    expect_jq '[.reads[].last_read_message_id]' "[$NEW,3,null]"
    stop_server
}

# --- the checked-in format-1 log
mkdir -p "$TMP_ROOT/fx"
cp "$FIXTURE/chatd.log" "$FIXTURE/TOKEN" "$TMP_ROOT/fx/"
expect_eq "the fixture is format 1" CHATDLG1 "$(magic "$TMP_ROOT/fx")"
# --check reads it as it is
cp "$FIXTURE/chatd.log" "$TMP_ROOT/fx.orig"
LAST_REQ="chatd --check (format 1)"
out=$("$CHATD" --check "$TMP_ROOT/fx" 2>&1); rc=$?   # before the message's $(...) resets $?
expect_eq "--check on format 1 (output: $(head -c 200 <<<"$out"))" 0 "$rc"
expect_true "--check changes nothing (still format 1)" cmp -s "$TMP_ROOT/fx/chatd.log" "$TMP_ROOT/fx.orig"
check_v1 "$TMP_ROOT/fx"

# --- a log of a newer format: refused, its format named, nothing changed
mkdir -p "$TMP_ROOT/v3"
{ printf 'CHATDLG3'; tail -c +9 "$FIXTURE/chatd.log"; } >"$TMP_ROOT/v3/chatd.log"
cp "$TMP_ROOT/v3/chatd.log" "$TMP_ROOT/v3.orig"
if DATA_DIR=$TMP_ROOT/v3 try_start_server; then
    fail "a format-3 log: the server refuses to start" "non-zero exit" "listening on $PORT"
    stop_server
else
    expect_true "format 3: non-zero exit (got $SERVER_RC)" test "$SERVER_RC" != 0 -a "$SERVER_RC" != 124
    expect_true "format 3: the message names the format ($(head -c 300 "$SERVER_LOG"))" \
        grep -q "log format 3 is newer than this chatd reads" "$SERVER_LOG"
fi
out=$("$CHATD" --check "$TMP_ROOT/v3" 2>&1)
rc=$?
expect_true "--check refuses format 3 (rc $rc)" test "$rc" != 0
expect_match "--check names the format" "log format 3 is newer than this chatd reads" "$out"
expect_true "a newer format is left as it is" cmp -s "$TMP_ROOT/v3/chatd.log" "$TMP_ROOT/v3.orig"

# --- the v1 release itself: a format-1 dir it writes now, and what it makes of format 2
# Its binary is built from git once and kept in build/ (the commit never changes; the build costs
# ~6 CPU-s, more than the rest of this file): the plain and the ASan suite, and every later run,
# use that one. One build at a time (flock): the two suites may get here together.
if git -C "$TOP" cat-file -e "$V1_COMMIT^{commit}" 2>/dev/null; then
    V1DIR=$TOP/build/v1-$V1_COMMIT
    OLD_BIN=$V1DIR/chatd
    mkdir -p "$V1DIR"
    exec {lock}>"$V1DIR/lock"
    command -v flock >/dev/null && flock "$lock"
    LAST_REQ="make chatd at $V1_COMMIT"
    if [ -x "$OLD_BIN" ]; then
        rc=0 built="built by an earlier run: $OLD_BIN"
    else
        OLD=$TMP_ROOT/old
        mkdir -p "$OLD"
        git -C "$TOP" archive "$V1_COMMIT" | tar -x -C "$OLD"
        make -C "$OLD" -j2 chatd >"$OLD/build.log" 2>&1; rc=$?   # before the message's $(...) resets $?
        built=$(tail -n 3 "$OLD/build.log" | tr '\n' ' ' | cut -c1-200)
        # the binary appears whole or not at all (a rename), never half copied
        [ "$rc" == 0 ] && cp "$OLD/chatd" "$OLD_BIN.$$" && mv "$OLD_BIN.$$" "$OLD_BIN"
    fi
    exec {lock}>&-
    expect_eq "the v1 release builds ($built)" 0 "$rc"
    LAST_REQ="scripts/v1fixture.sh $OLD_BIN"
    "$TOP/scripts/v1fixture.sh" "$OLD_BIN" "$TMP_ROOT/v1b" >"$TMP_ROOT/v1b.out" 2>&1; rc=$?   # before the message's $(...) resets $?
    expect_eq "the v1 release writes a data dir ($(tail -n 2 "$TMP_ROOT/v1b.out" | tr '\n' ' '))" 0 "$rc"
    expect_eq "... of format 1" CHATDLG1 "$(magic "$TMP_ROOT/v1b")"
    check_v1 "$TMP_ROOT/v1b"
    cp "$TMP_ROOT/v1b/chatd.log" "$TMP_ROOT/v1b.orig"
    out=$("$OLD_BIN" --check "$TMP_ROOT/v1b" 2>&1)
    rc=$?
    expect_true "the v1 binary's --check refuses a format-2 log (rc $rc)" test "$rc" != 0
    expect_match "... at offset 0, the header" "offset 0: bad magic" "$out"
    out=$(timeout 10 "$OLD_BIN" --port 0 --bind 127.0.0.1 --data-dir "$TMP_ROOT/v1b" 2>&1)
    rc=$?
    expect_true "the v1 binary does not start on a format-2 log (rc $rc)" test "$rc" != 0 -a "$rc" != 124
    expect_match "... and says why" "cannot open the store: .*offset 0: bad magic" "$out"
    expect_true "... changing nothing" cmp -s "$TMP_ROOT/v1b/chatd.log" "$TMP_ROOT/v1b.orig"
else
    note "no git history with $V1_COMMIT here: the v1 binary part is left out"
fi
