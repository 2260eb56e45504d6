#!/usr/bin/env bash
# The README's flag table and `chatd --help` list the same flags, both ways, and give the same
# default where --help states one ("(default X" / "(default X;"): a flag added to one and not
# the other, or a default changed in one place, fails here.
. "$(dirname "$0")/lib.sh"
README=$(dirname "$0")/../README.md

HELP=$("$CHATD" --help)
expect_eq "chatd --help exit status" 0 "$?"
# --help: every --flag at the start of an option line or after ", " on it
help_flags=$(grep -E '^  --' <<<"$HELP" | grep -oE '(^  |, )--[a-z0-9-]+' | sed -E 's/^(  |, )//' | sort -u)
# README: the first column of every table row that starts with a `--flag`
table=$(grep -E '^\| `--' "$README")
readme_flags=$(cut -d'|' -f2 <<<"$table" | grep -oE -- '--[a-z0-9-]+' | sort -u)
expect_true "--help lists flags ($(wc -w <<<"$help_flags"))" test "$(wc -w <<<"$help_flags")" -ge 20
expect_true "the README table lists flags ($(wc -w <<<"$readme_flags"))" test "$(wc -w <<<"$readme_flags")" -ge 20

for f in $help_flags; do
    expect_true "$f (in --help) has a row in the README flag table" grep -qx -- "$f" <<<"$readme_flags"
done
for f in $readme_flags; do
    expect_true "$f (in the README table) is in chatd --help" grep -qx -- "$f" <<<"$help_flags"
done

# defaults: --help's "(default X" against the row's second column
while IFS= read -r line; do
    f=$(grep -oE -- '^  --[a-z0-9-]+' <<<"$line" | tr -d ' ')
    d=$(sed -nE 's/.*\(default ([^;)]*)[;)].*/\1/p' <<<"$line")
    [ -z "$d" ] && continue
    row=$(grep -E "^\| \`$f[ \`]" "$README" | head -n 1)
    [ -z "$row" ] && continue   # already failed above
    rd=$(sed 's/\\|/!/g' <<<"$row" | cut -d'|' -f3 | sed -E 's/^ +| +$//g')   # an escaped \| is no column
    expect_eq "$f: the README's default is --help's" "$d" "$rd"
done < <(grep -E '^  --[a-z0-9-]+ .*\(default ' <<<"$HELP")
