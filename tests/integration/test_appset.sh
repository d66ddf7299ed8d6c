#!/usr/bin/env bash
# previewd print-applicationset beside the repository's own ApplicationSet.
# A real previewd writes environments (one placed on a cluster) into the
# seeded flat repository and into one laid out as DESIGN.md's helm-env/
# (PREVIEWD_ENV_DIR=helm-env/env, its own set for dev, test, staging, prod,
# an ingress that hardcodes its host); the repository is cloned with git;
# the printed set, and the repository's set with the printed generators
# pasted in, are run through tests/appset/emulate.py (Argo CD's generators,
# post selectors and templating; goTemplate by Go's text/template and
# Sprig). Checked: the Applications' names, namespaces, clusters and value
# files, no name made twice, and nothing of previewd's on people's ones.
. "$(dirname "$0")/../lib/harness.sh"

EMU=$T_ROOT/tests/appset/emulate.py

# the goTemplate engine: tests/helm/render, built as test_deploy.sh builds it
BUILD_DIR=$(cd "$(dirname "$PREVIEWD_BIN")" && pwd)
PV_HELM_RENDER=$BUILD_DIR/helm-render
export PV_HELM_RENDER
build_render() {
	[ -x "$PV_HELM_RENDER" ] && [ ! "$T_ROOT/tests/helm/render.go" -nt "$PV_HELM_RENDER" ] && return 0
	(cd "$T_ROOT/tests/helm" &&
		env GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOPROXY=off \
			GOCACHE="$BUILD_DIR/go-cache" go build -o "$PV_HELM_RENDER.tmp" render.go) &&
		mv "$PV_HELM_RENDER.tmp" "$PV_HELM_RENDER"
}
t_begin "tests/helm/render builds offline (Argo CD's goTemplate engine)"
t_need "go build tests/helm/render.go" build_render

# people_patched PEOPLE.yaml PRINTED.yaml OUT.yaml: the people's set with its
# generators replaced by the printed BEGIN..END block, nothing else changed
people_patched() {
	python3 - "$@" <<'PY'
import sys, yaml
people, printed, out = sys.argv[1:4]
text = open(printed).read().splitlines()
b = text.index("# BEGIN people's generators")
e = text.index("# END people's generators")
block = yaml.safe_load("\n".join(l[1:] for l in text[b + 1:e]))
docs = [d for d in yaml.safe_load_all(open(people)) if d]
docs[0]["spec"]["generators"] = block["generators"]
yaml.safe_dump_all(docs, open(out, "w"), sort_keys=False)
PY
}

# emulate CLONE SET...: the Applications, one JSON object per line
emulate() {
	local clone=$1
	shift
	python3 "$EMU" "$clone/.git" HEAD "$@"
}

