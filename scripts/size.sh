#!/usr/bin/env bash
# scripts/size.sh — the design card's size rules for src/, checked in make test: src/*.c + src/*.h
# within SIZE_TOTAL lines (7500), no file over SIZE_FILE lines (600), no line over SIZE_LINE
# characters (110). Prints each breach and exits 1 if there is any; a summary and 0 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 2
total_max=${SIZE_TOTAL:-7500} file_max=${SIZE_FILE:-600} line_max=${SIZE_LINE:-110}
bad=0
total=$(cat src/*.c src/*.h | wc -l)
[ "$total" -le "$total_max" ] || { echo "size: src/*.c + src/*.h is $total lines, over $total_max"; bad=1; }
for f in src/*.c src/*.h; do
    n=$(wc -l < "$f")
    [ "$n" -le "$file_max" ] || { echo "size: $f is $n lines, over $file_max"; bad=1; }
done
long=$(awk -v m="$line_max" 'length > m { print FILENAME ":" FNR ": " length " characters" }' src/*.c src/*.h)
[ -z "$long" ] || { echo "$long" | sed "s/^/size: over $line_max: /"; bad=1; }
[ "$bad" = 0 ] && echo "size: src/*.c + src/*.h $total lines (<= $total_max), every file <= $file_max, every line <= $line_max"
exit "$bad"
