# tests/stream_lib.sh — helpers of the stream tests (t_ws, t_sse, t_presence, t_reads, ...),
# sourced after tests/lib.sh. What they save is processes: a python start (~0.15-0.3 s of CPU
# with asyncio and websockets) costs more than the WebSocket session it makes, and a jq start
# (~25 ms) more than the check it runs.
#
#   wsc CMD ARGS...          one command to a ws_client.py serve process (started at first
#                            use, one for the file): listen/send/raw/head/drop as in
#                            ws_client.py; its JSON answer in WSC_OUT
#   SSE_JQ                   a jq def: sse_events parses an SSE capture (jq -R -s)
#   jq_each PRE FILTER...    every FILTER over one input (PRE's result) in one jq; JQ_GOT[i] is
#                            what `jq -rc FILTER` would print; input and options: JQ_EACH_IN
#                            (a file, else JQ_EACH_STR), JQ_EACH_OPTS (e.g. (-s --argjson m 1))
#   look_again FILE          for a poll's check: 1 when FILE is unchanged since the last look
#                            of this wait (new_wait starts one), so its jq does not run again

PY=${PY:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
WSC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ws_client.py

# ---------------------------------------------------------------------------------------------
# one ws_client.py for the whole file

WSC_PID= WSC_R= WSC_W=
wsc() {   # CMD ARGS... -> WSC_OUT (a JSON line; {"error":...} when the process did not answer)
    if [[ -z $WSC_PID ]] || ! proc_alive "$WSC_PID"; then
        # (a coproc of its own name, its pipes kept in our own variables: lib.sh's raw_send
        # runs one too; bash warns when two are alive at once, and both work)
        coproc _WSC { exec "$PY" "$WSC" serve 2>>"$TMP_ROOT/wsc.err"; }
        WSC_PID=$_WSC_PID WSC_R=${_WSC[0]} WSC_W=${_WSC[1]}
        EXTRA_PIDS="${EXTRA_PIDS:-} $WSC_PID"
    fi
    trap '' PIPE   # a dead process: a failed write, not a signal
    printf '%s\0' $# "$@" >&"$WSC_W" 2>/dev/null
    trap - PIPE
    if ! IFS= read -r -t "${WSC_WAIT:-40}" -u "$WSC_R" WSC_OUT; then
        WSC_OUT="{\"error\":\"ws_client serve: no answer to $1 within ${WSC_WAIT:-40} s: $(tail -c 200 "$TMP_ROOT/wsc.err" | tr -d '"\n\\')\"}"
        kill "$WSC_PID" 2>/dev/null   # (a new one for the next command)
        wait "$WSC_PID" 2>/dev/null
        WSC_PID=
    fi
}

# ---------------------------------------------------------------------------------------------
# many jq checks, one jq

jq_each() {   # PRE FILTER... -> JQ_GOT
    local pre=$1 f prog out=() i=0 in
    shift
    JQ_GOT=()
    (($#)) || return 0
    # each filter's outputs as jq -rc prints them (or its error), NUL-terminated
    prog="$pre as \$__in | ("
    i=0
    for f in "$@"; do
        ((i++)) && prog+=$'\n, '
        prog+="((\$__in | try ([$f"$'\n'"] | map(if type == \"string\" then . else tojson end) | join(\"\\n\"))"
        prog+=" catch (\"jq: error: \" + tostring)) + \"\\u0000\")"
    done
    prog+=")"
    if [ -n "${JQ_EACH_IN:-}" ]; then in=$JQ_EACH_IN; else in=$TMP_ROOT/jq_each.in; printf '%s' "${JQ_EACH_STR-}" >"$in"; fi
    if jq -j ${JQ_EACH_OPTS[@]+"${JQ_EACH_OPTS[@]}"} "$prog" "$in" >"$TMP_ROOT/jq_each.out" 2>/dev/null; then
        readarray -d '' out <"$TMP_ROOT/jq_each.out"
    fi
    if ((${#out[@]} != $#)); then   # the input is not JSON, or a filter does not compile: one by one
        out=()
        for f in "$@"; do out+=("$(jq -rc ${JQ_EACH_OPTS[@]+"${JQ_EACH_OPTS[@]}"} "$pre | ($f)" "$in" 2>&1)"); done
    fi
    for ((i = 0; i < ${#out[@]}; i++)); do JQ_GOT[i]=${out[i]%"${out[i]##*[!$'\n']}"}; done   # as $(jq) has it
}

# ---------------------------------------------------------------------------------------------
# polls that look at a file again only when it changed

# A new mark file for each look, and a nap between the mark and the look: a write after the
# look read the file is then newer than the mark (file times move in ticks of a few ms).
LOOK_N=0 LOOK_MARK=
new_wait() { LOOK_MARK=; }
look_again() {   # FILE: 0 (look) unless FILE is unchanged since the last look of this wait
    [[ -n $LOOK_MARK && -e $1 && ! $1 -nt $LOOK_MARK ]] && return 1
    LOOK_N=$((LOOK_N + 1)) LOOK_MARK=$TMP_ROOT/look.$LOOK_N
    : >"$LOOK_MARK"
    nap 0.02
}

# ---------------------------------------------------------------------------------------------
# SSE captures in jq

# `jq -R -s "$SSE_JQ sse_events"` over a capture: its complete events (each ended by a blank
# line) as [{"sid": id line or null, "ev": event line, "data": the data lines (joined by
# newlines) parsed as JSON}]; CRs dropped, comments and retry: skipped, any other line makes
# the data unparsable (BAD-LINE), so does an event without data: jq fails on it
SSE_JQ='def sse_events: gsub("\r"; "") | split("\n") | .[:-1]
    | reduce .[] as $l ({out: [], have: false, sid: "", ev: "", data: ""};
        if $l == "" then
            (if .have then .out += [{sid: (if .sid == "" then null else .sid end), ev, data}] else . end)
            | .have = false | .sid = "" | .ev = "" | .data = ""
        elif ($l | startswith(":")) or ($l | startswith("retry:")) then .
        elif $l | startswith("id:") then .sid = ($l | sub("^id: ?"; "")) | .have = true
        elif $l | startswith("event:") then .ev = ($l | sub("^event: ?"; "")) | .have = true
        elif $l | startswith("data:") then
            .data = (if .data == "" then "" else .data + "\n" end) + ($l | sub("^data: ?"; "")) | .have = true
        else .data += "BAD-LINE:" + $l | .have = true end)
    | .out | map(.data |= fromjson);'
