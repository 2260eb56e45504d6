#!/usr/bin/env bash
# The README's curl walkthrough, run as a reader would: its ```sh blocks in order against a fresh
# server, the first-terminal blocks in one bash (variables carry over), each "In a second
# terminal" block in the background (waited for until its stream is open). Every request it makes
# must be answered 2xx (101 for the WebSocket), except where the line's comment starts with the
# expected status ("# 401: ..."); the streams must have seen the walkthrough's events.
. "$(dirname "$0")/lib.sh"
TOP=$(cd "$(dirname "$0")/.." && pwd)
README=$TOP/README.md

# the section's fenced sh blocks -> $TMP_ROOT/blockN.sh and a list "main|second N"
awk -v dir="$TMP_ROOT" '
    /^## / { on = ($0 ~ /^## Walkthrough/) }
    on && /^```sh$/ { n++; f = dir "/block" n ".sh"; inb = 1; first = 1; next }
    inb && /^```$/ { inb = 0; close(f); print kind " " n; next }
    inb { if (first) kind = ($0 ~ /^# In a second terminal/) ? "second" : "main"; first = 0; print > f }
' "$README" >"$TMP_ROOT/blocks"
nmain=$(grep -c '^main' "$TMP_ROOT/blocks")
nsecond=$(grep -c '^second' "$TMP_ROOT/blocks")
expect_true "the walkthrough has first-terminal blocks ($nmain)" test "$nmain" -ge 2
expect_true "the walkthrough has second-terminal blocks ($nsecond)" test "$nsecond" -ge 1

# expected status of each request, in README order: a line with curl or ws_client.py is one
# request; "# NNN" at the start of its comment names the status, else 2xx (101 for a WebSocket)
want=()
while read -r kind n; do
    while IFS= read -r line; do
        case $line in \#*) continue ;; esac
        [[ $line == *curl\ * || $line == *ws_client.py\ * ]] || continue
        if [[ $line =~ \#\ ([0-9]{3})([^0-9]|$) ]]; then want+=("${BASH_REMATCH[1]}")
        elif [[ $line == *ws_client.py* ]]; then want+=(101)
        else want+=(2xx); fi
    done <"$TMP_ROOT/block$n.sh"
done <"$TMP_ROOT/blocks"

start_server
# one script: the README's text with its address swapped for this server's; a second-terminal
# block runs in its own session (so all of it can be ended), then the script waits for its stream
sub() { sed -e "s#http://localhost:8000#$BASE#g" -e "s#ws://localhost:8000#ws://127.0.0.1:$PORT#g" "$1"; }
script=$TMP_ROOT/walk.sh
{
    echo 'streams() { grep -cE "\"GET /api/(events|ws)[?\"]" "$1" 2>/dev/null; }'
    echo 'wait_streams() { local n=0; until [ "$(streams "$1")" -ge "$2" ] || ((n++ > 500)); do sleep 0.02; done; }'
    k=0
    while read -r kind n; do
        if [ "$kind" == main ]; then sub "$TMP_ROOT/block$n.sh"
        else
            k=$((k + 1))
            sub "$TMP_ROOT/block$n.sh" >"$TMP_ROOT/second$k.sh"
            echo "setsid bash '$TMP_ROOT/second$k.sh' >'$TMP_ROOT/second$k.out' 2>&1 &"
            echo "echo \$! >>'$TMP_ROOT/second.pids'"
            echo "wait_streams '$SERVER_LOG' $k"
        fi
    done <"$TMP_ROOT/blocks"
} >"$script"
LAST_REQ="the README walkthrough ($script)"
(cd "$TOP" && timeout 120 bash "$script" >"$TMP_ROOT/walk.out" 2>"$TMP_ROOT/walk.err")
expect_eq "the walkthrough ran to its end (exit status of its last command)" 0 "$?"
expect_eq "nothing on stderr" "" "$(head -c 500 "$TMP_ROOT/walk.err")"
sleep 0.5   # let the streams print the last events
for p in $(cat "$TMP_ROOT/second.pids" 2>/dev/null); do kill -- -"$p" 2>/dev/null; done
stop_server

# every request, in order, against the expected statuses (the access log has them all; read
# by bash: the status of each "METHOD target" line, and each line's quoted request)
got=() reqs=()
GOT_RE='^[^ ]+ "[A-Z]+ [^"]*" ([0-9]{3}) ' REQ_RE='^[^ ]+ "([^"]*)"'
while IFS= read -r l; do
    [[ $l =~ $GOT_RE ]] && got+=("${BASH_REMATCH[1]}")
    [[ $l =~ $REQ_RE ]] && reqs+=("${BASH_REMATCH[1]}")
done <"$SERVER_LOG"
expect_eq "requests made = curl/ws_client lines in the walkthrough" "${#want[@]}" "${#got[@]}"
for ((i = 0; i < ${#want[@]}; i++)); do
    w=${want[$i]} g=${got[$i]:-none}
    line=${reqs[$i]-}
    if [ "$w" == 2xx ]; then expect_match "request $((i + 1)) ($line) is 2xx" '^2[0-9][0-9]$' "$g"
    else expect_eq "request $((i + 1)) ($line)" "$w" "$g"; fi
done
# what the first terminal printed: one JSON value per line where JSON was answered
bad=$(grep -vE '^(\{.*\}|[0-9]{3}|chatd_[a-z_]+ [0-9]+)$' "$TMP_ROOT/walk.out" | head -n 3)
expect_eq "each answer is a line of its own (JSON, a status, or a metric)" "" "$bad"
expect_true "the walkthrough printed answers ($(wc -l <"$TMP_ROOT/walk.out") lines)" \
    test "$(wc -l <"$TMP_ROOT/walk.out")" -ge 15
# the streams saw what happened
sse=$(cat "$TMP_ROOT"/second*.out | grep -c '^event: message.created$')
expect_true "the SSE block showed the message.created events ($sse)" test "$sse" -ge 3
expect_true "the SSE block showed the edit" grep -q '^event: message.updated$' "$TMP_ROOT"/second*.out
ws=$(cat "$TMP_ROOT"/second*.out | grep -c '"k": "text".*"type": "message.created"')
expect_true "the WebSocket block showed the message.created events ($ws)" test "$ws" -ge 3
