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
"$bin" --port 0 --bind 127.0.0.1 --data-dir "$d" --pbkdf2-iters 1000 >"$d/log" 2>&1 &
pid=$!
for _ in $(seq 50); do port=$(sed -nE "s/.*listening on [^ ]*:([0-9]+).*/\1/p" "$d/log" | head -1); [ -n "$port" ] && break; sleep 0.1; done
B=http://127.0.0.1:$port
j() {   # METHOD PATH [BODY] [TOKEN] [IDEMPOTENCY-KEY]
    local a=(-fsS -X "$1" "$B$2" -H 'Content-Type: application/json')
    [ -n "${3:-}" ] && a+=(-d "$3"); [ -n "${4:-}" ] && a+=(-H "Authorization: Bearer $4")
    [ -n "${5:-}" ] && a+=(-H "Idempotency-Key: $5"); curl "${a[@]}"; }
reg() { j POST /api/users/register "{\"username\":\"$1\",\"password\":\"password123\"${2:+,\"display_name\":\"$2\"}}" | jq -r .token; }
A=$(reg alice "Alice A"); Bt=$(reg bob); C=$(reg carol); D=$(reg dave)
team=$(j POST /api/conversations '{"title":"team","member_ids":[2,4]}' "$A" | jq .conversation.id)
side=$(j POST /api/conversations '{"title":"side","member_ids":[3]}' "$A" | jq .conversation.id)
gone=$(j POST /api/conversations '{"title":"gone","member_ids":[]}' "$A" | jq .conversation.id)
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
