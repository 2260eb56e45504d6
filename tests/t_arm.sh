#!/usr/bin/env bash
# The ARM cross builds under qemu-user: $CHATD_AARCH64 and/or $CHATD_ARMHF (set by
# `make test-deploy`; skipped when neither is set). Per binary: register, login, a conversation,
# messages and pagination, a restart that keeps everything, and a torn tail cut away.
skip() {
    echo "SKIP: $*"
    if [ -n "${DEPLOY_STRICT:-}" ]; then echo "DEPLOY_STRICT is set: a skip is a failure"; exit 1; fi
    exit 0
}
if [ -z "${CHATD_AARCH64:-}" ] && [ -z "${CHATD_ARMHF:-}" ]; then
    echo "SKIP: neither CHATD_AARCH64 nor CHATD_ARMHF set (make test-deploy sets them)"
    exit 0
fi

# runner ARCH-NAME -> command that runs a foreign binary: qemu-NAME(-static), or nothing when
# the kernel runs it already (binfmt_misc)
runner() {
    local q
    for q in "qemu-$1-static" "qemu-$1"; do
        command -v "$q" >/dev/null && { echo "$q"; return 0; }
    done
    [ "$(head -n 1 "/proc/sys/fs/binfmt_misc/qemu-$1" 2>/dev/null)" == enabled ] && return 0
    return 1
}

todo=()
for pair in "aarch64:${CHATD_AARCH64:-}" "arm:${CHATD_ARMHF:-}"; do
    q=${pair%%:*} bin=${pair#*:}
    [ -n "$bin" ] || continue
    [ -x "$bin" ] || { echo "FAIL: $bin is not an executable file"; exit 1; }
    run=$(runner "$q") || skip "no qemu-$q-static (qemu-user-static) and no binfmt_misc entry for $bin"
    todo+=("$bin|$run")
done

CHATD=${CHATD:-${todo[0]%%|*}}   # lib.sh wants it set; replaced by a wrapper per binary below
. "$(dirname "$0")/lib.sh"

flow() {   # BINARY RUNNER
    local bin=$1 run=$2 name t0 ids=() i
    name=$(basename "$bin")
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$run" "$bin" >"$TMP_ROOT/run-$name"
    chmod 755 "$TMP_ROOT/run-$name"
    CHATD=$TMP_ROOT/run-$name
    t0=$(date +%s.%N)
    DATA_DIR="" start_server
    local dir=$SERVER_DATA_DIR

    req GET /healthz
    expect_status 200
    new_user A "alice"
    new_user B "bob"
    req POST /api/users/login '{"username":"alice","password":"password123"}'
    expect_status 200
    A_TOK=$(jqb .token)
    req POST /api/users/login '{"username":"alice","password":"wrong-password"}'
    expect_error 401 ""
    new_conv "$A_TOK" "on $name" "[$B_ID]"
    local c=$CONV_ID
    for i in $(seq 1 12); do
        post_msg "$([ $((i % 2)) == 1 ] && echo "$A_TOK" || echo "$B_TOK")" "$c" "m$i é ✓"
        ids+=("$MSG_ID")
    done
    req PUT "/api/messages/${ids[0]}" '{"body":"m1 edited"}' "$A_TOK"
    expect_status 200
    req DELETE "/api/messages/${ids[1]}" "" "$B_TOK"
    expect_status 204
    # pagination: newest 5, then older pages by before=, then after=
    req GET "/api/messages?conversation_id=$c&limit=5" "" "$B_TOK"
    expect_jq '[.messages[].body]' '["m8 é ✓","m9 é ✓","m10 é ✓","m11 é ✓","m12 é ✓"]'
    expect_jq .has_more true
    req GET "/api/messages?conversation_id=$c&limit=5&before=${ids[7]}" "" "$B_TOK"
    expect_jq '[.messages[].body]' '["m3 é ✓","m4 é ✓","m5 é ✓","m6 é ✓","m7 é ✓"]'
    expect_jq .has_more true
    req GET "/api/messages?conversation_id=$c&limit=5&before=${ids[2]}" "" "$B_TOK"
    expect_jq '[.messages[].body]' '["m1 edited"]'
    expect_jq .has_more false
    req GET "/api/messages?conversation_id=$c&after=${ids[9]}" "" "$A_TOK"
    expect_jq '[.messages[].body]' '["m11 é ✓","m12 é ✓"]'
    expect_jq .has_more false
    req GET "/api/conversations/$c" "" "$B_TOK"
    expect_jq .conversation.last_message_id "${ids[11]}"
    req GET "/api/messages?conversation_id=$c&limit=200" "" "$A_TOK"
    local snap=$BODY

    # restart: everything kept, logins still work
    restart_server
    req GET "/api/messages?conversation_id=$c&limit=200" "" "$A_TOK"
    expect_eq "$name: messages after restart" "$snap" "$BODY"
    req POST /api/users/login '{"username":"bob","password":"password123"}'
    expect_status 200

    # a torn tail after kill -9 is cut away, the rest is intact, and writing goes on
    kill9_server
    printf '\x20\x00\x00\x00\x01' >>"$dir/chatd.log"
    DATA_DIR=$dir start_server
    expect_true "$name: the server log reports the cut" grep -qiE 'torn|truncat|cut' "$SERVER_LOG"
    req GET "/api/messages?conversation_id=$c&limit=200" "" "$A_TOK"
    expect_eq "$name: messages after the torn tail" "$snap" "$BODY"
    post_msg "$A_TOK" "$c" "after the cut"
    restart_server
    expect_true "$name: no second cut" bash -c "! grep -qiE 'torn|truncat' '$SERVER_LOG'"
    req GET "/api/messages/$MSG_ID" "" "$B_TOK"
    expect_jq .message.body "after the cut"
    stop_server
    echo "$name: REST flow under ${run:-binfmt_misc} took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

for t in "${todo[@]}"; do
    flow "${t%%|*}" "${t#*|}"
done
