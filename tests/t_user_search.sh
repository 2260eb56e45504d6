#!/usr/bin/env bash
# Finding users (contract: Users): GET /api/users?q=PREFIX&limit=N — live users whose username
# starts with PREFIX ignoring ASCII case, ordered by lower-cased username, at most limit (1-50,
# default 20); GET /api/users?ids=1,2,3 — those users in the order asked, deleted or unknown
# ones left out (1-100 distinct positive ids). Every malformed query is 400 validation_failed.
. "$(dirname "$0")/lib.sh"
start_server
# registered out of order, so the order of the answer is not the order of the ids
for u in alicia bob ALBERT al_y Alice al.x ali al-z gone1 alf; do new_user U "$u"; done
req POST /api/users/login '{"username":"bob","password":"password123"}'
T=$(jqb .token)
req POST /api/users/login '{"username":"alf","password":"password123"}'
req DELETE "/api/users/$(jqb .user.id)" '{"password":"password123"}' "$(jqb .token)"
expect_status 204                                      # alf is gone
names() {   # the usernames of BODY's {"users":[...]}, in order (by bash: usernames need no escapes)
    local b=$BODY out= re='"username":"([^"\\]*)"'
    [[ $b == '{"users":['* ]] || { jqb '[.users[].username] | join(" ")'; return; }
    while [[ $b =~ $re ]]; do
        out+=${out:+ }${BASH_REMATCH[1]}
        b=${b#*"${BASH_REMATCH[0]}"}
    done
    echo "$out"
}

req GET "/api/users?q=al" "" "$T"
expect_status 200
expect_eq "q=al: every al..., by lower-cased name, no deleted one" "al-z al.x al_y ALBERT ali Alice alicia" "$(names)"
req GET "/api/users?q=ALI" "" "$T"
expect_eq "q=ALI: case ignored, the exact match first" "ali Alice alicia" "$(names)"
req GET "/api/users?q=alice" "" "$T"
expect_eq "q=alice" "Alice" "$(names)"
req GET "/api/users/$(jqb '.users[0].id')" "" "$T"
ONE=$(jqb .user)
req GET "/api/users?q=alice" "" "$T"
expect_eq "the same user object as GET /api/users/:id" "$ONE" "$(jqb '.users[0]')"
req GET "/api/users?q=al&limit=2" "" "$T"
expect_eq "limit=2: the first two" "al-z al.x" "$(names)"
req GET "/api/users?q=al%2E" "" "$T"
expect_eq "q percent-decoded" "al.x" "$(names)"
req GET "/api/users?q=alf" "" "$T"
expect_jq '.users' '[]'
req GET "/api/users?q=$(rep z 32)" "" "$T"
expect_jq '.users' '[]'                                # 32 bytes is allowed
req GET "/api/users?limit=50&q=zz" "" "$T"
expect_status 200
for i in $(seq -w 0 24); do new_user Z "zz$((24 - 10#$i))x"; done
req GET "/api/users?q=zz" "" "$T"
expect_jq '.users | length' 20                         # the default limit
expect_jq '[.users[].username] == ([.users[].username] | sort)' true
expect_jq '.users[0].username' zz0x
expect_jq '.users[19].username' zz4x         # zz0x zz10x..zz19x zz1x zz20x..zz24x zz2x zz3x zz4x
req GET "/api/users?q=zz&limit=50" "" "$T"
expect_jq '.users | length' 25
for bad in "" "q=" "q=$(rep a 33)" "limit=5" "q=al&limit=0" "q=al&limit=51" "q=al&limit=x" "q=al&limit=" \
    "q=al&limit=-1" "q=al&limit=2.0" "q=al%zz"; do
    req GET "/api/users?$bad" "" "$T"
    expect_error 400 validation_failed
done
req GET "/api/users?q=al"
expect_error 401 ""

# --- ids -----------------------------------------------------------------------------------------
req GET "/api/users?ids=5,2,1" "" "$T"
expect_status 200
expect_jq '[.users[].id] | map(tostring) | join(",")' "5,2,1"
expect_jq '[.users[].username] | join(" ")' "Alice bob alicia"
req GET "/api/users?ids=9,10,999999,3" "" "$T"
expect_jq '[.users[].id] | map(tostring) | join(",")' "9,3"   # deleted (10) and unknown left out
req GET "/api/users?ids=99999999999,4294967297,1" "" "$T"
expect_jq '[.users[].id] | map(tostring) | join(",")' "1"     # beyond any id: unknown, left out
req GET "/api/users?ids=10" "" "$T"
expect_jq '.users' '[]'
IDS=$(seq -s, 1 100)
req GET "/api/users?ids=$IDS" "" "$T"
expect_status 200
expect_jq '.users | length' 34                         # 35 registered, one deleted
for bad in "ids=" "ids=1,1" "ids=0" "ids=-1" "ids=a" "ids=1,,2" "ids=1," ",ids=1" "ids=01" "ids=1%2C1" \
    "ids=$IDS,101" "ids=1&q=al" "q=al&ids=1" "ids=1.5" "ids=99999999999999999999"; do
    req GET "/api/users?$bad" "" "$T"
    expect_error 400 validation_failed
done
req GET "/api/users?ids=1"
expect_error 401 ""

# --- restart and chatd --compact: the name index (db.c) is rebuilt from the log, all 35 users
# at once by one sort; a registration after it goes in by itself, in its place
searches() {   # the answers to a few searches, one line each
    local q
    for q in "q=al" "q=ALI" "q=zz&limit=50" "q=a&limit=50" "q=Z&limit=3" "q=alf" "q=b" "q=alicia"; do
        req GET "/api/users?$q" "" "$T"
        echo "$q $STATUS $(names)"
    done
}
BEFORE=$(searches)
expect_match "the searches answered" "q=al 200 al-z al.x al_y ALBERT ali Alice alicia" "$BEFORE"
restart_server
expect_eq "the same searches after a restart" "$BEFORE" "$(searches)"
new_user Y ALG
req GET "/api/users?q=al" "" "$T"
expect_eq "registered after the replay: in its place" "al-z al.x al_y ALBERT ALG ali Alice alicia" "$(names)"
req POST /api/users/register '{"username":"alg","password":"password123"}'
expect_error 409 username_taken
BEFORE=$(searches)
stop_server
D=$SERVER_DATA_DIR
compact_offline "$D"
DATA_DIR=$D start_server
expect_eq "the same searches after chatd --compact" "$BEFORE" "$(searches)"
stop_server
