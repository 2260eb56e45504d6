#!/usr/bin/env bash
# scripts/soak.sh — the crash test (tests/t_crash.sh) with many kill points: concurrent writers
# against --fsync always, kill -9 at a random moment, restart, every acknowledged write checked,
# `chatd --check` after each restart. One data dir for the whole run, so every round also
# re-checks everything the earlier rounds left.
#
#   scripts/soak.sh [-n KILL_POINTS] [-t WRITER_THREADS] [-s SEED] [-f FLAGS] [--chatd PATH]
#     -n N        kill points (default 50)
#     -f FLAGS    server flags (default, as t_crash.sh: "--compact-min 200 --compact-pct 20",
#                 so compactions run under the load; -f "--compact-pct 0" for none)
#     -t N        concurrent writer threads (default 6)
#     -s N        seed for the kill delays (default: random; printed)
#     --chatd P   the binary (default ./chatd; e.g. build/san/chatd for ASan+UBSan)
#     -v          print every kill point's line
# Prints the totals (kill points survived, acknowledged writes checked); exit 0 when every
# kill point survived.
set -u
cd "$(dirname "$0")/.." || exit 2
n=50 threads=6 seed= chatd=./chatd verbose= flags=${CRASH_FLAGS---compact-min 200 --compact-pct 20 --max-conns-per-ip 0 --max-streams-per-user 0 --write-rate 0 --register-rate 0}
while [ $# -gt 0 ]; do
    case $1 in
        -n) n=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        -s) seed=$2; shift 2 ;;
        -f) flags=$2; shift 2 ;;
        --chatd) chatd=$2; shift 2 ;;
        -v) verbose=1; shift ;;
        -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case $n in '' | *[!0-9]*) echo "soak.sh: -n wants a number" >&2; exit 2 ;; esac
case $chatd in /*) ;; *) chatd=$PWD/$chatd ;; esac
[ -x "$chatd" ] || { echo "soak.sh: $chatd is not executable (run make first)" >&2; exit 2; }

out=$(mktemp "${TMPDIR:-/tmp}/chatd-soak.XXXXXX")
trap 'rm -f "$out"' EXIT
t0=$(date +%s)
echo "soak: $n kill points, $threads writer threads, $chatd $flags"
env CHATD="$chatd" KILL_POINTS="$n" WRITER_THREADS="$threads" CRASH_FLAGS="$flags" ${seed:+SEED=$seed} \
    bash tests/t_crash.sh >"$out" 2>&1 &
pid=$!
# progress: one dot per kill point (or the full lines with -v)
seen=0
while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    now=$(grep -c '^  kill point' "$out")
    while ((seen < now)); do
        seen=$((seen + 1))
        if [ -n "$verbose" ]; then grep '^  kill point' "$out" | sed -n "${seen}p"; else printf '.'; fi
    done
done
wait "$pid"
rc=$?
[ -z "$verbose" ] && echo
grep -E '^t_crash: seed' "$out"
if grep -q '^FAIL' "$out"; then
    echo "--- failures:"
    grep -A6 '^FAIL' "$out" | head -n 80
fi
totals=$(grep '^crash totals:' "$out" | tail -n 1)
echo "${totals:-crash totals: none (the test did not finish)}"
tail -n 1 "$out"
echo "soak: $(($(date +%s) - t0)) s, exit $rc"
exit "$rc"
