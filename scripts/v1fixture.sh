#!/usr/bin/env bash
# scripts/v1fixture.sh — rebuild tests/fixtures/v1/chatd.log with a chatd binary of log format v1
# (commit d6cdf52 made the checked-in file). Usage: scripts/v1fixture.sh /path/to/old/chatd OUTDIR
# What it holds (t_upgrade checks each): users alice (password "password123", display "Alice A"),
# bob, carol (deleted), dave (renamed "Dave D"); a conversation "team" (alice, bob, dave) with
# messages m1..m5 (m2 edited to "m2 edited", m4 deleted); "side" (alice, carol) renamed "side2";
# "gone" created then deleted; one message with Idempotency-Key "k1"; a live token in TOKEN.
set -eu -o pipefail
bin=$1 out=$2
d=$(mktemp -d); mkdir -p "$out"
: >"$d/log"   # there before the poll below reads it
"$bin" --port 0 --bind 127.0.0.1 --data-dir "$d" --pbkdf2-iters 1000 >"$d/log" 2>&1 &
pid=$!
for _ in {1..50}; do [[ $(<"$d/log") =~ listening\ on\ [^\ ]*:([0-9]+) ]] && break; sleep 0.1; done
port=${BASH_REMATCH[1]}
CRLF=$'\r\n'
# j METHOD PATH [BODY] [TOKEN] [IDEMPOTENCY-KEY]: the answer's body, failing unless it is a 2xx
# (bash's /dev/tcp, a connection each: no curl process per request)
j() {
    local body=${3-} fd r
    exec {fd}<>"/dev/tcp/127.0.0.1/$port"
    printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n%s%sContent-Length: %d\r\n\r\n%s' \
        "$1" "$2" "${4:+Authorization: Bearer $4$CRLF}" "${5:+Idempotency-Key: $5$CRLF}" "${#body}" "$body" >&"$fd"
    IFS= read -r -d '' -t 10 r <&"$fd" || true   # to the end: the server closes after its answer
    exec {fd}>&-
    [[ $r == HTTP/1.1\ 2* ]] || { echo "$1 $2: ${r:0:300}" >&2; return 1; }
    printf '%s' "${r#*$CRLF$CRLF}"
}
# first NAME METHOD PATH ...: the first NAME's value in j's answer (the JSON shape is known)
first() { local k=$1 r; shift; r=$(j "$@") && [[ $r =~ \"$k\":\"?([^\",]+) ]] && echo "${BASH_REMATCH[1]}"; }
reg() { first token POST /api/users/register "{\"username\":\"$1\",\"password\":\"password123\"${2:+,\"display_name\":\"$2\"}}"; }
A=$(reg alice "Alice A"); Bt=$(reg bob); C=$(reg carol); D=$(reg dave)
team=$(first id POST /api/conversations '{"title":"team","member_ids":[2,4]}' "$A")
side=$(first id POST /api/conversations '{"title":"side","member_ids":[3]}' "$A")
gone=$(first id POST /api/conversations '{"title":"gone","member_ids":[]}' "$A")
for i in 1 2 3 4 5; do j POST /api/messages "{\"conversation_id\":$team,\"body\":\"m$i\"}" "$A" >/dev/null; done
j PUT /api/messages/2 '{"body":"m2 edited"}' "$A" >/dev/null
j DELETE /api/messages/4 "" "$A" >/dev/null
j POST /api/messages "{\"conversation_id\":$side,\"body\":\"keyed\"}" "$A" k1 >/dev/null
j PUT /api/conversations/$side '{"title":"side2"}' "$A" >/dev/null
j DELETE /api/conversations/$gone "" "$A" >/dev/null
j PUT /api/users/4 '{"display_name":"Dave D"}' "$D" >/dev/null
j DELETE /api/users/3 '{"password":"password123"}' "$C" >/dev/null
kill "$pid"; wait "$pid" || true
cp "$d/chatd.log" "$out/chatd.log"; echo "$A" >"$out/TOKEN"
rm -rf "$d"; ls -l "$out"
