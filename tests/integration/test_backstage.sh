#!/usr/bin/env bash
# deploy/backstage/template.yaml sends a request previewd accepts: its body,
# rendered from sample parameters as Backstage would, is valid against
# api/openapi.yaml's CreateRequest (check_openapi.py's validator), and a real
# previewd answers it 201 or 202, recording the proxy's token as requester.
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

B=$T_ROOT/deploy/backstage
render() { python3 "$T_ROOT/tests/lib/backstage_render.py" "$B/template.yaml" "$B/app-config.yaml" "$T_ROOT/api/openapi.yaml" "$@"; }

t_begin "the template's request is valid against the OpenAPI spec"
out=$(render owner=team-a ttl=4h base=test)
t_eq 0 "$?" "renders with no error: $(jq_of "$out" -c .errors)"
t_eq POST "$(jq_of "$out" .method)" "it is a POST"
t_eq /v1/environments "$(jq_of "$out" .path)" "to /v1/environments, through the proxy endpoint"
t_eq '{"base":"test","owner":"team-a","ttl":"4h"}' "$(jq_of "$out" -cS .body)" "the body carries the form's owner, base and ttl"
out=$(render owner=team-b)
t_eq '{"base":"dev","owner":"team-b","ttl":"8h"}' "$(jq_of "$out" -cS .body)" "the form's defaults fill base and ttl"
# the same validator refuses what previewd would refuse: the test can fail
out=$(render owner=Team_B)
t_eq 1 "$?" "an owner that is not a DNS label is refused"
t_match "/owner: 'Team_B' does not match" "$(jq_of "$out" -c .errors)" "by the spec's DnsLabel"
t_match "form: owner" "$(jq_of "$out" -c .errors)" "and by the form's own pattern"
t_eq "$(yq_pattern() { python3 -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["components"]["schemas"]["DnsLabel"]["pattern"])' "$T_ROOT/api/openapi.yaml"; }; yq_pattern)" \
	"$(python3 -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["parameters"][0]["properties"]["owner"]["pattern"])' "$B/template.yaml")" \
	"the form's owner pattern is the spec's DnsLabel"

t_begin "a real previewd accepts it"
t_need "previewd starts" pv_start "$T_TMP/data" PREVIEWD_WAIT_MS=10000
pv_token create backstage --role writer
TOKEN=$PV_OUT
http GET /v1/info "" -H "Authorization: Bearer $TOKEN"
bases=$(jqr -c .bases)
for base in $(python3 -c 'import sys,yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["spec"]["parameters"][0]["properties"]["base"]["enum"]))' "$B/template.yaml"); do
	t_ok "the form's base $base is one previewd offers ($bases)" jq -e --arg b "$base" 'index($b) != null' <<<"$bases"
done
n=0
for ttl in 1h 4h 8h 1d 3d 7d; do
	n=$((n + 1))
	out=$(render owner="bs-$n" ttl="$ttl")
	# sent as the proxy would: the template's headers and body, its token added
	http POST "$(jq_of "$out" .path)" "$(jq_of "$out" -c .body)" -H "Authorization: Bearer $TOKEN"
	t_match '^20[12]$' "$HTTP_STATUS" "ttl $ttl: previewd answers 201 or 202 ($HTTP_STATUS: $(jqr -c '.detail // .status'))"
	t_eq "bs-$n" "$(jqr .name)" "ttl $ttl: the environment is named for the owner"
done
t_eq backstage "$(jqr .requested_by)" "the requester is the proxy's token"
http POST "$(jq_of "$(render owner=bs-x)" .path)" "$(jq_of "$(render owner=bs-x)" -c .body)"
t_eq 401 "$HTTP_STATUS" "without the proxy's Authorization previewd refuses"
t_end
