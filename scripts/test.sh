#!/usr/bin/env bash
# scripts/test.sh — what `make test` runs: every build and test step in order, each reported as
# it finishes (PASS/FAIL, its counts, its time; the shell suites also print one line per file),
# going on after a failure so one run shows everything, and ending with the line
# "N passed, M failed" over all checks (unit checks, shell checks, fuzz seeds; a step that fails
# without counting, e.g. a build, counts as one failure). Exit status 1 if anything failed.
# Full output of each step: build/test-logs/STEP.log.
set -u
cd "$(dirname "$0")/.." || exit 2
logs=build/test-logs
mkdir -p "$logs"
MAKE=${MAKE:-make}
passed=0 failed=0 failed_steps=()
t_all=$(date +%s)

# The counts a step's log holds: unit binaries and test files print "NAME: N checks, M failed",
# tests/run.sh ends with "... X checks, Y failed, ...", fuzz-regress prints "fuzz_x: N seed inputs ok".
count() {   # LOG -> "checks fails"
    awk '/^[a-z0-9_]+: [0-9]+ checks, [0-9]+ failed$/ { c += $2; f += $4 }
         /files passed, .* checks, .* failed/ { for (i = 1; i <= NF; i++) {
             if ($(i + 1) ~ /^checks,?$/) c += $i; if ($(i + 1) ~ /^failed,?$/) f += $i } }
         /^fuzz_[a-z]+: [0-9]+ seed inputs ok$/ { c += $2 }
         END { printf "%d %d\n", c, f }' "$1"
}

step() {   # NAME COMMAND...: run it; stream lines that start with PASS/FAIL/SKIP (per-file progress)
    local name=$1 t0 rc c f
    shift
    t0=$(date +%s)
    echo "== $name: $*"
    "$@" >"$logs/$name.log" 2>&1 &
    local pid=$!
    tail -n +1 -f --pid=$pid "$logs/$name.log" 2>/dev/null | grep --line-buffered -E '^(PASS|FAIL|SKIP) '
    wait $pid
    rc=$?
    read -r c f < <(count "$logs/$name.log")
    if [ "$rc" == 0 ]; then
        passed=$((passed + c - f)); failed=$((failed + f))
        printf 'PASS %s: %d checks, %ds\n' "$name" "$c" $(($(date +%s) - t0))
    else
        [ "$f" == 0 ] && f=1
        passed=$((passed + (c > f ? c - f : 0))); failed=$((failed + f)); failed_steps+=("$name")
        printf 'FAIL %s (exit %d, %ds); last lines of %s:\n' "$name" "$rc" $(($(date +%s) - t0)) "$logs/$name.log"
        grep -v -E '^(PASS|SKIP) ' "$logs/$name.log" | tail -n 40 | sed 's/^/    /'
    fi
}

step build        $MAKE -j2 all
step unit         $MAKE -j2 unit
step shell        $MAKE shell
step clang        $MAKE -j2 CC=clang BUILD=build/clang BIN=build/clang/chatd all
step san-build    $MAKE -j2 SAN=1 all
step san-unit     $MAKE -j2 SAN=1 unit
step san-shell    $MAKE SAN=1 shell
step deploy       $MAKE test-deploy
step tls          $MAKE test-tls
step fuzz-regress $MAKE fuzz-regress

echo "----"
echo "make test: $(($(date +%s) - t_all))s${failed_steps[*]:+; failed steps: ${failed_steps[*]}}"
echo "$passed passed, $failed failed"
[ ${#failed_steps[@]} == 0 ]
