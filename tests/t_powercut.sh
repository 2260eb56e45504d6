#!/usr/bin/env bash
# Power cuts, not only kill -9 (a kill leaves the page cache, so it cannot see a missing fsync).
# chatd runs --fsync always under tests/powercut/preload.c (LD_PRELOAD), which records every
# write, truncate, fsync, rename, unlink and open of its data directory, while concurrent writers
# (tests/crash_writer.py) register users, create conversations, post, edit and delete messages and
# delete accounts, and low compaction thresholds make compactions run throughout. The writer notes
# which writes were acknowledged and where the trace was at that moment. Then, for many crash
# points, tests/powercut/pcut.py materialises the data directory as a power cut there could have
# left it (each file: what its last fsync covered plus any prefix of the later writes, torn at any
# byte, or later pages in any order; the directory: its last fsync plus a prefix of later
# creates/renames/unlinks). On each, chatd must start — or refuse naming the offset, after which
# `chatd --repair` must succeed and chatd start — and hold every write acknowledged before the
# crash point (crash_writer.py check --mark).
# Then the same trace is replayed with a planted bug (pcut.py --plant): the directory fsync after
# compaction's rename left out, and responses sent one fsync too early. Each must be caught (some
# crash point loses an acknowledged write). Real-code check of the same (done once, not kept):
# delete the store_fsync_dir() call in src/compact.c:finish(), `make`, and
#   CHATD=$PWD/chatd tests/run.sh t_powercut   -> fails at "a crash point lost acknowledged writes".
# Last: the directory fsync fails (PCUT_FAIL=dirsync); the server must exit rather than answer.
#   POINTS=N (crash points, default 20)   PLANT_POINTS=N (per planted bug, 8)   SEED=N   THREADS=N (4)
#   SECONDS_RUN=S, MAX_ACKS=N (the writers stop after S seconds or N acknowledged writes: 3, 1500)
#   `make powercut` is the full run: POINTS=300 PLANT_POINTS=40 SECONDS_RUN=10 MAX_ACKS=6000.
# Needs a dynamically linked chatd and a C compiler (the preload is built here).
. "$(dirname "$0")/lib.sh"

POINTS=${POINTS:-20}
PLANT_POINTS=${PLANT_POINTS:-8}
SECONDS_RUN=${SECONDS_RUN:-3}
MAX_ACKS=${MAX_ACKS:-1500}
THREADS=${THREADS:-4}
SEED=${SEED:-$(( $(date +%s%N) % 32768 ))}
PC=$(cd "$(dirname "$0")/powercut" && pwd)
echo "t_powercut: seed $SEED, $POINTS crash points, $PLANT_POINTS per planted bug, ${SECONDS_RUN}s of writers"

if ! ldd "$CHATD" >/dev/null 2>&1; then
    echo "SKIP: $CHATD is not dynamically linked (LD_PRELOAD needs the dynamic build)"
    exit 0
