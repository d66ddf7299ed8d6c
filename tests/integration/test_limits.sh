#!/usr/bin/env bash
# ctest-labels: integration
# test_limits.sh — safe by default: previewd started with no limit settings
# at all (PV_LIMITS=(): the harness's limits-off defaults are dropped), on
# the embedded default repository.
#
#   1. /v1/info says the limits: 10 per owner, 1,000 in total, 60 creates a
#      minute with bursts of 20, pages of at most 200
#   2. the create rate: rapid creates from one anonymous client (a new owner
#      each, so no quota interferes) pass for the burst, then 429 with a
#      Retry-After in whole seconds; after waiting that long creates pass
#      again; an Idempotency-Key replay takes no token; reads go on
#   3. list pages: limit=1000 is cut to 200 (the answer's limit says so),
#      items carry no values unless include=values or fields= asks
#   4. the quota per owner: the 11th live environment of one owner is
#      refused (429 quota-exceeded, field owner, no Retry-After); tokens have
#      a bucket each
#   5. the total quota (PREVIEWD_MAX_ENVS=3 set; the rest default)
#
#   bash tests/integration/test_limits.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

PV_LIMITS=()
ASYNC=(-H 'Prefer: respond-async')

# create OWNER [NAME] [curl args...]: an async create; HTTP_* as http leaves them
create() {
    local owner=$1 name=${2:-$1}
    shift
    [ $# -gt 0 ] && shift
    http POST /v1/environments "{\"owner\":\"$owner\",\"name\":\"$name\",\"values\":{\"blob\":\"$BLOB\"}}" \
        "${ASYNC[@]}" "$@"
}
BLOB=$(head -c 3000 /dev/zero | tr '\0' x)
passed() { [[ $HTTP_STATUS =~ ^20[12]$ ]]; }

# ------------------------------------------------------------------ 1. info
t_begin "1. /v1/info says the limits"
t_need "previewd starts with the default limits" pv_start "$T_TMP/data1"
http GET /v1/info
t_eq 200 "$HTTP_STATUS" "GET /v1/info answers 200"
t_eq 10 "$(jqr .limits.envs_per_owner)" "limits.envs_per_owner is 10 by default"
t_eq 1000 "$(jqr .limits.envs)" "limits.envs is 1000 by default"
t_eq 60 "$(jqr .limits.create_rate.per_minute)" "limits.create_rate.per_minute is 60 by default"
t_eq 20 "$(jqr .limits.create_rate.burst)" "limits.create_rate.burst is 20 by default"
t_eq 200 "$(jqr .limits.list_max)" "limits.list_max is 200"
t_eq 10 "$(jqr .quotas.per_owner)" "quotas.per_owner says the same"

# ------------------------------------------------------------------ 2. rate
t_begin "2. the create rate of one anonymous client"
# the bucket holds 20 and gains one a second: rapid creates pass 20 times,
# plus at most one per second the loop took
start=$(date +%s%N)
n=0 first_refusal=''
for i in $(seq 1 60); do
    create "rate-$i"
    if passed; then
        n=$((n + 1))
    else
        first_refusal=$i
        break
    fi
done
elapsed_s=$((($(date +%s%N) - start + 999999999) / 1000000000))
t_eq 429 "$HTTP_STATUS" "rapid creates are refused with 429 once the burst is spent"
t_ok "the first 20 creates passed ($n did before the first refusal)" test "$n" -ge 20
t_ok "no more passed than the burst and the refill allow ($n in ${elapsed_s}s)" test "$n" -le $((20 + elapsed_s))
t_eq urn:previewd:problem:rate-limited "$(jqr .type)" "the problem type is rate-limited"
t_match '^application/problem\+json' "$HTTP_CTYPE" "as problem+json"
t_match 'PREVIEWD_CREATE_RATE' "$(jqr .detail)" "the detail names the setting"
t_match '127\.0\.0\.1' "$(jqr .detail)" "and whose bucket it is (the client address in open mode)"
retry=$(http_header Retry-After)
t_match '^[1-9][0-9]*$' "$retry" "Retry-After is a whole number of seconds ($retry)"
t_eq "$retry" "$(jqr '.detail | capture("retry in (?<s>[0-9]+) s").s')" "the detail says the same wait"
http GET "/v1/environments/rate-$first_refusal"
t_eq 404 "$HTTP_STATUS" "the refused create made nothing"
http GET /v1/environments/rate-1
t_eq 200 "$HTTP_STATUS" "reads are not limited"
sleep "$retry"
create "rate-after"
t_match '^20[12]$' "$HTTP_STATUS" "after waiting Retry-After a create passes again"
# drain the bucket again, then replay a key: the replay takes no token
drain() {
    local i
    for i in $(seq 1 10); do
        create "rate-drain-$1-$i"
        [ "$HTTP_STATUS" = 429 ] && return 0
    done
    return 1
}
# a client that honours Retry-After: a 429 is not stored under the key
for _ in 1 2 3 4 5; do
    create "rate-idem" "" -H 'Idempotency-Key: limits-1'
    [ "$HTTP_STATUS" = 429 ] || break
    sleep "$(http_header Retry-After)"
done
t_match '^20[12]$' "$HTTP_STATUS" "a create with an Idempotency-Key takes a token (retried after each Retry-After)"
t_ok "the bucket is empty again" drain 1
create "rate-idem" "" -H 'Idempotency-Key: limits-1'
t_match '^20[12]$' "$HTTP_STATUS" "its replay is answered although the bucket is empty"
t_eq true "$(http_header Idempotent-Replayed)" "from the stored key"

# ------------------------------------------------------------------ 3. list
t_begin "3. list pages are capped and carry no values unless asked"
http GET '/v1/environments?limit=1000'
t_eq 200 "$HTTP_STATUS" "limit=1000 is answered, not refused"
t_eq 200 "$(jqr .limit)" "the answer says the limit applied: 200"
t_eq true "$(jqr '.items | length <= 200')" "a page holds at most 200 items"
t_eq true "$(jqr '.items | length > 20')" "the environments made above are listed"
t_eq 0 "$(jqr '[.items[] | select(has("values"))] | length')" "no item carries values by default"
t_eq true "$(jqr '[.items[] | has("url") and has("expires_at") and has("status")] | all')" \
    "items keep what a page shows (url, expiry, status)"
small=${#HTTP_BODY}
http GET '/v1/environments?limit=1000&include=values'
t_eq 200 "$HTTP_STATUS" "include=values is answered"
t_eq "$BLOB" "$(jqr '.items[0].values.blob')" "include=values gives each item its values"
t_ok "the page without values is far smaller (${small} vs ${#HTTP_BODY} bytes)" test $((small * 4)) -lt ${#HTTP_BODY}
http GET '/v1/environments?fields=name,values&limit=2'
t_eq '["name","values"]' "$(jqr -c '.items[0] | keys')" "fields=name,values gives just those members"
t_eq 2 "$(jqr '.items | length')" "limit=2 still applies"
t_eq 2 "$(jqr .limit)" "and is said"
http GET '/v1/environments?fields=name,secret'
t_eq 422 "$HTTP_STATUS" "an unknown member in fields is refused"
t_eq fields "$(jqr .field)" "naming the parameter"
http GET '/v1/environments?include=everything'
t_eq 422 "$HTTP_STATUS" "an unknown include is refused"
http GET /v1/environments/rate-1
t_eq "$BLOB" "$(jqr .values.blob)" "one environment still has its values"
pv_stop

# ------------------------------------------------------------------ 4. quota per owner, tokens
t_begin "4. the quota per owner, and a bucket per token"
t_need "previewd starts with the default limits" pv_start "$T_TMP/data2"
for i in $(seq 1 10); do
    create same "same-$i"
    passed || _t_fail "create $i of owner same" "status $HTTP_STATUS: $HTTP_BODY"
done
create same same-11
t_eq 429 "$HTTP_STATUS" "the 11th live environment of one owner is refused"
t_eq urn:previewd:problem:quota-exceeded "$(jqr .type)" "as quota-exceeded"
t_eq owner "$(jqr .field)" "naming the owner field"
t_match 'PREVIEWD_MAX_ENVS_PER_OWNER' "$(jqr .detail)" "the detail names the setting"
t_eq '' "$(http_header Retry-After)" "without a Retry-After: waiting does not help, deleting does"
http DELETE /v1/environments/same-1
t_match '^20[02]$' "$HTTP_STATUS" "one is deleted"
t_eventually 20 "it is gone from Git" bash -c "[ \"\$(curl -s '$PV_URL/v1/environments/same-1' | jq -r .status)\" = deleted ]"
create same same-11
t_match '^20[12]$' "$HTTP_STATUS" "then the owner may create again"

pv_token -m "token create limits-a" create limits-a --role writer
TA=$PV_OUT
pv_token -m "token create limits-b" create limits-b --role writer
TB=$PV_OUT
n=0
for i in $(seq 1 60); do
    create "tok-$i" "" -H "Authorization: Bearer $TA"
    passed || break
    n=$((n + 1))
done
t_eq 429 "$HTTP_STATUS" "token limits-a is refused once its burst is spent"
t_ok "after the burst of 20 ($n)" test "$n" -ge 20
t_match "limits-a" "$(jqr .detail)" "the detail names the token"
create tok-b "" -H "Authorization: Bearer $TB"
t_match '^20[12]$' "$HTTP_STATUS" "token limits-b has a bucket of its own"
pv_stop

# ------------------------------------------------------------------ 5. total
t_begin "5. the total quota"
t_need "previewd starts with PREVIEWD_MAX_ENVS=3" pv_start "$T_TMP/data3" PREVIEWD_MAX_ENVS=3
for o in t-a t-b t-c; do
    create "$o"
    passed || _t_fail "create $o" "status $HTTP_STATUS: $HTTP_BODY"
done
create t-d
t_eq 429 "$HTTP_STATUS" "a 4th live environment is refused"
t_eq urn:previewd:problem:quota-exceeded "$(jqr .type)" "as quota-exceeded"
t_match 'PREVIEWD_MAX_ENVS\)' "$(jqr .detail)" "the detail names PREVIEWD_MAX_ENVS"
http GET /v1/info
t_eq 3 "$(jqr .limits.envs)" "/v1/info says the total set"
pv_stop

t_end