# check_layout LABEL CLONE ENV_DIR PRINTED PEOPLE_SET "PREVIEWS" "PEOPLE" DEFAULT_CLUSTER
# PREVIEWS: name=cluster pairs ("" cluster: the default)
check_layout() {
	local label=$1 clone=$2 dir=$3 printed=$4 people=$5 previews=$6 folks=$7 dflt=$8 out pat p n c inst
	t_ok "$label: the printed set parses as one ApplicationSet" \
		python3 -c 'import sys, yaml; d=[x for x in yaml.safe_load_all(open(sys.argv[1])) if x]; assert len(d)==1 and d[0]["kind"]=="ApplicationSet"' "$printed"

	# before: the people's set as it is turns previewd's folders into
	# Applications too, the same names as the printed set's
	out=$(emulate "$clone" "$printed" "$people" 2>&1)
	t_eq 0 $? "$label: both sets as they are generate"
	t_not "$label: unpatched, the people's set and previewd's make the same names (why the patch exists)" \
		test -z "$(printf '%s\n' "$out" | jq -r .name | sort | uniq -d)"

	t_need "$label: the printed people's generators paste into the people's set" \
		people_patched "$people" "$printed" "$T_TMP/$label-people.yaml"
	out=$(emulate "$clone" "$printed" "$T_TMP/$label-people.yaml" 2>&1)
	t_eq 0 $? "$label: both sets generate over the clone"
	printf '%s\n' "$out" >"$T_TMP/$label-apps.jsonl"
	t_eq "" "$(printf '%s\n' "$out" | jq -r .name | sort | uniq -d)" "$label: no Application name made twice across the two sets"
	local pset
	pset=$(sed -n 's/^  name: //p' "$printed" | head -1)
	t_eq "$(printf '%s\n' $previews | cut -d= -f1 | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "$out" | jq -r --arg s "$pset" 'select(.set==$s) | .name' | sort | tr '\n' ' ')" \
		"$label: previewd's set makes exactly the previews"
	t_eq "$(printf '%s\n' $folks | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "$out" | jq -r --arg s "$pset" 'select(.set!=$s) | .name' | sort | tr '\n' ' ')" \
		"$label: the people's set makes exactly the people's folders"
	for p in $previews; do
		n=${p%%=*}
		c=${p#*=}
		[ -n "$c" ] || c=$dflt
		inst=$(git -C "$clone" show "HEAD:$dir/$n/previewd.json" | jq -r .instance)
		t_eq "{\"cluster\":\"$c\",\"finalizers\":[\"resources-finalizer.argocd.argoproj.io\"],\"instance\":\"$inst\",\"managed\":\"previewd\",\"namespace\":\"$n\",\"prune\":true,\"server\":null,\"valueFiles\":[\"$dir/$n/values.yaml\"]}" \
			"$(printf '%s\n' "$out" | jq -c --arg n "$n" --arg s "$pset" 'select(.set==$s and .name==$n) |
				{cluster, finalizers, instance: .labels["previewd.io/instance"], managed: .labels["app.kubernetes.io/managed-by"],
				 namespace, prune, server, valueFiles}')" \
			"$label: preview $n: namespace $n, cluster $c, its own values file, previewd's labels (instance $inst), finalizer, prune"
		t_ok "$label: $dir/$n/values.yaml is in the clone" test -f "$clone/$dir/$n/values.yaml"
	done
	# people's Applications: exactly what their own set made before the patch
	local before
	before=$(emulate "$clone" "$people" | jq -c 'del(.set)' | sort)
	t_eq "$(printf '%s\n' "$before" | jq -c --arg l "$folks" 'select(.name as $n | $l | split(" ") | index($n))' | sort)" \
		"$(printf '%s\n' "$out" | jq -c --arg s "$pset" 'select(.set!=$s) | del(.set)' | sort)" \
		"$label: the people's Applications are as their own set made them (labels, finalizers, prune, values unchanged)"
	t_eq "" "$(printf '%s\n' "$out" | jq -r --arg s "$pset" 'select(.set!=$s and (.labels["previewd.io/instance"] != null)) | .name')" \
		"$label: no people's Application carries previewd's instance label"
	for f in $folks; do
		t_eq "[\"$dir/$f/values.yaml\"] $f" \
			"$(printf '%s\n' "$out" | jq -r -c --arg n "$f" --arg s "$pset" 'select(.set!=$s and .name==$n) | "\(.valueFiles) \(.namespace)"')" \
			"$label: people's $f reads $dir/$f/values.yaml into namespace $f"
	done
}

# ---------------------------------------------------------------- flat layout
t_begin "flat layout (the seeded repository, PREVIEWD_ENV_DIR=env)"
DATA=$T_TMP/flat
t_need "previewd starts" pv_start "$DATA" PREVIEWD_WAIT_MS=10000
http POST /v1/environments '{"owner":"a1"}'
t_eq 201 "$HTTP_STATUS" "create a1"
http POST /v1/environments '{"owner":"a2","cluster":"edge-1"}'
t_eq 201 "$HTTP_STATUS" "create a2 on cluster edge-1"
http POST /v1/environments '{"owner":"a3"}'
t_eq 201 "$HTTP_STATUS" "create a3"
t_eventually 20 "the three previews are pushed" \
	bash -c "git --git-dir '$DATA/gitops.git' ls-tree -r --name-only main | grep -c '^env/a[123]/previewd.json' | grep -qx 3"
t_need "previewd stops" pv_stop
t_need "git clone the repository" git clone -q "file://$DATA/gitops.git" "$T_TMP/flat-clone"
t_eq '"edge-1"' "$(jq -c .cluster "$T_TMP/flat-clone/env/a2/previewd.json")" "previewd.json of a2 holds its cluster"
out=$(env -i PATH="$PATH" PREVIEWD_DATA_DIR="$DATA" "$PREVIEWD_BIN" print-applicationset 2>&1)
t_eq 0 $? "print-applicationset exits 0"
printf '%s\n' "$out" >"$T_TMP/flat-printed.yaml"
t_match 'applicationset.yaml \("preview-env"\)' "$out" "it names the repository's own set"
t_match 'name: previewd-env' "$out" "its own ApplicationSet name is not the people's"
t_match '            - name: domain' "$out" "the seed's chart reads .Values.domain: the domain is a parameter"
t_match "path: \"\\.\"" "$out" "the chart is the repository root"
check_layout flat "$T_TMP/flat-clone" env "$T_TMP/flat-printed.yaml" "$T_TMP/flat-clone/applicationset.yaml" \
	"a1= a2=edge-1 a3=" "dev prod test" in-cluster

t_begin "deploy/applicationset-cluster.yaml over the same clone: previewd.json's cluster places a2"
out=$(emulate "$T_TMP/flat-clone" "$T_ROOT/deploy/applicationset-cluster.yaml" 2>&1)
t_eq 0 $? "applicationset-cluster.yaml generates"
t_eq "a1 in-cluster,a2 edge-1,a3 in-cluster,dev in-cluster,prod in-cluster,test in-cluster" \
	"$(printf '%s\n' "$out" | jq -r '"\(.name) \(.cluster)"' | sort | paste -sd,)" \
	"one Application per folder, a2 on edge-1 (written by previewd), the rest in-cluster"

# ---------------------------------------------------------------- helm-env layout
t_begin "helm-env layout (DESIGN.md's, PREVIEWD_ENV_DIR=helm-env/env)"
SEED=$T_TMP/helm-seed
mkdir -p "$SEED/helm-env/env"
cp -r "$T_ROOT/deploy/helm-env/Chart.yaml" "$T_ROOT/deploy/helm-env/templates" "$SEED/helm-env/"
for e in dev test prod; do cp -r "$T_ROOT/deploy/helm-env/env/$e" "$SEED/helm-env/env/"; done
cp -r "$SEED/helm-env/env/test" "$SEED/helm-env/env/staging"
# DESIGN.md's ingress hardcodes the domain
sed -i 's/{{ \.Values\.domain | default "env\.my" }}/env.my/' "$SEED/helm-env/templates/ingress.yaml"
cat >"$SEED/helm-env/applicationset.yaml" <<EOF
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: environments
  namespace: argocd
spec:
  generators:
  - git:
      repoURL: file://$T_TMP/helm.git
      revision: HEAD
      files:
      - path: "helm-env/env/*/values.yaml"
  template:
    metadata: { name: "{{path.basename}}" }
    spec:
      project: default
      source: { repoURL: "file://$T_TMP/helm.git", targetRevision: HEAD, path: helm-env, helm: { valueFiles: ["env/{{path.basename}}/values.yaml"] } }
      destination: { server: https://kubernetes.default.svc, namespace: "{{path.basename}}" }
      syncPolicy: { automated: {}, syncOptions: [CreateNamespace=true] }
EOF
git init -q --bare -b main "$T_TMP/helm.git" &&
	git -C "$SEED" init -q -b main && git -C "$SEED" add -A &&
	git -C "$SEED" -c user.name=people -c user.email=people@example.com commit -qm "the chart and the long-lived environments" &&
	git -C "$SEED" push -q "$T_TMP/helm.git" main
t_eq 0 $? "seed the helm-env repository"
t_not "the helm-env ingress hardcodes its host" grep -q 'Values.domain' "$SEED/helm-env/templates/ingress.yaml"
DATA=$T_TMP/helm
H_ENV=(PREVIEWD_GIT_URL="file://$T_TMP/helm.git" PREVIEWD_ENV_DIR=helm-env/env PREVIEWD_DEFAULT_CLUSTER=edge-2 PREVIEWD_BASE_ENV=dev)
t_need "previewd starts on the helm-env repository" pv_start "$DATA" PREVIEWD_WAIT_MS=10000 "${H_ENV[@]}"
http POST /v1/environments '{"owner":"b1"}'
t_eq 201 "$HTTP_STATUS" "create b1 (the default cluster)"
http POST /v1/environments '{"owner":"b2","cluster":"edge-1"}'
t_eq 201 "$HTTP_STATUS" "create b2 on cluster edge-1"
t_eventually 20 "the two previews are pushed" \
	bash -c "git --git-dir '$T_TMP/helm.git' ls-tree -r --name-only main | grep -c '^helm-env/env/b[12]/previewd.json' | grep -qx 2"
t_need "previewd stops" pv_stop
t_need "git clone the repository" git clone -q "file://$T_TMP/helm.git" "$T_TMP/helm-clone"
out=$(env -i PATH="$PATH" PREVIEWD_DATA_DIR="$DATA" "${H_ENV[@]}" "$PREVIEWD_BIN" print-applicationset 2>&1)
t_eq 0 $? "print-applicationset exits 0"
printf '%s\n' "$out" >"$T_TMP/helm-printed.yaml"
t_match 'helm-env/applicationset.yaml \("environments"\)' "$out" "it names the repository's own set"
t_match 'path: "helm-env"' "$out" "the chart is helm-env (its Chart.yaml found above PREVIEWD_ENV_DIR)"
t_match 'do not read \.Values\.domain' "$out" "a hardcoded host is said so..."
t_match 'host: "\{\{ \.Release\.Namespace \}\}\.env\.my"' "$out" "... quoting the chart's host line"
t_not "... and no domain parameter that would do nothing" grep -q 'name: domain' "$T_TMP/helm-printed.yaml"
t_match "default \"edge-2\" \\.cluster" "$out" "a previewd.json without a cluster goes to PREVIEWD_DEFAULT_CLUSTER"
check_layout helm "$T_TMP/helm-clone" helm-env/env "$T_TMP/helm-printed.yaml" "$T_TMP/helm-clone/helm-env/applicationset.yaml" \
	"b1=edge-2 b2=edge-1" "dev prod staging test" edge-2

# ---------------------------------------------------------------- the emulator's own semantics
t_begin "the emulator: a goTemplate merge on path.basename fails as Argo CD's does"
python3 - "$T_TMP/helm-people.yaml" "$T_TMP/go-people.yaml" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
d["spec"]["goTemplate"] = True
yaml.safe_dump(d, open(sys.argv[2], "w"))
PY
out=$(emulate "$T_TMP/helm-clone" "$T_TMP/go-people.yaml" 2>&1)
t_not "goTemplate: merge keys are top-level only, path.basename is nested" test $? -eq 0
t_match 'not unique by the given mergeKeys' "$out" "... with the merge generator's error"
t_end