fi
# the preload, built once and kept in build/powercut/ (again when preload.c or this file is newer):
# both suites of make test use it, and every later run
CCN=${CC:-cc}
SO=$(cd "$PC/../.." && pwd)/build/powercut/preload-${CCN//[^A-Za-z0-9_.-]/_}.so
if [[ ! -f $SO || $PC/preload.c -nt $SO || $0 -nt $SO ]]; then
    mkdir -p "${SO%/*}"
    if ! $CCN -shared -fPIC -O2 -Wall -Wextra -Werror -o "$SO.$$" "$PC/preload.c" -ldl -lpthread; then
        fail "building tests/powercut/preload.c"
        exit 1
    fi
    mv "$SO.$$" "$SO"   # whole or not at all: the other suite may be reading it
fi
# an ASan build wants its runtime first; our preload only wraps calls and lets it run behind
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
FLAGS=(--fsync always --compact-min 40 --compact-pct 10)
HELP=$("$CHATD" --help 2>&1)
[[ $HELP == *--write-rate* ]] && FLAGS+=(--write-rate 0)
[[ $HELP == *--register-rate* ]] && FLAGS+=(--register-rate 0)

# ---- 1. the traced run
D=$TMP_ROOT/traced
INIT=$TMP_ROOT/init
mkdir -p "$D" "$INIT"
TRACE=$TMP_ROOT/trace
STATE=$TMP_ROOT/state.json
ACKS=$TMP_ROOT/acks.json
SERVER_WRAP=(env LD_PRELOAD="$SO" PCUT_DIR="$D" PCUT_TRACE="$TRACE")
DATA_DIR=$D start_server "${FLAGS[@]}"
"$CWPY" "$CW" write --port "$PORT" --state "$STATE" --threads "$THREADS" --tag pc --seed "$SEED" \
    --max-seconds "$SECONDS_RUN" --max-acks "$MAX_ACKS" --trace-file "$TRACE" --acks-out "$ACKS" >"$TMP_ROOT/write.out" 2>&1
rc=$?
expect_eq "the writers ran without errors: $(head -c 300 "$TMP_ROOT/write.out")" 0 "$rc"
COMPACTIONS=$(metric chatd_compactions_total)
stop_server
SERVER_WRAP=()
ACKED=$(jq -r .acked "$TMP_ROOT/write.out" 2>/dev/null)
note "traced run: $ACKED writes acknowledged, ${COMPACTIONS:-?} compactions, trace $(stat -c %s "$TRACE") bytes"
expect_true "compactions ran during the traced run (${COMPACTIONS:-none})" test "${COMPACTIONS:-0}" -ge 2
expect_true "writes were acknowledged ($ACKED)" test "${ACKED:-0}" -ge 50

T0=$SECONDS
# ---- 2. crash points
# The checker: one crash_writer.py for every crash point (python with http.client costs ~0.1 s
# of CPU to start), a command a line (crash_writer.py serve); checker ARGS... -> its exit status
coproc CHECKER { exec "$CWPY" "$CW" serve 2>"$TMP_ROOT/checker.err"; }
checker() {
    local rc=99
    trap '' PIPE   # a checker gone: a failed write, not a signal
    [ -n "${CHECKER[1]-}" ] && { printf '%q ' "$@" && echo; } >&"${CHECKER[1]}" && read -r rc <&"${CHECKER[0]}" ||
        { rc=99; echo "  the checker process is gone: $(tail -n 5 "$TMP_ROOT/checker.err")"; }
    trap - PIPE
    return "$rc"
}
# info P: MODE, MARK and LOGDESC (what pcut.py says of chatd.log) from P/info.json, which pcut.py
# writes a key a line (read by bash: a jq each cost more than the point's server start)
info() {
    local j
    j=$(<"$1/info.json")
    MODE= MARK= LOGDESC=
    [[ $j =~ \"mode\":\ \"([^\"]*)\" ]] && MODE=${BASH_REMATCH[1]}
    [[ $j =~ \"mark\":\ ([0-9]+) ]] && MARK=${BASH_REMATCH[1]}
    [[ $j =~ \"chatd\.log\":\ \"([^\"]*)\" ]] && LOGDESC=${BASH_REMATCH[1]}
    return 0
}
# check_point DIR: 0 when chatd starts on DIR/data (after --repair if it refused, naming the
# offset) and holds every write acknowledged before the point (POINT_ACKED: how many it checked);
# prints what went wrong otherwise
check_point() {
    local p=$1 mark why
    info "$p"
    mark=$MARK
    if ! DATA_DIR=$p/data try_start_server "${FLAGS[@]}"; then
        why=$(grep -m1 -E 'chatd: .*offset [0-9]+' "$SERVER_LOG")
        if [ -z "$why" ]; then
            echo "  refused to start without naming an offset (exit $SERVER_RC): $(tail -n 3 "$SERVER_LOG")"
            return 1
        fi
        if ! "$CHATD" --repair "$p/data" >"$TMP_ROOT/repair.out" 2>&1; then
            echo "  refused ($why); --repair failed: $(tail -n 3 "$TMP_ROOT/repair.out")"
            return 1
        fi
        REPAIRED=$((REPAIRED + 1))
        if ! DATA_DIR=$p/data try_start_server "${FLAGS[@]}"; then
            echo "  did not start after --repair: $(tail -n 3 "$SERVER_LOG")"
            return 1
        fi
    fi
    checker check --port "$PORT" --state "$STATE" --mark "$mark" --out "$TMP_ROOT/check.out"
    local rc=$? out
    kill9_server
    out=$(<"$TMP_ROOT/check.out")
    POINT_ACKED=0
    [[ $out =~ \"acked_checked\":\ ([0-9]+) ]] && POINT_ACKED=${BASH_REMATCH[1]}
    if [ "$rc" != 0 ]; then
        echo "  a crash point lost acknowledged writes (mark $mark): $(head -c 600 "$TMP_ROOT/check.out")"
        return 1
    fi
}

# explore OUT PLANT N [pcut.py options]: N crash states of $TRACE to materialise into OUT; the
# crash states of sections 2, 2b and 3 are made at once below (pcut.py batch: the trace, ~15 MB,
# read once, not once per set); states_made OUT: 0 when they are there, else a failed check
EXPLORE=()
explore() {
    local out=$1 plant=$2 n=$3 line
    shift 3
    rm -rf "$out"
    mkdir -p "$out"
    printf -v line '%q ' --trace "$TRACE" --init "$INIT" --acks "$ACKS" --out "$out" -n "$n" \
        --seed "$SEED" --plant "$plant" "$@"
    EXPLORE+=("$line")
}
states_made() {
    [ -s "$1.summary" ] || { fail "pcut.py states for $1: $(tail -n 5 "$TMP_ROOT/pcut.out")"; return 1; }
}
explore "$TMP_ROOT/points" none "$POINTS"
explore "$TMP_ROOT/torn" none 6 --focus sync --modes torn-last                                 # 2b
explore "$TMP_ROOT/plant-no-dirsync" no-dirsync "$PLANT_POINTS" --focus rename --modes synced   # 3
explore "$TMP_ROOT/plant-late-sync" late-sync "$PLANT_POINTS" --focus sync --modes synced
printf '%s\n' "${EXPLORE[@]}" | "$CWPY" "$PC/pcut.py" batch >"$TMP_ROOT/pcut.out" 2>&1 ||
    fail "pcut.py batch: $(tail -n 5 "$TMP_ROOT/pcut.out")"

REPAIRED=0
states_made "$TMP_ROOT/points"
note "trace: $(cat "$TMP_ROOT/points.summary")"
explored=0 acked_checked=0 bad=0 modes=""
for p in "$TMP_ROOT"/points/p*; do
    explored=$((explored + 1))
    info "$p"
    modes+="$MODE "
    if check_point "$p" >"$TMP_ROOT/point.out"; then
        ok
        acked_checked=$((acked_checked + POINT_ACKED))
    else
        bad=$((bad + 1))
        LAST_REQ= STATUS=
        fail "crash point $(jq -c '{point,of,mode,mark,last_op,dir_ops}' "$p/info.json")"
        cat "$TMP_ROOT/point.out"
        jq -r '.files | to_entries[] | "    \(.key): \(.value)"' "$p/info.json"
        cp -a "$p" "${TMPDIR:-/tmp}/powercut-failed-$(basename "$p")-$$" 2>/dev/null &&
            echo "  kept as ${TMPDIR:-/tmp}/powercut-failed-$(basename "$p")-$$"
    fi
done
expect_true "crash points were explored ($explored)" test "$explored" -ge $((POINTS / 2))
modes=$(tr ' ' '\n' <<<"$modes" | grep . | sort | uniq -c | awk '{ printf "%s %s, ", $1, $2 }')
echo "powercut: $((SECONDS - T0))s for the crash points"
echo "powercut totals: $explored crash points ($modes${REPAIRED} repaired), $acked_checked acknowledged writes checked, $bad failed"

# ---- 2b. the last write before a sync (a record over the zeros the store wrote ahead, the file's
# size already synced) torn at a random byte: the start cuts it, every acknowledged write is there
states_made "$TMP_ROOT/torn"
over_zeros=0 torn=0
for p in "$TMP_ROOT"/torn/p*; do
    torn=$((torn + 1))
    info "$p"
    [[ $LOGDESC == *"over zeros"* ]] && over_zeros=$((over_zeros + 1))
    if check_point "$p" >"$TMP_ROOT/point.out"; then ok; else
        fail "torn last write: crash point $(jq -c '{point,of,mode,mark,files}' "$p/info.json")"
        cat "$TMP_ROOT/point.out"
    fi
done
echo "torn last writes: $torn crash states, $over_zeros of them over zeros written ahead"
expect_true "a torn write over zeros written ahead was among them ($over_zeros)" test "$over_zeros" -ge 1

T0=$SECONDS
# ---- 3. planted bugs: the same trace, as if the server had left out a sync
for plant in no-dirsync late-sync; do
    states_made "$TMP_ROOT/plant-$plant" || continue
    caught=0 n=0
    for p in "$TMP_ROOT/plant-$plant"/p*; do
        n=$((n + 1))
        if ! check_point "$p" >"$TMP_ROOT/plant.out"; then
            caught=$((caught + 1))
            [ "$caught" == 1 ] && note "planted $plant caught at $(jq -c '{point,mode,mark,dir_ops}' "$p/info.json"): $(head -c 200 "$TMP_ROOT/plant.out")"
        fi
    done
    echo "planted bug $plant: caught at $caught of $n crash points"
    expect_true "the planted bug '$plant' is caught (a crash point loses an acknowledged write)" test "$caught" -ge 1
done

echo "powercut: $((SECONDS - T0))s for the planted bugs"
# ---- 4. a failing directory fsync: the compaction that renamed must not let responses out
D2=$TMP_ROOT/dirsync-fails
mkdir -p "$D2"
SERVER_WRAP=(env LD_PRELOAD="$SO" PCUT_DIR="$D2" PCUT_TRACE="$TMP_ROOT/trace2" PCUT_FAIL=dirsync)
DATA_DIR=$D2 try_start_server "${FLAGS[@]}"
expect_true "a server whose directory fsync fails at creating the log exits (rc ${SERVER_RC:-running})" \
    test -n "$SERVER_RC"
expect_match "... and says why" 'fsync' "$(<"$SERVER_LOG")"
SERVER_WRAP=()
DATA_DIR=$D2 start_server "${FLAGS[@]}"      # the log now exists: no directory fsync at start-up
new_user U powercut_user
new_conv "$U_TOK" "dirsync" "[]"
stop_server
SERVER_WRAP=(env LD_PRELOAD="$SO" PCUT_DIR="$D2" PCUT_TRACE="$TMP_ROOT/trace2" PCUT_FAIL=dirsync)
DATA_DIR=$D2 start_server --fsync always --compact-min 1 --compact-pct 1
SERVER_WRAP=()
P4=$SERVER_PID
SERVER_PID=    # its death is the expected outcome here: req must not restart it
codes="" acked=() sent=""
for i in 1 2 3 4 5 6; do
    req POST /api/messages "$(mbody "$CONV_ID" "m$i")" "$U_TOK"
    codes+=" $STATUS"
    [ "$STATUS" == 201 ] || break
    mid=$(jqb .message.id)
    acked+=("$mid:m$i")
    for e in 1 2; do
        req PUT "/api/messages/$mid" "{\"body\":\"m$i edit $e\"}" "$U_TOK"
        codes+=" $STATUS"
        [ "$STATUS" == 200 ] || { sent="$mid:m$i edit $e"; break 2; }
        acked[-1]="$mid:m$i edit $e"
    done
done
_wait_exit "$P4" 10
expect_true "the server exits when the directory fsync after compaction's rename fails (answers:$codes)" \
    bash -c "! kill -0 $P4 2>/dev/null"
expect_match "... saying so" 'directory.*fsync|fsync.*directory' "$(<"$SERVER_LOG")"
kill -9 "$P4" 2>/dev/null
wait "$P4" 2>/dev/null
DATA_DIR=$D2 start_server
for a in "${acked[@]}"; do   # each acknowledged write is there (or the next one, sent unanswered)
    req GET "/api/messages/${a%%:*}" "" "$U_TOK"
    got=$(jqb .message.body)
    if [ "$got" == "${a#*:}" ] || [ "${a%%:*}:$got" == "$sent" ]; then ok; else
        fail "acknowledged write ${a#*:} after the restart" "${a#*:}" "$got"; fi
done
stop_server

# ---- 5. --repair under a power cut: the bytes it moves aside are never lost
R=$TMP_ROOT/repair
mkdir -p "$R"
cp "$D2/chatd.log" "$R/"
size=$(stat -c %s "$R/chatd.log")
printf 'X' | dd of="$R/chatd.log" bs=1 seek=$((size / 2)) conv=notrunc status=none   # damage mid-log
cp -a "$R" "$TMP_ROOT/repair-init"
env LD_PRELOAD="$SO" PCUT_DIR="$R" PCUT_TRACE="$TMP_ROOT/trace3" "$CHATD" --repair "$R" >"$TMP_ROOT/repair.log" 2>&1
rc=$?
expect_eq "chatd --repair of a damaged log: $(tail -n 2 "$TMP_ROOT/repair.log")" 0 "$rc"
# each crash state checked by one python for all (not one each)
lost=0 states=0
for s in 1 2 3; do
    rm -rf "$TMP_ROOT/rp"
    mkdir -p "$TMP_ROOT/rp"
    "$CWPY" "$PC/pcut.py" states --trace "$TMP_ROOT/trace3" --init "$TMP_ROOT/repair-init" --out "$TMP_ROOT/rp" \
        -n all --seed "$((SEED + s))" >/dev/null || fail "pcut.py on the --repair trace"
    "$CWPY" - "$TMP_ROOT/repair-init/chatd.log" "$TMP_ROOT"/rp/p* >"$TMP_ROOT/rp.out" <<'PY'
import os, sys
orig = open(sys.argv[1], "rb").read()
def kept(d):   # the original bytes: the log as it was, or its prefix plus the part moved aside
    log = open(os.path.join(d, "chatd.log"), "rb").read() if os.path.exists(os.path.join(d, "chatd.log")) else b""
    if log == orig:
        return True
    for name in os.listdir(d):
        if name.startswith("chatd.log.damaged-"):
            off = int(name.rsplit("-", 1)[1])
            side = open(os.path.join(d, name), "rb").read()
            if log[:off] == orig[:off] and log[:off] + side == orig:
                return True
    print("log %d of %d bytes, files %s: the moved-aside bytes are lost" % (len(log), len(orig), sorted(os.listdir(d))))
    print(open(os.path.join(os.path.dirname(d), "info.json")).read().replace("\n", ""))
    return False
n = lost = 0
for p in sys.argv[2:]:
    n += 1
    lost += not kept(os.path.join(p, "data"))
print(n, lost)
PY
    mapfile -t rp <"$TMP_ROOT/rp.out"
    ((${#rp[@]} > 1)) && printf '%s\n' "${rp[@]:0:${#rp[@]}-1}"
    n=0 l=1   # (no last line: the python failed, which counts as a loss)
    ((${#rp[@]})) && read -r n l <<<"${rp[-1]}"
    states=$((states + n)) lost=$((lost + l))
done
echo "repair under power cuts: $states crash states, $lost lost bytes"
expect_eq "every crash state of --repair keeps the damaged bytes (in the log or moved aside)" 0 "$lost"
