#!/usr/bin/env bash
# The API documentation is true: docs/API.md's examples give, against a fresh server, the answers
# it shows (scripts/apidoc.py; times and tokens aside); docs/openapi.json is OpenAPI 3.1 JSON
# whose paths and methods are exactly the routes (every route table entry of src/ documented,
# and each documented path answering OPTIONS with exactly the documented methods in Allow);
# every documented operation has its own heading in docs/API.md.
. "$(dirname "$0")/lib.sh"
TOP=$(cd "$(dirname "$0")/.." && pwd)
DOC=$TOP/docs/API.md
OAS=$TOP/docs/openapi.json

# --- the examples ------------------------------------------------------------------------------
start_server
LAST_REQ="scripts/apidoc.py check $BASE (refresh after a deliberate change: make apidoc)"
out=$(cd "$TOP" && timeout 280 "$PYTHON" scripts/apidoc.py check "$BASE" "$DOC" 2>&1)
rc=$?
expect_eq "every example of docs/API.md answers as documented ($(tail -n 1 <<<"$out" | cut -c1-80))" 0 "$rc"
[ "$rc" != 0 ] && sed 's/^/    /' <<<"$out" | head -n 40
n=$(sed -nE 's/^apidoc: ([0-9]+) examples run, ([0-9]+) checked.*/\2/p' <<<"$out")
expect_true "docs/API.md has checked examples (${n:-none})" test "${n:-0}" -ge 15

# --- openapi.json: JSON, OpenAPI 3.1, the parts a generator needs ------------------------------
expect_true "docs/openapi.json is JSON" jq empty "$OAS"
expect_match "openapi is 3.1.x" '^3\.1\.[0-9]+$' "$(jq -r .openapi "$OAS")"
expect_eq "info has a title and a version" true "$(jq '(.info.title | type) == "string" and (.info.version | type) == "string"' "$OAS")"
expect_eq "every operation has responses, each with a description" "[]" \
    "$(jq -c '[.paths | to_entries[] | .key as $p | .value | to_entries[] | select(.key | test("^(get|put|post|delete)$"))
               | select((.value.responses | type) != "object" or ([.value.responses[] | select(has("$ref") | not)
               | select((.description | type) != "string")] | length) > 0) | "\(.key) \($p)"]' "$OAS")"
expect_eq "every \$ref points at something" "[]" \
    "$(jq -c '. as $d | [.. | objects | select(has("$ref")) | ."$ref"] | unique
               | map(select(. as $r | ($r | ltrimstr("#/") | split("/")) as $k | $d | getpath($k) == null))' "$OAS")"

# --- routes in the source == paths in openapi.json ----------------------------------------------
# a route table entry is a line `{ "/path", ...`; an :id (or *) in it is an id: /path/{id}
src_routes=$(grep -ohE '^[[:space:]]*\{ *"/[a-z0-9_/.*:-]*"' "$TOP"/src/*.c | sed -E 's/^[^"]*"//; s/"$//; s#\*#{id}#g; s#:id#{id}#g' | sort -u)
doc_paths=$(jq -r '.paths | keys[]' "$OAS" | sed -E 's/\{[a-z_]+\}/{id}/g' | sort -u)
expect_true "the route tables were found in src/ ($(wc -l <<<"$src_routes") routes)" test "$(wc -l <<<"$src_routes")" -ge 10
expect_eq "every route of src/ is in docs/openapi.json" "" "$(comm -23 <(echo "$src_routes") <(echo "$doc_paths") | tr '\n' ' ')"

# each documented path: OPTIONS answers 204 and Allow lists exactly its documented methods
# (the list taken apart and sorted by bash, not by five processes a path)
sorted_methods() {   # ALLOW -> its methods but HEAD and OPTIONS, sorted, one space apart
    local a=() m i j t
    IFS=, read -ra a <<<"${1// /}"
    local out=()
    for m in "${a[@]}"; do [[ -z $m || $m == HEAD || $m == OPTIONS ]] || out+=("$m"); done
    for ((i = 1; i < ${#out[@]}; i++)); do
        for ((j = i; j > 0; j--)); do
            [[ ${out[j - 1]} > ${out[j]} ]] || break
            t=${out[j]} out[j]=${out[j - 1]} out[j - 1]=$t
        done
    done
    echo "${out[*]}"
}
while read -r path methods; do
    url=${path//\{id\}/1}
    req OPTIONS "$url"
    expect_eq "OPTIONS $path is routed" 204 "$STATUS"
    allow=$(sorted_methods "$(hdr Allow)")
    expect_eq "$path: Allow (without HEAD, OPTIONS) = the documented methods" "$methods" "$allow"
done < <(jq -r '.paths | to_entries[] | "\(.key) \([.value | keys[] | select(test("^(get|put|post|delete)$")) | ascii_upcase] | sort | join(" "))"' "$OAS")
stop_server

# --- docs/API.md has a heading for each operation ------------------------------------------------
HEADINGS=
while IFS= read -r line; do [[ $line == '### '* ]] && HEADINGS+=$line$'\n'; done <"$DOC"
in_headings() { [[ $HEADINGS == *"$1"* ]]; }   # (the text has no newline: a line of them has it)
while read -r m path; do
    p=$path
    while [[ $p =~ \{([a-z_]+)\} ]]; do p=${p/"${BASH_REMATCH[0]}"/:${BASH_REMATCH[1]}}; done
    if [ "$p" == / ]; then continue; fi   # the web client: described in the README
    expect_true "docs/API.md: a ### heading names $m $p" in_headings "\`$m $p\`"
done < <(jq -r '.paths | to_entries[] | .key as $p | .value | keys[] | select(test("^(get|put|post|delete)$")) | "\(ascii_upcase) \($p)"' "$OAS")
