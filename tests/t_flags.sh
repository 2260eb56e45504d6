#!/usr/bin/env bash
# The README's flag table and `chatd --help` list the same flags, both ways, and give the same
# default where --help states one ("(default X" / "(default X;"): a flag added to one and not
# the other, or a default changed in one place, fails here.
. "$(dirname "$0")/lib.sh"
README=$(dirname "$0")/../README.md

HELP=$("$CHATD" --help)
expect_eq "chatd --help exit status" 0 "$?"
# (read by bash, not by ~250 grep, sed, cut and tr processes)
# --help: every --flag at the start of an option line or after ", " on it
declare -A HF RF   # flag -> 1
help_flags=() readme_flags=() rows=()
while IFS= read -r line; do
    [[ $line =~ ^\ \ (--[a-z0-9-]+) ]] || continue
    f=${BASH_REMATCH[1]} rest=${line#*"${BASH_REMATCH[0]}"}
    while :; do
        [ -n "${HF[$f]-}" ] || { HF[$f]=1; help_flags+=("$f"); }
        [[ $rest =~ ,\ (--[a-z0-9-]+) ]] || break
        f=${BASH_REMATCH[1]} rest=${rest#*"${BASH_REMATCH[0]}"}
    done
done <<<"$HELP"
# README: the first column of every table row that starts with a `--flag`
while IFS= read -r line; do
    [[ $line == '| `--'* ]] || continue
    rows+=("$line")
    col=${line#|} col=${col%%|*}   # (an escaped \| ends it too)
    while [[ $col =~ (--[a-z0-9-]+) ]]; do
        f=${BASH_REMATCH[1]} col=${col#*"${BASH_REMATCH[0]}"}
        [ -n "${RF[$f]-}" ] || { RF[$f]=1; readme_flags+=("$f"); }
    done
done <"$README"
expect_true "--help lists flags (${#help_flags[@]})" test "${#help_flags[@]}" -ge 20
expect_true "the README table lists flags (${#readme_flags[@]})" test "${#readme_flags[@]}" -ge 20

for f in "${help_flags[@]}"; do
    expect_true "$f (in --help) has a row in the README flag table" test -n "${RF[$f]-}"
done
for f in "${readme_flags[@]}"; do
    expect_true "$f (in the README table) is in chatd --help" test -n "${HF[$f]-}"
done

# defaults: --help's "(default X" against the row's second column
DEF_RE='^  (--[a-z0-9-]+) .*\(default ([^;)]*)[;)]'
while IFS= read -r line; do
    [[ $line =~ $DEF_RE ]] || continue
    f=${BASH_REMATCH[1]} d=${BASH_REMATCH[2]}
    [ -z "$d" ] && continue
    row=
    for r in "${rows[@]}"; do [[ $r == "| \`$f "* || $r == "| \`$f\`"* ]] && { row=$r; break; }; done
    [ -z "$row" ] && continue   # already failed above
    rd=${row//\\|/!}            # an escaped \| is no column
    rd=${rd#*|} rd=${rd#*|} rd=${rd%%|*}
    rd=${rd#"${rd%%[! ]*}"} rd=${rd%"${rd##*[! ]}"}
    expect_eq "$f: the README's default is --help's" "$d" "$rd"
done <<<"$HELP"
