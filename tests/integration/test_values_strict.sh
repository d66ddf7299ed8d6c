#!/usr/bin/env bash
# ctest-labels: concurrent
# test_values_strict.sh — values that fit the chart (issue 13, last point):
# PREVIEWD_VALUES_STRICT=true refuses a key the base does not have and a
# value whose shape (mapping, list, scalar) it changes, as a 422 naming the
# path in "field"; off (the default) takes them as before.
#
# previewd on its embedded default repository (file://DATA/gitops.git), the
# seed chart's dev base (image.repository, image.tag, replicaCount, ...):
#   1  strict: a create with image.tagg is a 422 with field values.image.tagg
#      and the base's keys in the detail; no record, nothing in Git
#   2  strict: a create that fits is taken and pushed; a PATCH with a string
#      where the environment has a mapping is a 422 and leaves Git alone; a
#      PATCH that fits (a known key, a null deleting one, "2" for 1) is taken
#   3  strict: a key added at create under an empty mapping (free-form)
#      patches later, since a PATCH fits the environment's own values
#   4  off: image.tagg is committed as asked
#
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

values_of() { g show "main:env/$1/values.yaml"; }

# ---------------------------------------------------------------- 1
t_begin "1: strict refuses a key the base does not have"
t_need "previewd starts strict" pv_start "$T_TMP/d1" PREVIEWD_VALUES_STRICT=true PREVIEWD_GIT_POLL=1s
G=$PV_DATA/gitops.git
before=$(head_commit)
http POST /v1/environments '{"owner":"o","name":"web","ttl":"1h","values":{"image":{"tagg":"pr-1"}}}'
t_eq 422 "$HTTP_STATUS" "a create with image.tagg is a 422"
t_eq application/problem+json "$HTTP_CTYPE" "as problem+json"
t_eq values.image.tagg "$(jqr .field)" "field names the path"
t_eq "values.image.tagg: the base dev has no such key (its keys here: repository, tag)" "$(jqr .detail)" \
	"the detail names the base and its keys there"
http GET /v1/environments/web
t_eq 404 "$HTTP_STATUS" "no environment was recorded"
t_eq "$before" "$(head_commit)" "nothing reached Git"
t_ok "no folder env/web" no_folder web

http POST /v1/environments '{"owner":"o","name":"web","ttl":"1h","values":{"image":"nginx:1.27"}}'
t_eq 422 "$HTTP_STATUS" "a string where the base has a mapping is a 422"
t_eq values.image "$(jqr .field)" "field is values.image"
t_match "has a mapping here, not a string" "$(jqr .detail)" "the detail says which shapes"
t_eq "$before" "$(head_commit)" "nothing reached Git"

# ---------------------------------------------------------------- 2
t_begin "2: values that fit are taken; a PATCH that does not is refused"
http POST /v1/environments '{"owner":"o","name":"web","ttl":"1h","values":{"image":{"tag":"pr-1"},"replicaCount":"2"}}'
t_eq 201 "$HTTP_STATUS" "a create with image.tag and replicaCount \"2\" is taken"
t_eventually 20 "env/web is pushed" has_folder web
t_eq pr-1 "$(values_of web | yaml_get - image tag)" "its values.yaml has image.tag pr-1"
pushed=$(head_commit)

http PATCH /v1/environments/web '{"values":{"image":"nginx:1.28"}}'
t_eq 422 "$HTTP_STATUS" "a PATCH of a string over the mapping image is a 422"
t_eq values.image "$(jqr .field)" "field is values.image"
t_eq "values.image: the environment web has a mapping here, not a string" "$(jqr .detail)" \
	"the detail names the environment"
http PATCH /v1/environments/web '{"values":{"image":{"tagg":null}}}'
t_eq 422 "$HTTP_STATUS" "a null for a key it does not have is a 422"
t_eq values.image.tagg "$(jqr .field)" "field is values.image.tagg"
http GET /v1/environments/web
t_eq pr-1 "$(jqr .values.image.tag)" "the record keeps image.tag pr-1"
t_eq "$pushed" "$(head_commit)" "nothing reached Git"

http PATCH /v1/environments/web '{"values":{"image":{"tag":"pr-2","repository":null}}}'
t_eq 200 "$HTTP_STATUS" "a PATCH of a known key and a null deleting one is taken"
t_eventually 20 "the PATCH is pushed" sh -c "git --git-dir '$G' show main:env/web/values.yaml | grep -q pr-2"
t_eq "pr-2 None" "$(values_of web | yaml_get - image tag) $(values_of web | yaml_get - image repository)" \
	"image.tag is pr-2 and image.repository is gone"

# ---------------------------------------------------------------- 3
t_begin "3: a PATCH fits the environment's own values"
# the seed dev base has no empty mapping; make one in a base of people's own
work=$T_TMP/work
git clone -q "$G" "$work"
mkdir -p "$work/env/team"
printf 'image:\n  tag: "1"\npodAnnotations: {}\n' >"$work/env/team/values.yaml"
git -C "$work" add -A
git -C "$work" -c user.name=t -c user.email=t@localhost commit -qm "a team base"
t_ok "the team base is pushed" git -C "$work" push -q origin HEAD:main
teamed() { http GET /v1/bases/team && [ "$HTTP_STATUS" = 200 ]; }
t_eventually 60 "previewd sees the team base" teamed
http POST /v1/environments '{"owner":"o","name":"ann","base":"team","ttl":"1h","values":{"podAnnotations":{"a/b":"1"}}}'
t_eq 201 "$HTTP_STATUS" "keys under the base's empty mapping are free"
http PATCH /v1/environments/ann '{"values":{"podAnnotations":{"a/b":"2"}}}'
t_eq 200 "$HTTP_STATUS" "a PATCH of the key added at create is taken"
http PATCH /v1/environments/ann '{"values":{"podAnnotations":{"a/c":"2"}}}'
t_eq 422 "$HTTP_STATUS" "a new key beside it is not: the environment's map is no longer empty"
t_eq 'values.podAnnotations["a/c"]' "$(jqr .field)" "a key with a slash is bracketed in the path"
pv_stop

# ---------------------------------------------------------------- 4
t_begin "4: off by default"
t_need "previewd starts" pv_start "$T_TMP/d4"
G=$PV_DATA/gitops.git
http POST /v1/environments '{"owner":"o","name":"web","ttl":"1h","values":{"image":{"tagg":"pr-1"}}}'
t_eq 201 "$HTTP_STATUS" "a create with image.tagg is taken"
t_eventually 20 "env/web is pushed" has_folder web
t_eq "pr-1 1.27" "$(values_of web | yaml_get - image tagg) $(values_of web | yaml_get - image tag)" \
	"image.tagg is committed beside the base's image.tag"
http PATCH /v1/environments/web '{"values":{"image":"nginx:1.28"}}'
t_eq 200 "$HTTP_STATUS" "a string over the mapping is taken too"
pv_stop

t_end
