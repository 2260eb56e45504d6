#!/usr/bin/env bash
# tests/run.sh — run every tests/t_*.sh against the chatd binary in $CHATD.
#   CHATD=/abs/path/chatd tests/run.sh [NAME...]   (NAME: run only t_NAME.sh / matching files)
#   JOBS=N   how many test files run at once (default: 2; each starts its own servers)
#   VERBOSE=1  print every file's output, not only the failing ones'
# Prints PASS/FAIL/SKIP per file as it finishes, then a summary; exits non-zero if any file failed.
set -u
cd "$(dirname "$0")" || exit 2
here=$PWD

if [ -z "${CHATD:-}" ]; then
    echo "run.sh: set CHATD to the chatd binary" >&2
    exit 2
fi
case $CHATD in /*) ;; *) CHATD=$(cd "$(dirname "$CHATD")" && pwd)/$(basename "$CHATD") ;; esac
if [ ! -x "$CHATD" ]; then
    echo "run.sh: $CHATD is not an executable file" >&2
    exit 2
fi
export CHATD
for tool in curl jq python3 timeout mktemp; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 2; }
done

tests=()
if [ $# -gt 0 ]; then
    for n in "$@"; do
        if [[ $n == t_*.sh && -f $n ]]; then tests+=("$n"); continue; fi   # an exact file name
        n=${n%.sh}; n=${n#t_}
        for f in t_*"$n"*.sh; do [ -f "$f" ] && tests+=("$f"); done
    done
else   # the deployment and TLS files need their builds: make test-deploy / test-tls name them
    for f in t_*.sh; do
        case $f in t_tls.sh | t_static.sh | t_arm.sh) continue ;; esac
        [ -f "$f" ] && tests+=("$f")
    done
fi
if [ ${#tests[@]} -eq 0 ]; then
    echo "run.sh: no tests found" >&2
    exit 2
fi

# Longest first (times of the last run with this binary, in build/test-times/; on a fresh clone,
# as in CI, the longest files first): with JOBS files at once, a long file started last would
# leave the other slots idle at the end. Files without a time yet go first.
times_dir=$here/../build/test-times
times=$times_dir/$(cksum <<<"$CHATD" | cut -d' ' -f1)
if [ -f "$times" ]; then
    mapfile -t tests < <(printf '%s\n' "${tests[@]}" |
        awk 'NR == FNR { t[$2] = $1; next } { print (($0 in t) ? t[$0] : 999), $0 }' "$times" - |
        sort -rn -k1,1 | cut -d' ' -f2)
else
    mapfile -t tests < <(wc -l "${tests[@]}" | grep -v ' total$' | sort -rn | awk '{ print $2 }')
fi

JOBS=${JOBS:-2}
out=$(mktemp -d "${TMPDIR:-/tmp}/chatd-run.XXXXXX")
trap 'rm -rf "$out"' EXIT
PER_TEST_TIMEOUT=${PER_TEST_TIMEOUT:-300}

# cpu_s FILE: the CPU seconds (user + system) of the finished children in the output of `times`
# (run in the shell itself, not in a $(...) subshell, which has no children of its own)
cpu_s() { awk 'END { s = 0; for (i = 1; i <= NF; i++) { split($i, b, "m"); s += b[1] * 60 + b[2] }
                     printf "%.1f", s }' "$1"; }

# A file that prints "SKIP: why" and exits 0 could not run here: SKIP, and a failure under CI=true.
# Each line shows the file's wall time and its CPU time (it, its servers and clients).
run_one() {   # file: run it, then print its line at once (progress as files finish)
    local f=$1 start end rc t summary why cpu
    start=$EPOCHREALTIME
    timeout -k 5 "$PER_TEST_TIMEOUT" bash "$here/$f" >"$out/$f.out" 2>&1
    rc=$?
    end=$EPOCHREALTIME
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    times >"$out/$f.times"
    cpu=$(cpu_s "$out/$f.times")
    summary=$(grep -E '^t_[a-z0-9_]+: [0-9]+ checks, [0-9]+ failed$' "$out/$f.out" | tail -n 1)
    why=$(grep -m1 '^SKIP: ' "$out/$f.out")
    if [ "$rc" == 0 ] && [ -n "$why" ]; then
        if [ -n "${CI:-}" ]; then rc=3; summary="skipped under CI=true (${why#SKIP: })"
        else echo skip >"$out/$f.skip"; printf 'SKIP %-22s %6ss cpu %5ss  %s\n' "$f" "$t" "$cpu" "${why#SKIP: }"; fi
    fi
    echo "$rc" >"$out/$f.rc"
    echo "$t" >"$out/$f.time"
    if [ "$rc" == 0 ] && [ -z "$why" ]; then printf 'PASS %-22s %6ss cpu %5ss  %s\n' "$f" "$t" "$cpu" "${summary#*: }"
    elif [ "$rc" != 0 ]; then
        [ "$rc" == 124 ] && summary="timed out after ${PER_TEST_TIMEOUT}s; $summary"
        printf 'FAIL %-22s %6ss cpu %5ss  %s (exit %s)\n' "$f" "$t" "$cpu" "${summary#*: }" "$rc"
    fi
}

echo "chatd shell tests: $CHATD (${#tests[@]} files, $JOBS at a time)"
t0=$(date +%s)
running=0
for f in "${tests[@]}"; do
    run_one "$f" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

pass=0 skipped=0 failed=() total_checks=0 total_fails=0 cpu=0
for f in "${tests[@]}"; do
    rc=$(cat "$out/$f.rc" 2>/dev/null || echo 99)
    summary=$(grep -E '^t_[a-z0-9_]+: [0-9]+ checks, [0-9]+ failed$' "$out/$f.out" | tail -n 1)
    c=$(sed -E 's/.*: ([0-9]+) checks.*/\1/' <<<"$summary")
    x=$(sed -E 's/.*, ([0-9]+) failed/\1/' <<<"$summary")
    total_checks=$((total_checks + ${c:-0}))
    total_fails=$((total_fails + ${x:-0}))
    [ -f "$out/$f.times" ] && cpu=$(awk -v a="$cpu" -v b="$(cpu_s "$out/$f.times")" 'BEGIN { print a + b }')
    if [ -f "$out/$f.skip" ]; then skipped=$((skipped + 1))
    elif [ "$rc" == 0 ]; then
        pass=$((pass + 1))
        [ -n "${VERBOSE:-}" ] && { echo "== $f"; sed 's/^/    /' "$out/$f.out"; }
    else
        failed+=("$f")
        [ "${x:-0}" == 0 ] && total_fails=$((total_fails + 1))   # failed without a failed check
        echo "== FAIL $f"
        sed 's/^/    /' "$out/$f.out"
    fi
done
# this run's times for the next one (files not run this time keep their last time)
mkdir -p "$times_dir"
{ for f in "${tests[@]}"; do [ -f "$out/$f.time" ] && echo "$(<"$out/$f.time") $f"; done
  [ -f "$times" ] && cat "$times"; } | awk '!seen[$2]++' >"$times.tmp" && mv "$times.tmp" "$times"
echo "----"
echo "$pass/${#tests[@]} files passed, $skipped skipped, $total_checks checks, $total_fails failed, $(($(date +%s) - t0))s (cpu ${cpu}s)"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
exit 0
