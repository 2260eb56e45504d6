# tests/api_lib.sh — sourced after lib.sh by the API test files (t_users, t_messages, ...): the
# same checks as lib.sh's, with fewer processes (issue 15: a jq process costs more CPU than the
# request it checks). To fold into lib.sh (its error-shape checks went there in 248bc6e).
# (The name ends in lib.sh: a failed check names the test file's line, as lib.sh's do.)

# expect_ts JQ_PATH: the value is an RFC 3339 UTC time with milliseconds (lib.sh's TS_RE), checked
# in the batched jq (lib.sh's runs a jq of its own)
expect_ts() {
    expect_jq "$1 | if type == \"string\" and test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z\$\")
               then \"a timestamp\" else tojson end" "a timestamp"
}
