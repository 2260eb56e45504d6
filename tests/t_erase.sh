#!/usr/bin/env bash
# Erasure: a deleted message's body, the bodies of a deleted conversation's messages and the body
# an edit replaced must leave chatd.log within --erase-within seconds (the compaction it triggers),
# not only once obsolete records reach --compact-pct of the log. Checked by grepping the file.
# Also: an offline `chatd --compact` erases them too; what is live stays readable, edited stays
# edited, and a restart replays the erased log.
. "$(dirname "$0")/lib.sh"

TAG=$RANDOM$RANDOM
in_log() { grep -c -a -F "$1" "$SERVER_DATA_DIR/chatd.log"; }   # occurrences of a body in the log
wait_for() {   # SECONDS command...: poll until the command succeeds
    local n=$(($1 * 10))
    shift
    while ((n-- > 0)); do "$@" && return 0; nap 0.1; done
    return 1
}
gone() { local b; for b in "$@"; do [ "$(in_log "$b")" == 0 ] || return 1; done; }

# ---- 1. the default (an hour): a deletion alone does not rewrite the log at once
start_server
new_user A alice
new_user B bob
new_conv "$A_TOK" "kept" "[$B_ID]"
KEPT=$CONV_ID
new_conv "$A_TOK" "to be deleted" "[$B_ID]"
DOOMED=$CONV_ID
post_msg "$A_TOK" "$KEPT" "deleted-body-$TAG"; DEL_ID=$MSG_ID
post_msg "$A_TOK" "$KEPT" "original-body-$TAG"; EDIT_ID=$MSG_ID
post_msg "$B_TOK" "$KEPT" "live-body-$TAG"; LIVE_ID=$MSG_ID
post_msg "$B_TOK" "$DOOMED" "in-deleted-conversation-$TAG"
req PUT "/api/messages/$EDIT_ID" "{\"body\":\"edited-body-$TAG\"}" "$A_TOK"
expect_status 200
req DELETE "/api/messages/$DEL_ID" "" "$A_TOK"
expect_status 204
req DELETE "/api/conversations/$DOOMED" "" "$A_TOK"
expect_status 204
nap 1.5
expect_eq "with the default bound, the deleted body is still in the log after 1.5 s" 1 "$(in_log "deleted-body-$TAG")"
expect_eq "... and the body an edit replaced" 1 "$(in_log "original-body-$TAG")"
expect_eq "no compaction ran" 0 "$(metric chatd_compactions_total)"
stop_server

# ---- 2. offline compaction erases them (the edited message's old body too)
cp -a "$SERVER_DATA_DIR" "$TMP_ROOT/copy"
"$CHATD" --compact "$TMP_ROOT/copy" >"$TMP_ROOT/compact.out" 2>&1
rc=$?
expect_eq "chatd --compact: $(tail -n 1 "$TMP_ROOT/compact.out")" 0 "$rc"
for b in deleted-body original-body in-deleted-conversation; do
    expect_eq "after chatd --compact, $b is gone from the log" 0 \
        "$(grep -c -a -F "$b-$TAG" "$TMP_ROOT/copy/chatd.log")"
done
expect_eq "after chatd --compact, the edited body is there" 1 "$(grep -c -a -F "edited-body-$TAG" "$TMP_ROOT/copy/chatd.log")"

# ---- 3. --erase-within 1: at start-up (what the log already holds) and while running
DATA_DIR=$SERVER_DATA_DIR start_server --erase-within 1
expect_true "within the bound (+ generous slack), the deleted bodies leave the log" \
    wait_for 20 gone "deleted-body-$TAG" "original-body-$TAG" "in-deleted-conversation-$TAG"
expect_eq "the live body stays" 1 "$(in_log "live-body-$TAG")"
expect_eq "the edited body stays" 1 "$(in_log "edited-body-$TAG")"
req GET "/api/messages/$EDIT_ID" "" "$A_TOK"
expect_jq '.message.body + " " + (.message.edited | tostring)' "edited-body-$TAG true"
req GET "/api/messages/$LIVE_ID" "" "$A_TOK"
expect_jq .message.body "live-body-$TAG"
n1=$(metric chatd_compactions_total)
post_msg "$B_TOK" "$KEPT" "second-deleted-$TAG"
req DELETE "/api/messages/$MSG_ID" "" "$B_TOK"
expect_status 204
post_msg "$A_TOK" "$KEPT" "second-original-$TAG"; E2=$MSG_ID
req PUT "/api/messages/$E2" "{\"body\":\"second-edited-$TAG\"}" "$A_TOK"
expect_status 200
expect_true "a deletion while running leaves the log within the bound" \
    wait_for 20 gone "second-deleted-$TAG" "second-original-$TAG"
expect_eq "... and the new edit stays" 1 "$(in_log "second-edited-$TAG")"
nap 2.5
n2=$(metric chatd_compactions_total)
expect_true "with nothing more to erase, compactions stop ($n1 -> $n2)" test "$((n2 - n1))" -le 2
restart_server
nap 2.5
expect_eq "a restart on the erased log finds nothing to erase (no compaction)" 0 "$(metric chatd_compactions_total)"
req GET "/api/messages/$EDIT_ID" "" "$A_TOK"
expect_jq '.message.body + " " + (.message.edited | tostring)' "edited-body-$TAG true"
req GET "/api/messages/$E2" "" "$A_TOK"
expect_jq .message.body "second-edited-$TAG"
req GET "/api/messages?conversation_id=$KEPT&limit=50" "" "$B_TOK"
expect_jq '[.messages[].body | select(test("deleted|original"))] | length' 0
stop_server
"$CHATD" --check "$SERVER_DATA_DIR" >/dev/null 2>&1
expect_eq "chatd --check after erasure" 0 "$?"
