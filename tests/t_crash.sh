#!/usr/bin/env bash
# Crash safety under load: N concurrent writers (tests/crash_writer.py) register users, create
# conversations, post, edit and delete messages against a server running --fsync always; the
# server is kill -9'ed at a random moment while they run, restarted on the same data dir, and
# every acknowledged write must be there in its last acknowledged state (a write in flight may
# or may not be, but no message may have a body nobody sent, and ids are unique). Then the
# server must still accept writes, and `chatd --check` on the stopped dir must exit 0.
# Every other kill point also appends a torn record (a crash of the machine, not only of the
# process, can leave one) that the restart must cut off.
# The server runs with low compaction thresholds, so compactions run while the writers write
# and some kills land in one.
#   KILL_POINTS=N (default 3)  WRITER_THREADS=N (default 6)  SEED=N (reproduce the delays)
#   CRASH_FLAGS="..." server flags (default: --compact-min 200 --compact-pct 20)
# The last line before the summary is "crash totals: ..." (scripts/soak.sh reads it).
. "$(dirname "$0")/lib.sh"

KILL_POINTS=${KILL_POINTS:-3}
THREADS=${WRITER_THREADS:-6}
read -r -a FLAGS <<<"${CRASH_FLAGS---compact-min 200 --compact-pct 20}"
SEED=${SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$SEED
echo "t_crash: seed $SEED, $KILL_POINTS kill points, $THREADS writer threads"

D=$(mktemp -d "$TMP_ROOT/crashdata.XXXXXX")
STATE=$TMP_ROOT/state.json
LOG=$D/chatd.log
compactions=0 survived=0 acked_total=0 checked_total=0 inflight_total=0 torn_seen=0 torn_made=0

# the byte range [start, end) of the last record of a log file (a len below 9 ends the records:
# the zeros written ahead of them)
last_record() {
    "$CWPY" - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
off, last = 8, None
while off + 8 <= len(d):
    n = struct.unpack_from("<I", d, off)[0]
    if n < 9 or off + 8 + n > len(d):
        break
    last = (off, off + 8 + n)
    off += 8 + n
# and the last non-zero byte's index in it: a copy cut before that byte, over the zeros ahead,
# is torn (cut after it, the zeros complete a second, valid record with the same seq)
print("%d %d %d" % (last + (max(i for i in range(*last) if d[i]) - last[0],)) if last else "0 0 0")
PY
}

wait_pid() {   # PID SECONDS: wait for a child to exit (kill it after SECONDS); rc of the child
    local pid=$1 n=$(($2 * 10))
    while ((n-- > 0)) && kill -0 "$pid" 2>/dev/null; do nap 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid"
}

for ((k = 1; k <= KILL_POINTS; k++)); do
    checks_done; f0=$FAILS
    DATA_DIR=$D start_server --fsync always "${FLAGS[@]}"
    rm -f "$TMP_ROOT/ready"
    "$CWPY" "$CW" write --port "$PORT" --state "$STATE" --threads "$THREADS" --tag "r$k" \
        --seed $((RANDOM * 32768 + RANDOM)) --ready "$TMP_ROOT/ready" --max-seconds 30 \
        >"$TMP_ROOT/write.out" 2>&1 &
    WPID=$!
    EXTRA_PIDS="$WPID"
    n=300
    while ((n-- > 0)) && [ ! -e "$TMP_ROOT/ready" ] && kill -0 "$WPID" 2>/dev/null; do nap 0.1; done
    LAST_REQ="kill point $k: writers set up"
    expect_true "kill point $k: the writers got going (set-up acknowledged)" test -e "$TMP_ROOT/ready"
    # the kill: a random moment 50..1500 ms into the writes
    delay_ms=$((50 + RANDOM % 1451))
    printf -v delay_s '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000))
    nap "$delay_s"
    kill9_server
    wait_pid "$WPID" 60
    wrc=$?
    EXTRA_PIDS=
    W=$(tail -n 1 "$TMP_ROOT/write.out")
    LAST_REQ="crash_writer write (kill point $k)"
    # the report's fields, a line each, by one jq (nothing if it is not JSON)
    if ! { read -r werrors && read -r acked && read -r inflight; } < <(jq -c '.errors, .acked, .inflight' <<<"$W" 2>/dev/null); then
        fail "kill point $k: the writer's report" "a JSON summary" "$(cat "$TMP_ROOT/write.out")"
        werrors='["no report"]' acked=0 inflight=0
    fi
    expect_eq "kill point $k: writer errors (non-2xx answers before the kill)" "[]" "$werrors"
    expect_eq "kill point $k: writer exit status" 0 "$wrc"
    acked_total=$((acked_total + acked))
    inflight_total=$((inflight_total + inflight))

    # what did the kill leave? (read-only check; a torn tail is possible but rare for a process kill)
    LAST_REQ="chatd --check (after kill -9, before restart)"
    "$CHATD" --check "$D" >"$TMP_ROOT/check0.out" 2>&1
    rc0=$?
    if [ "$rc0" != 0 ]; then
        if grep -qi torn "$TMP_ROOT/check0.out"; then torn_seen=$((torn_seen + 1)); ok
        else fail "kill point $k: --check after the kill reports only a torn tail, if anything" "exit 0 or a torn tail" "$(cat "$TMP_ROOT/check0.out")"; fi
    fi
    size_before=$(stat -c %s "$LOG")
    injected=0
    if ((k % 2 == 0)) && [ "$rc0" == 0 ]; then
        # a torn write: the first few bytes of a copy of the last record, after it (over the
        # zeros written ahead; only on a clean end: garbage after a torn tail the kill left
        # would be damage, not a torn tail)
        read -r a b z <<<"$(last_record "$LOG")"
        if ((b > a)); then
            cut=$((1 + RANDOM % z))
            tail -c +$((a + 1)) "$LOG" | head -c "$cut" |
                dd of="$LOG" bs=1M seek="$b" oflag=seek_bytes iflag=fullblock conv=notrunc status=none
            torn_made=$((torn_made + 1)) injected=1
            LAST_REQ="chatd --check (with a torn tail of $cut bytes)"
            "$CHATD" --check "$D" >"$TMP_ROOT/check1.out" 2>&1
            rc1=$?
            expect_true "kill point $k: --check reports the torn tail (exit $rc1, non-zero)" test "$rc1" != 0
            expect_true "kill point $k: --check says 'torn'" grep -qi torn "$TMP_ROOT/check1.out"
        fi
    fi

    if ! DATA_DIR=$D try_start_server --fsync always "${FLAGS[@]}"; then
        EVIDENCE=$(mktemp -d "${TMPDIR:-/tmp}/chatd-crash-evidence.XXXXXX")
        cp -r "$D" "$EVIDENCE/data"
        cp "$SERVER_LOG" "$STATE" "$TMP_ROOT"/server.*.log "$EVIDENCE/" 2>/dev/null
        LAST_REQ= STATUS=
        fail "kill point $k (delay ${delay_ms} ms): the restart after kill -9" "the server starts" \
            "exit $SERVER_RC: $(tail -n 2 "$SERVER_LOG" | tr '\n' ' ') (data dir and logs kept in $EVIDENCE)"
        grep -h "compaction" "$TMP_ROOT"/server.*.log | tail -n 4 | sed 's/^/  | /'
        break
    fi
    if [ "$(stat -c %s "$LOG")" != "$size_before" ] || [ "$injected" == 1 ]; then
        expect_true "kill point $k: the restart reports the torn tail it cut" grep -qiE 'torn|cut' "$SERVER_LOG"
    fi
    LAST_REQ="crash_writer check (kill point $k, delay ${delay_ms} ms)"
    C=$("$CWPY" "$CW" check --port "$PORT" --state "$STATE" --settle --final-write 2>&1 | tail -n 1)
    if ! { read -r errs && read -r cerrors && read -r checked && read -r store; } < <(jq -rc '(.errors | length), .errors,
            .acked_checked, "\(.users) users, \(.conversations) conversations, \(.messages_listed) messages"' <<<"$C" 2>/dev/null); then
        fail "kill point $k: the checker's report" "a JSON summary" "$C"
        errs=1 cerrors='["no report"]' checked=0 store="? users, ? conversations, ? messages"
    fi
    if [ "$errs" == 0 ]; then ok; else
        fail "kill point $k (delay ${delay_ms} ms, $acked acked, $inflight in flight): acknowledged writes after the restart" "no violation" "$cerrors"
    fi
    checked_total=$((checked_total + checked))
    expect_eq "kill point $k: every write acknowledged this round was checked" "$acked" "$checked"
    req GET /healthz
    expect_status 200
    stop_server
    LAST_REQ="chatd --check $D (stopped, after the restart)"
    "$CHATD" --check "$D" >"$TMP_ROOT/check2.out" 2>&1
    rc=$?
    if [ "$rc" == 0 ]; then ok; else fail "kill point $k: chatd --check exit status after the restart" 0 "$rc: $(tail -n 3 "$TMP_ROOT/check2.out")"; fi
    echo "  kill point $k: delay ${delay_ms} ms, $acked writes acked, $inflight in flight, $checked checked, $store in the store"
    checks_done; [ "$FAILS" == "$f0" ] && survived=$((survived + 1))
done

compactions=$(cat "$TMP_ROOT"/server.*.log 2>/dev/null | grep -c "compaction done")
echo "crash totals: $survived/$KILL_POINTS kill points survived, $checked_total acknowledged writes checked ($acked_total acked, $inflight_total in flight at the kill), torn tails: $torn_seen left by kills, $torn_made made and cut; $compactions compactions under load"
