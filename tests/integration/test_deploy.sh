#!/usr/bin/env bash
# deploy/ fits previewd: the Kubernetes manifests that run previewd, and the
# Argo CD ApplicationSets and charts that turn its folders into environments.
# No cluster, Argo CD or Docker runs here: the manifests are checked as data,
# the ApplicationSets' Git files generators and templates are simulated
# against the tree the real previewd writes (tests/integration/check_deploy.py
# says how), and the charts are rendered with `helm template` when helm is
# installed, else with a small simulation of it.
. "$(dirname "$0")/../lib/harness.sh"

CHECK=$T_ROOT/tests/integration/check_deploy.py

# report: turn check_deploy.py's "ok<TAB>what" / "fail<TAB>what<TAB>why"
# lines into assertions
report() {
	local status what why n=0
	while IFS=$'\t' read -r status what why; do
		case "$status" in
		ok) t_ok "$what" true ;;
		fail) t_eq "" "$why" "$what" ;;
		*) t_eq "" "$status $what $why" "check_deploy.py prints only ok/fail lines" ;;
		esac
		n=$((n + 1))
	done
	t_ok "check_deploy.py checked something ($n assertions)" test "$n" -gt 0
}

# ---------------------------------------------------------------- static
t_begin "deploy/: YAML, the Kubernetes manifests, the chart variant"
report < <(python3 "$CHECK" static "$T_ROOT" 2>&1)

t_begin "deploy/kubernetes builds with kustomize"
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
	out=$(kubectl kustomize "$T_ROOT/deploy/kubernetes" 2>&1)
	t_eq 0 $? "kubectl kustomize deploy/kubernetes"
	t_eq 7 "$(printf '%s\n' "$out" | grep -c '^kind: ')" "7 objects: Namespace, ServiceAccount, ConfigMap, Secret, PVC, Deployment, Service"
else
	echo "# skipped: no kubectl here"
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
echo "# chart rendering: $(command -v helm >/dev/null 2>&1 && echo "helm template" || echo "simulated (no helm here)")"
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
