# tests/api_lib.sh — sourced after lib.sh by the API test files (t_users, t_messages, ...): the
# same checks and helpers as lib.sh's, with fewer processes (issue 15: a jq, head or tr process
# costs more CPU than the request it checks; in lib.sh's batched jq each check costs jq ~5 ms
# to compile, an error-shape check with its regex the most). To fold into lib.sh.
# (The name ends in lib.sh: a failed check names the test file's line, as lib.sh's do.)

# expect_ts JQ_PATH: the value is an RFC 3339 UTC time with milliseconds (lib.sh's TS_RE), checked
# in the batched jq (lib.sh's runs a jq of its own)
expect_ts() {
    expect_jq "$1 | if type == \"string\" and test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z\$\")
               then \"a timestamp\" else tojson end" "a timestamp"
}

# expect_error_shape, expect_error_code: as lib.sh's, but an error body of the usual form
# {"error":{"code":"c","message":"m"}} (a non-empty message of valid JSON string characters) is
# one JSON value of that shape without asking jq; any other body goes to lib.sh's jq checks
_API_ERR_RE='^\{"error":\{"code":"([a-z][a-z0-9_]*)","message":"([^"\[:cntrl:]]|\\(["\/bfnrt]|u[0-9a-fA-F]{4}))+"\}\}$'
eval "_lib_$(declare -f expect_error_shape)"   # lib.sh's, for the other bodies
expect_error_shape() {
    if ! [[ $BODY =~ $_API_ERR_RE ]]; then _lib_expect_error_shape; return; fi
    ok
    _hdr_v Content-Type   # the Content-Type check as lib.sh's
    if [[ $HDR =~ $JSON_CT_RE ]]; then ok; else fail "error Content-Type" "application/json" "$HDR"; fi
}
expect_error_code() {   # CODE
    expect_error_shape
    if [[ $BODY =~ $_API_ERR_RE ]]; then expect_eq "jq '.error.code'" "$1" "${BASH_REMATCH[1]}"
    else expect_jq '.error.code' "$1"; fi
}
