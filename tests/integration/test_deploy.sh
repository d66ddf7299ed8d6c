#!/usr/bin/env bash
# deploy/ fits previewd: the Kubernetes manifests that run previewd, and the
# Argo CD ApplicationSets and charts that turn its folders into environments.
# No cluster, Argo CD or Docker runs here: the manifests are checked as data,
# kubectl kustomize builds deploy/kubernetes, the ApplicationSets' Git files
# generators are simulated against the tree the real previewd writes, and
# both the ApplicationSets' goTemplates and the charts are rendered by Go's
# text/template with Sprig and Helm's own functions (tests/helm/render.go,
# built here from Debian's Go packages; tests/integration/check_deploy.py
# says what is checked).
. "$(dirname "$0")/../lib/harness.sh"

CHECK=$T_ROOT/tests/integration/check_deploy.py

# report: turn check_deploy.py's "ok<TAB>what" / "fail<TAB>what<TAB>why"
# lines into assertions
report() {
	local status what why n=0
	while IFS=$'\t' read -r status what why; do
		case "$status" in
		ok | fail) t_eq ok "$status${why:+: $why}" "$what" ;;
		*) t_eq "" "$status $what $why" "check_deploy.py prints only ok/fail lines" ;;
		esac
		n=$((n + 1))
	done
	t_ok "check_deploy.py checked something ($n assertions)" test "$n" -gt 0
}

# ---------------------------------------------------------------- the renderer
# Built beside previewd, once per change of render.go (Go's build cache under
# the build dir makes a rebuild cheap); GO111MODULE=off and GOPATH at Debian's
# /usr/share/gocode: no module download, no network.
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
t_begin "tests/helm/render builds offline from Debian's golang-go and Sprig"
t_need "go build tests/helm/render.go (scripts/deps.sh test installs golang-go, sprig, ghodss/yaml)" build_render

t_begin "the renderer is Helm's engine: include, tpl, required, toYaml, values merged over the chart's"
C=$T_TMP/chart
mkdir -p "$C/templates"
cat >"$C/Chart.yaml" <<'EOF'
apiVersion: v2
name: probe
version: 1.2.3
appVersion: "4.5"
EOF
cat >"$C/values.yaml" <<'EOF'
greeting: hello
nested: {keep: 1, change: old, drop: gone}
list: [a, b]
flag: off
EOF
cat >"$C/templates/_helpers.tpl" <<'EOF'
{{- define "probe.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}
EOF
cat >"$C/templates/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "probe.name" . }}
  namespace: {{ .Release.Namespace }}
data:
  tpl: {{ tpl "{{ .Values.greeting }}, {{ .Release.Name }}" . | quote }}
  chart: "{{ .Chart.Version }}/{{ .Chart.AppVersion }}"
  ingressv1: {{ .Capabilities.APIVersions.Has "networking.k8s.io/v1" | quote }}
  flag: {{ .Values.flag | quote }}
  missing: "[{{ .Values.nothing }}]"
  nested: |
    {{- toYaml .Values.nested | nindent 4 }}
  list: {{ .Values.list | toJson | quote }}
EOF
cat >"$C/templates/ns.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: {{ required "namespace is required" .Values.namespace }}
EOF
cat >"$T_TMP/over.yaml" <<'EOF'
namespace: n1
nested: {change: new, drop: null}
list: [c]
EOF
out=$("$PV_HELM_RENDER" chart rel ns1 "$C" "$T_TMP/over.yaml" 2>&1)
t_eq 0 $? "render chart exits 0"
t_eq "---
# Source: probe/templates/ns.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: n1
---
# Source: probe/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: probe-rel
  namespace: ns1
data:
  tpl: \"hello, rel\"
  chart: \"1.2.3/4.5\"
  ingressv1: \"true\"
  flag: \"false\"
  missing: \"[]\"
  nested: |
    change: new
    keep: 1
  list: \"[\\\"c\\\"]\"" "$out" "helm template's output: the Namespace first, values deep-merged (null drops a key, a list replaces), YAML 1.1 off is false"
out=$("$PV_HELM_RENDER" chart rel ns1 "$C" 2>&1)
t_eq 1 $? "a required value missing: render chart exits 1"
t_match 'namespace is required' "$out" "... with required's message"
printf '{{ .Values.x | nosuchfunc }}\n' >"$C/templates/bad.yaml"
out=$("$PV_HELM_RENDER" chart rel ns1 "$C" "$T_TMP/over.yaml" 2>&1)
t_eq 1 $? "a template with an unknown function: render chart exits 1"
t_match 'function "nosuchfunc" not defined' "$out" "... with text/template's parse error"
rm -f "$C/templates/bad.yaml"
out=$(printf '%s' '{"template":{"name":"{{ .path.basename }}","dest":"{{ default \"in-cluster\" .cluster }}","{{ .k }}":"{{ .gone }}"},"params":[{"path":{"basename":"a1"},"k":"key"},{"path":{"basename":"a2"},"cluster":"edge","k":"key"}]}' |
	"$PV_HELM_RENDER" appset 2>&1)
t_eq 0 $? "render appset exits 0"
t_eq '[{"dest":"in-cluster","key":"<no value>","name":"a1"},{"dest":"edge","key":"<no value>","name":"a2"}]' \
	"$(printf '%s' "$out" | jq -c .)" "render appset: one result per parameter set, Sprig's default, keys rendered, a missing key prints <no value>"

# ---------------------------------------------------------------- static
t_begin "deploy/: YAML, the Kubernetes manifests, the chart variant"
report < <(python3 "$CHECK" static "$T_ROOT" 2>&1)

t_begin "deploy/kubernetes builds with kubectl kustomize"
# kubectl ships with the machine image (google-cloud-sdk's, kustomize v5).
# Debian's kubernetes-client is no substitute: its kubectl 1.20 embeds
# kustomize v2.0.3, which refuses the kustomization's "labels:" (v4.1+).
yaml_kinds() { python3 -c 'import sys, yaml; print(" ".join(sorted(d["kind"] for d in yaml.safe_load_all(sys.stdin) if d)))'; }
have() { command -v "$1" >/dev/null 2>&1; }
if t_ok "kubectl is installed" have kubectl; then
	out=$(kubectl kustomize "$T_ROOT/deploy/kubernetes" 2>&1)
	t_eq 0 $? "kubectl kustomize deploy/kubernetes"
	t_eq "ConfigMap Deployment Namespace PersistentVolumeClaim Secret Service ServiceAccount" \
		"$(printf '%s\n' "$out" | yaml_kinds)" "7 objects: Namespace, ServiceAccount, ConfigMap, Secret, PVC, Deployment, Service"
	t_eq "" "$(printf '%s\n' "$out" | python3 -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    m = d["metadata"]
    if d["kind"] != "Namespace" and m.get("namespace") != "previewd" or m.get("labels", {}).get("app.kubernetes.io/part-of") != "previewd":
        print(d["kind"], m)
    for c in d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        if c["image"] != "previewd:latest":
            print(d["kind"], c["image"])
' 2>&1)" "kustomize put every object in namespace previewd, labelled part-of previewd, image previewd:latest"
fi

# ---------------------------------------------------------------- previewd's tree
t_begin "the ApplicationSets against the folders previewd writes"
DATA=$T_TMP/data
t_need "previewd starts" pv_start "$DATA" PREVIEWD_WAIT_MS=10000
for o in a1 a2 a3; do
	http POST /v1/environments "{\"owner\":\"$o\"}"
	t_eq 201 "$HTTP_STATUS" "create $o"
done
# the Deployment's probes, on the real previewd
for p in /healthz /readyz; do
	http GET "$p"
	t_eq 200 "$HTTP_STATUS" "probe path $p answers 200 once ready"
done
t_match 'env/a1/previewd.json' "$(git --git-dir "$DATA/gitops.git" ls-tree -r --name-only main)" \
	"previewd's folders are in the pushed tree"
report < <(python3 "$CHECK" repo "$T_ROOT" "$DATA/gitops.git" 2>&1)

t_begin "a deleted environment drops out of every ApplicationSet"
http DELETE /v1/environments/a1
t_match '^20[0-9]$' "$HTTP_STATUS" "delete a1"
t_eventually 10 "env/a1 is gone from the pushed tree" \
	bash -c "! git --git-dir '$DATA/gitops.git' ls-tree -r --name-only main | grep -q '^env/a1/'"
out=$(PYTHONDONTWRITEBYTECODE=1 python3 - "$T_ROOT" "$DATA/gitops.git" <<'PY'
import json, os, subprocess, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "integration"))
import check_deploy as c
c.ROOT = sys.argv[1]
g = sys.argv[2]
tree = subprocess.run(["git", "--git-dir", g, "ls-tree", "-r", "--name-only", "main"], capture_output=True, text=True).stdout.split()
blob = lambda p: subprocess.run(["git", "--git-dir", g, "show", "main:" + p], capture_output=True, text=True).stdout
for f in ("helm-env/applicationset.yaml", "helm-env-owned-namespace/applicationset.yaml", "applicationset-cluster.yaml"):
    names = sorted(a["metadata"]["name"] for s in c.load_all(os.path.join(sys.argv[1], "deploy", f)) for _, a in c.generate(s, tree, blob))
    print("%s %s" % (f, ",".join(names)))
PY
)
for f in helm-env/applicationset.yaml helm-env-owned-namespace/applicationset.yaml applicationset-cluster.yaml; do
	t_eq "$f a2,a3,dev,prod,test" "$(printf '%s\n' "$out" | grep "^$f ")" "$f: no Application a1 any more"
done

t_end
