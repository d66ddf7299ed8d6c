#!/usr/bin/env python3
"""check_deploy.py - checks of deploy/ for tests/integration/test_deploy.sh.

    check_deploy.py static ROOT            the files alone: YAML, the Kubernetes
                                           manifests, the chart variant
    check_deploy.py repo ROOT GIT_DIR      the ApplicationSets against the tree
                                           previewd wrote (branch main), and the
                                           charts rendered for each folder

Prints one line per assertion, "ok<TAB>what" or "fail<TAB>what<TAB>why", for
the shell test to count. Argo CD and Kubernetes cannot run here; Go's
text/template, which both Helm and Argo CD render with, can:

- Helm charts: tests/helm/render chart (text/template with Sprig and Helm's
  own functions, Helm's values merge and objects, `helm template`'s output),
  built by test_deploy.sh, its path in PV_HELM_RENDER;
- ApplicationSet templates: goTemplate by tests/helm/render appset
  (text/template with Sprig, a missing key printing "<no value>");
  fasttemplate ("{{path.basename}}", an unknown parameter stays as it is) by
  substitution, which is all fasttemplate does;
- Git files generator globs both ways Argo CD reads them: the default
  (`git ls-files` pathspec, "*" also matches "/") and the "new globbing"
  (doublestar, "*" stays inside one path segment), simulated.
A template the engine refuses is a failure with the engine's message.
"""
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = None
FAILED = 0


def ok(what):
    print("ok\t%s" % what, flush=True)


def fail(what, why):
    global FAILED
    FAILED += 1
    why = " ".join(str(why).split())
    print("fail\t%s\t%s" % (what, why[:600]), flush=True)


def check(cond, what, why=""):
    if cond:
        ok(what)
    else:
        fail(what, why or "false")
    return cond


def rel(path):
    return os.path.relpath(path, ROOT)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ----------------------------------------------------------------- globbing

def match_strict(pattern, path):
    """Go path.Match / doublestar.Match: "*", "?" and "[...]" stay inside
    one segment; a "**" segment matches any number of segments."""
    def rec(ps, xs):
        if not ps:
            return not xs
        if ps[0] == "**":
            return any(rec(ps[1:], xs[i:]) for i in range(len(xs) + 1))
        return bool(xs) and fnmatch.fnmatchcase(xs[0], ps[0]) and rec(ps[1:], xs[1:])
    return rec(pattern.split("/"), path.split("/"))


def match_legacy(pattern, path):
    """Argo CD's default: `git ls-files -- PATTERN`, a git pathspec without
    the glob magic, where "*" matches "/" too (fnmatch without FNM_PATHNAME)."""
    return fnmatch.fnmatchcase(path, pattern)


# ------------------------------------------------- Go text/template

class TemplateError(Exception):
    pass


def renderer():
    """tests/helm/render (text/template with Sprig and Helm's functions), built
    by test_deploy.sh; its path is in PV_HELM_RENDER."""
    binary = os.environ.get("PV_HELM_RENDER", "")
    if not (binary and os.access(binary, os.X_OK)):
        raise TemplateError("PV_HELM_RENDER (%r) is not the built tests/helm/render" % binary)
    return binary


def run_renderer(args, stdin=None):
    r = subprocess.run([renderer()] + args, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise TemplateError("render %s: exit %d: %s" % (args[0], r.returncode, r.stderr.strip()))
    return r.stdout


def scalar_str(v):
    """A scalar as Go's %v prints what JSON or YAML parsed into it."""
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ------------------------------------------------- Argo CD ApplicationSets

def flatten(obj, prefix=""):
    """Argo CD's flattening of a files generator's file (fasttemplate mode)."""
    out = {}
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return {prefix: scalar_str(obj) if not isinstance(obj, str) else obj}
    for k, v in items:
        key = "%s.%s" % (prefix, k) if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, (dict, list)) else {key: v if isinstance(v, str) else scalar_str(v)})
    return out


def path_params(file_path, go_template):
    d = os.path.dirname(file_path)
    base = os.path.basename(d)
    fname = os.path.basename(file_path)
    norm = lambda s: re.sub(r"[^a-zA-Z0-9-]", "-", s).lower()  # noqa: E731 (Argo CD: [^a-zA-Z0-9-] -> -)
    segs = d.split("/")
    if go_template:
        return {"path": {"path": d, "basename": base, "filename": fname, "basenameNormalized": norm(base),
                         "filenameNormalized": norm(fname), "segments": segs}}
    p = {"path": d, "path.basename": base, "path.filename": fname, "path.basenameNormalized": norm(base),
         "path.filenameNormalized": norm(fname)}
    for i, s in enumerate(segs):
        p["path[%d]" % i] = s
    return p


def render_appset_template(tmpl, params_list, go_template):
    """The template rendered for each parameter set like Argo CD does: with
    goTemplate by text/template itself (tests/helm/render appset), else by
    fasttemplate's substitution ("{{path.basename}}", an unknown parameter
    stays as it is), over every string of the template."""
    if go_template:
        out = json.loads(run_renderer(["appset"], json.dumps({"template": tmpl, "params": params_list})))
        if len(out) != len(params_list):
            raise TemplateError("render appset: %d results for %d parameter sets" % (len(out), len(params_list)))
        return out

    def walk(v, params):
        if isinstance(v, str):
            return re.sub(r"\{\{([^{}]*)\}\}", lambda m: str(params.get(m.group(1).strip(), m.group(0))), v)
        if isinstance(v, list):
            return [walk(x, params) for x in v]
        if isinstance(v, dict):
            return {walk(k, params): walk(x, params) for k, x in v.items()}
        return v
    return [walk(tmpl, p) for p in params_list]


def strings_of(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings_of(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from strings_of(k)
            yield from strings_of(x)


DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def generate(appset, tree, blob):
    """[(param source, Application)] for one ApplicationSet, its generators
    simulated, its template rendered.
    tree: the repo's file paths; blob(path) -> its text."""
    spec = appset["spec"]
    go = bool(spec.get("goTemplate"))
    srcs, params_list = [], []
    for gen in spec["generators"]:
        if "git" in gen:
            for entry in gen["git"].get("files", []):
                if entry.get("exclude"):
                    continue
                pat = entry["path"]
                strict = sorted(f for f in tree if match_strict(pat, f))
                legacy = sorted(f for f in tree if match_legacy(pat, f))
                if strict != legacy:
                    fail("%s: %s reads the same files with and without Argo CD's new globbing" %
                         (appset["metadata"]["name"], pat), "strict %s, default %s" % (strict, legacy))
                for f in strict:
                    text = blob(f)
                    content = json.loads(text) if f.endswith(".json") else yaml.safe_load(text)
                    if not isinstance(content, dict):
                        fail("%s parses as a mapping (else the generator fails or fans out)" % f, repr(content)[:80])
                        content = {}
                    params = dict(content) if go else flatten(content)
                    params.update(path_params(f, go))
                    srcs.append(f)
                    params_list.append(params)
        elif "list" in gen:
            for el in gen["list"]["elements"]:
                srcs.append("list:%s" % json.dumps(el, sort_keys=True))
                params_list.append(dict(el) if go else flatten(el))
        else:
            fail("%s: generator simulated" % appset["metadata"]["name"], "unsupported generator %s" % list(gen))
    return list(zip(srcs, render_appset_template(spec["template"], params_list, go)))


# ------------------------------------------------- static checks

def yaml_files():
    out = []
    for d, dirs, files in os.walk(os.path.join(ROOT, "deploy")):
        dirs.sort()
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")):
                out.append(os.path.join(d, f))
    return out


def is_helm_template(path):
    return "/templates/" in path


def static():
    files = yaml_files()
    plain = [f for f in files if not is_helm_template(f)]
    bad = []
    for f in plain:
        try:
            load_all(f)
        except yaml.YAMLError as e:
            bad.append("%s: %s" % (rel(f), e))
    check(not bad and len(plain) >= 10, "all %d YAML files under deploy/ (Helm templates aside) parse" % len(plain), "; ".join(bad))
    check_kubernetes()
    check_variant()
    check_appset_shapes()


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d.get("kind"), []).append(d)
    return out


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def check_kubernetes():
    kdir = os.path.join(ROOT, "deploy", "kubernetes")
    kust = load_all(os.path.join(kdir, "kustomization.yaml"))[0]
    listed = set(kust.get("resources", []))
    present = {f for f in os.listdir(kdir) if f.endswith(".yaml") and f != "kustomization.yaml"}
    check(listed == present, "kustomization.yaml lists every manifest of deploy/kubernetes/", "listed %s, present %s" % (sorted(listed), sorted(present)))
    docs = [d for f in sorted(present) for d in load_all(os.path.join(kdir, f))]
    k = by_kind(docs)
    for kind in ("Namespace", "ServiceAccount", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service"):
        check(len(k.get(kind, [])) == 1, "deploy/kubernetes has one %s" % kind, "found %d" % len(k.get(kind, [])))
    if any(len(k.get(x, [])) != 1 for x in ("Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service", "ServiceAccount")):
        return
    ns, cm, sec, pvc, dep, svc, sa = (k[x][0] for x in ("Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service", "ServiceAccount"))
    check(ns["metadata"]["name"] == "previewd", "the namespace is previewd", ns["metadata"]["name"])
    wrong = [d["kind"] for d in docs if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "previewd"]
    check(not wrong, "every namespaced object is in namespace previewd", wrong)

    spec = dep["spec"]
    pod = spec["template"]["spec"]
    check(spec.get("replicas") == 1, "Deployment: 1 replica", spec.get("replicas"))
    check(spec.get("strategy", {}).get("type") == "Recreate", "Deployment: strategy Recreate (one SQLite writer)", spec.get("strategy"))
    check(pod.get("serviceAccountName") == sa["metadata"]["name"], "Deployment runs as the ServiceAccount", pod.get("serviceAccountName"))
    sel = spec["selector"]["matchLabels"]
    labels = spec["template"]["metadata"]["labels"]
    check(all(labels.get(a) == b for a, b in sel.items()), "the Deployment's selector matches its pod labels", (sel, labels))
    cs = pod["containers"]
    check(len(cs) == 1, "one container", len(cs))
    c = cs[0]
    check(c.get("image") == "previewd:latest", "image previewd:latest", c.get("image"))
    env = env_of(c)

    def val(name):
        e = env.get(name)
        return e.get("value") if e else None
    listen = val("PREVIEWD_LISTEN")
    check(listen == "0.0.0.0:8080", "PREVIEWD_LISTEN=0.0.0.0:8080", listen)
    port = int(listen.rsplit(":", 1)[1]) if listen else None
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    check(port in ports.values(), "the container port is the port previewd listens on", (ports, port))

    def probe_port(p):
        pt = p["httpGet"]["port"]
        return ports.get(pt) if isinstance(pt, str) else pt
    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        p = c.get(kind)
        check(p is not None and p.get("httpGet", {}).get("path") == path, "%s on %s" % (kind, path), p)
        if p:
            check(probe_port(p) == port, "%s on port %s" % (kind, port), p["httpGet"].get("port"))
    if c.get("startupProbe"):
        check(c["startupProbe"]["httpGet"]["path"] == "/healthz" and probe_port(c["startupProbe"]) == port,
              "startupProbe on /healthz (never /readyz: Git may be away at start)", c["startupProbe"])

    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    eff = dict(psc)
    eff.update(csc)
    check(eff.get("runAsNonRoot") is True, "runAsNonRoot", eff.get("runAsNonRoot"))
    check(eff.get("runAsUser") == 10001, "runs as uid 10001 (the image's previewd user)", eff.get("runAsUser"))
    check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem", csc.get("readOnlyRootFilesystem"))
    check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false", csc.get("allowPrivilegeEscalation"))
    check("ALL" in csc.get("capabilities", {}).get("drop", []), "every capability dropped", csc.get("capabilities"))

    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    data_dir = val("PREVIEWD_DATA_DIR")
    check(data_dir == "/var/lib/previewd", "PREVIEWD_DATA_DIR=/var/lib/previewd", data_dir)
    m = mounts.get(data_dir)
    v = vols.get(m["name"]) if m else None
    check(v is not None and v.get("persistentVolumeClaim", {}).get("claimName") == pvc["metadata"]["name"] and not m.get("readOnly"),
          "the PVC is mounted read-write at PREVIEWD_DATA_DIR", (m, v))
    check(pvc["spec"]["resources"]["requests"]["storage"] == "1Gi" and pvc["spec"]["accessModes"] == ["ReadWriteOnce"],
          "PVC: 1Gi, ReadWriteOnce", pvc["spec"])
    tmpdir = val("TMPDIR") or "/tmp"
    check(tmpdir in mounts and "emptyDir" in vols.get(mounts[tmpdir]["name"], {}),
          "a writable emptyDir at TMPDIR (%s) for SQLite's temporary files" % tmpdir, sorted(mounts))

    gu = env.get("PREVIEWD_GIT_URL", {}).get("valueFrom", {}).get("configMapKeyRef", {})
    check(gu.get("name") == cm["metadata"]["name"] and gu.get("key") in cm.get("data", {}) and not gu.get("optional"),
          "PREVIEWD_GIT_URL comes from the ConfigMap (required)", gu)
    check(any(e.get("configMapRef", {}).get("name") == cm["metadata"]["name"] for e in c.get("envFrom", [])) or
          all(k in env for k in cm.get("data", {})), "every ConfigMap key reaches the container", c.get("envFrom"))
    sdata = dict(sec.get("stringData", {}))
    sdata.update({a: "(base64)" for a in sec.get("data", {}) or {}})
    un = env.get("PREVIEWD_GIT_USERNAME", {}).get("valueFrom", {}).get("secretKeyRef", {})
    check(un.get("name") == sec["metadata"]["name"] and un.get("key") in sdata, "PREVIEWD_GIT_USERNAME comes from the Secret", un)
    check("PREVIEWD_GIT_PASSWORD" not in env and "PREVIEWD_GIT_PASSWORD" not in cm.get("data", {}),
          "the Git password is never an environment variable", sorted(env))
    pw = val("PREVIEWD_GIT_PASSWORD_FILE")
    secret_files = {}
    for mp, mt in mounts.items():
        sv = vols.get(mt["name"], {}).get("secret")
        if not sv or sv.get("secretName") != sec["metadata"]["name"]:
            continue
        items = sv.get("items")
        for key in sdata:
            if items is None:
                secret_files[mp.rstrip("/") + "/" + key] = key
            for it in items or []:
                if it["key"] == key:
                    secret_files[mp.rstrip("/") + "/" + it["path"]] = key
        mode = sv.get("defaultMode", 0o644)
        if eff.get("runAsUser", 0) != 0:
            check(mode & 0o004 or (eff.get("fsGroup") is not None and mode & 0o040),
                  "the secret files are readable by uid %s (fsGroup + group-readable mode)" % eff.get("runAsUser"), oct(mode))
        check(mt.get("readOnly") is True, "the Secret is mounted read-only", mt)
    check(pw in secret_files, "PREVIEWD_GIT_PASSWORD_FILE (%s) is a file of the mounted Secret" % pw, sorted(secret_files))
    wh = env.get("PREVIEWD_WEBHOOK_URL", {})
    ref = wh.get("valueFrom", {}).get("secretKeyRef") or wh.get("valueFrom", {}).get("configMapKeyRef") or {}
    check(ref.get("optional") is True, "PREVIEWD_WEBHOOK_URL is optional", wh)
    res = c.get("resources", {})
    check(res.get("limits", {}).get("memory") == "64Mi", "memory limit 64Mi", res)
    check(bool(res.get("requests", {}).get("memory")) and bool(res.get("requests", {}).get("cpu")), "cpu and memory requests", res)

    sp = svc["spec"]
    check(sp.get("type", "ClusterIP") == "ClusterIP", "Service: ClusterIP", sp.get("type"))
    sport = sp["ports"][0]
    tp = sport.get("targetPort")
    tp = ports.get(tp) if isinstance(tp, str) else tp
    check(sport["port"] == 80 and tp == port, "Service: port 80 -> %s" % port, sport)
    check(all(labels.get(a) == b for a, b in sp["selector"].items()), "the Service selects previewd's pods", sp["selector"])

    with open(os.path.join(kdir, "secret.yaml"), encoding="utf-8") as f:
        stext = f.read()
    check(all(v == "REPLACE-ME" for v in sec.get("stringData", {}).values()) and "PLACEHOLDER" in stext and "TEMPLATE" in stext,
          "the Secret holds only clearly marked placeholders", sec.get("stringData"))

    # the manifests' settings, as previewd reads them
    binary = os.environ.get("PREVIEWD_BIN")
    if binary and os.access(binary, os.X_OK):
        helptext = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
        known = set(re.findall(r"\b(PREVIEWD_[A-Z0-9_]+)\b", helptext))
        names = set(cm.get("data", {})) | {n for n in env if n.startswith("PREVIEWD_")}
        check(names <= known, "every PREVIEWD_* variable of the manifests is a previewd setting", sorted(names - known))
        tmp = tempfile.mkdtemp(prefix="pv-deploy-")
        try:
            penv = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            for key, value in cm.get("data", {}).items():
                penv[key] = str(value)
            for name, e in env.items():
                if "value" in e:
                    penv[name] = e["value"]
                    continue
                vf = e.get("valueFrom", {})
                if "configMapKeyRef" in vf and vf["configMapKeyRef"]["key"] in cm.get("data", {}):
                    penv[name] = str(cm["data"][vf["configMapKeyRef"]["key"]])
                elif "secretKeyRef" in vf and vf["secretKeyRef"]["key"] in sec.get("stringData", {}):
                    penv[name] = sec["stringData"][vf["secretKeyRef"]["key"]]
            marker = "pw-%s" % os.urandom(8).hex()  # the Git password, to look for in the output
            for path, key in secret_files.items():  # the Secret volume, under tmp
                local = tmp + path
                os.makedirs(os.path.dirname(local), exist_ok=True)
                with open(local, "w") as f:
                    f.write((marker if path == pw else sdata[key]) + "\n")
            if pw:
                penv["PREVIEWD_GIT_PASSWORD_FILE"] = tmp + pw
            penv["PREVIEWD_DATA_DIR"] = tmp + "/data"
            r = subprocess.run([binary, "--check-config"], env=penv, capture_output=True, text=True)
            check(r.returncode == 0 and "configuration OK" in r.stdout, "previewd --check-config accepts the Deployment's environment",
                  r.stderr or r.stdout)
            check(marker not in r.stdout + r.stderr, "--check-config does not print the Git password", "printed")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def files_under(d):
    out = {}
    for dp, _, fs in os.walk(d):
        for f in fs:
            p = os.path.join(dp, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def check_variant():
    base = files_under(os.path.join(ROOT, "deploy", "helm-env"))
    var = files_under(os.path.join(ROOT, "deploy", "helm-env-owned-namespace"))
    own = {"templates/namespace.yaml", "applicationset.yaml", "README.md"}
    missing = sorted(set(base) - set(var))
    differ = sorted(f for f in base if f in var and f not in own and base[f] != var[f])
    extra = sorted(set(var) - set(base) - own)
    check(not missing and not differ and not extra,
          "helm-env-owned-namespace is helm-env byte for byte, plus templates/namespace.yaml and its applicationset.yaml",
          "missing %s, different %s, extra %s" % (missing, differ, extra))
    check("templates/namespace.yaml" in var, "the variant chart templates its Namespace", sorted(var))


def check_appset_shapes():
    d = os.path.join(ROOT, "deploy")
    plain = load_all(os.path.join(d, "helm-env", "applicationset.yaml"))[0]
    owned = load_all(os.path.join(d, "helm-env-owned-namespace", "applicationset.yaml"))[0]
    cluster = load_all(os.path.join(d, "applicationset-cluster.yaml"))
    for a in [plain, owned] + cluster:
        check(a.get("apiVersion") == "argoproj.io/v1alpha1" and a.get("kind") == "ApplicationSet",
              "%s is an ApplicationSet" % a["metadata"]["name"], (a.get("apiVersion"), a.get("kind")))
        t = a["spec"]["template"]
        check("resources-finalizer.argocd.argoproj.io" in t["metadata"].get("finalizers", []),
              "%s: deleting an Application prunes its resources (finalizer)" % a["metadata"]["name"], t["metadata"])
        check(t["spec"]["syncPolicy"].get("automated", {}).get("prune") is True, "%s: automated sync with prune" % a["metadata"]["name"],
              t["spec"]["syncPolicy"])
    so = owned["spec"]["template"]["spec"]["syncPolicy"]
    check("CreateNamespace=true" not in so.get("syncOptions", []) and "managedNamespaceMetadata" not in so,
          "owned-namespace ApplicationSet: Argo CD does not create the namespace", so)
    for a in cluster:
        s = a["spec"]["template"]["spec"]["syncPolicy"]
        check("CreateNamespace=true" in s.get("syncOptions", []) and "labels" in s.get("managedNamespaceMetadata", {}),
              "%s: CreateNamespace=true with managedNamespaceMetadata labels" % a["metadata"]["name"], s)
    names = [a["metadata"]["name"] for a in cluster]
    check(len(set(names)) == len(names), "applicationset-cluster.yaml's ApplicationSets have distinct names", names)


# ------------------------------------------------- against the real tree

def git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", gitdir] + list(args), capture_output=True, text=True, check=True).stdout


def render_chart(chart_dir, name, values_text):
    """[manifest] of `helm template NAME CHART_DIR -n NAME -f VALUES`, rendered
    by tests/helm/render (Helm's engine: text/template, Sprig, Helm's own
    functions), each manifest after its "# Source:" line."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(values_text)
    try:
        text = run_renderer(["chart", name, name, chart_dir, f.name])
    finally:
        os.unlink(f.name)
    docs = re.split(r"(?m)^---\n", text)
    if docs[0] != "" or any(not d.startswith("# Source: ") for d in docs[1:]):
        raise TemplateError("render chart: not helm template's layout (\"---\", \"# Source:\" per manifest): %r" % text[:200])
    out = []
    for d in docs[1:]:
        src = d.split("\n", 1)[0][len("# Source: "):]
        try:
            obj = yaml.safe_load(d)
        except yaml.YAMLError as e:
            raise TemplateError("%s renders to invalid YAML: %s" % (src, e))
        if not isinstance(obj, dict):
            raise TemplateError("%s renders a manifest that is not a mapping: %r" % (src, obj))
        out.append(obj)
    return out


def repo(gitdir):
    tree = [l for l in git(gitdir, "ls-tree", "-r", "--name-only", "main").splitlines() if l]
    blob = lambda p: git(gitdir, "show", "main:" + p)  # noqa: E731
    folders = sorted({p.split("/")[1] for p in tree if p.startswith("env/") and p.count("/") >= 2})
    managed = sorted(p.split("/")[1] for p in tree
                     if re.fullmatch(r"env/[^/]+/previewd\.json", p) and json.loads(blob(p)).get("managed_by") == "previewd")
    people = sorted(set(folders) - set(managed))
    check(managed == ["a1", "a2", "a3"] and people == ["dev", "prod", "test"],
          "previewd's folders are env/a1..a3, people's dev, test, prod", (managed, people))
    d = os.path.join(ROOT, "deploy")
    plain = load_all(os.path.join(d, "helm-env", "applicationset.yaml"))
    owned = load_all(os.path.join(d, "helm-env-owned-namespace", "applicationset.yaml"))
    cluster = load_all(os.path.join(d, "applicationset-cluster.yaml"))

    # the globs
    def globs(appsets):
        return [e["path"] for a in appsets for g in a["spec"]["generators"] if "git" in g for e in g["git"].get("files", [])]
    want_values = sorted("env/%s/values.yaml" % n for n in folders)
    want_meta = sorted("env/%s/previewd.json" % n for n in managed)
    for label, appsets, want in (("helm-env/applicationset.yaml", plain, want_values),
                                 ("helm-env-owned-namespace/applicationset.yaml", owned, want_values),
                                 ("applicationset-cluster.yaml", cluster, want_meta)):
        gl = globs(appsets)
        for how, fn in (("path.Match/doublestar", match_strict), ("git pathspec (Argo CD's default)", match_legacy)):
            got = sorted({f for f in tree for g in gl if fn(g, f)})
            check(got == want, "%s: %s matches exactly %s (%s)" % (label, gl, ",".join(want) if len(want) < 4 else
                                                                 "env/{%s}/%s" % (",".join(p.split("/")[1] for p in want), os.path.basename(want[0])), how),
                  "got %s" % got)

    # the Applications they would generate
    every_name = re.compile(r"\{\{|<no value>")
    for label, appsets, chart, want_names in (("helm-env/applicationset.yaml", plain, "helm-env", folders),
                                              ("helm-env-owned-namespace/applicationset.yaml", owned, "helm-env-owned-namespace", folders),
                                              ("applicationset-cluster.yaml", cluster, "helm-env", folders)):
        apps = []
        try:
            for a in appsets:
                apps.extend(generate(a, tree, blob))
        except TemplateError as e:
            fail("%s: templates render" % label, e)
            continue
        names = [app["metadata"]["name"] for _, app in apps]
        check(sorted(names) == sorted(want_names), "%s: one Application per env folder, people's included, none twice" % label,
              "got %s" % sorted(names))
        for src, app in apps:
            name = app["metadata"]["name"]
            folder = src.split("/")[1] if not src.startswith("list:") else json.loads(src[5:]).get("env")
            left = [s for s in strings_of(app) if every_name.search(s)]
            check(not left, "%s: %s: every parameter resolved" % (label, name), left)
            check(name == folder, "%s: {{path.basename}} of %s is %s" % (label, src, folder), name)
            check(len(name) <= 53 and DNS_LABEL.match(name) is not None, "%s: %s is a DNS label of at most 53 characters" % (label, name), name)
            dest = app["spec"]["destination"]
            check(dest.get("namespace") == folder, "%s: %s deploys into namespace %s" % (label, name, folder), dest)
            srcspec = app["spec"]["source"]
            vf = [os.path.normpath(os.path.join(srcspec["path"], v)) for v in srcspec.get("helm", {}).get("valueFiles", [])]
            check(vf == ["env/%s/values.yaml" % folder] and all(v in tree for v in vf),
                  "%s: %s reads its own values file" % (label, name), vf)
            if "cluster" in label:
                check(dest.get("name") == "in-cluster" and "server" not in dest,
                      "%s: %s goes to cluster in-cluster (previewd.json has no \"cluster\")" % (label, name), dest)
        # a previewd.json with a cluster key (what previewd would need to write)
        if "cluster" in label:
            meta = json.loads(blob("env/a1/previewd.json"))
            meta["cluster"] = "edge-1"
            fake = lambda p: json.dumps(meta) if p == "env/a1/previewd.json" else blob(p)  # noqa: E731
            app = dict((a["metadata"]["name"], a) for _, a in generate(cluster[0], tree, fake))["a1"]
            check(app["spec"]["destination"].get("name") == "edge-1",
                  "%s: a previewd.json with \"cluster\": \"edge-1\" sends a1 to cluster edge-1" % label, app["spec"]["destination"])

    # the charts, rendered for each folder's values as Argo CD would
    how = "tests/helm/render"
    for chart in ("helm-env", "helm-env-owned-namespace"):
        cdir = os.path.join(d, chart)
        for name in folders:
            try:
                objs = render_chart(cdir, name, blob("env/%s/values.yaml" % name))
            except (TemplateError, yaml.YAMLError) as e:
                fail("%s renders for %s (%s)" % (chart, name, how), e)
                continue
            bad = [o for o in objs if not (isinstance(o.get("apiVersion"), str) and isinstance(o.get("kind"), str) and
                                           isinstance(o.get("metadata"), dict) and DNS_LABEL.match(str(o["metadata"].get("name"))))]
            check(objs and not bad, "%s for %s: every manifest has apiVersion, kind and a DNS-label metadata.name" % (chart, name), bad)
            kinds = by_kind(objs)
            hosts = [r["host"] for i in kinds.get("Ingress", []) for r in i["spec"]["rules"]]
            check(hosts == ["%s.env.my" % name], "%s for %s (%s): Ingress host %s.env.my" % (chart, name, how, name), hosts)
            nss = [n["metadata"]["name"] for n in kinds.get("Namespace", [])]
            if chart == "helm-env":
                check(nss == [], "%s for %s: no Namespace (CreateNamespace=true makes it)" % (chart, name), nss)
            else:
                check(nss == [name], "%s for %s: the chart makes Namespace %s" % (chart, name, name), nss)
            dep = kinds.get("Deployment", [{}])[0]
            check(dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0].get("image") == "nginx:1.27",
                  "%s for %s: Deployment image nginx:1.27" % (chart, name), dep.get("spec", {}).get("template"))
    # keepNamespace: the namespace survives its Application
    objs = render_chart(os.path.join(d, "helm-env-owned-namespace"), "prod", blob("env/prod/values.yaml") + "\nkeepNamespace: true\n")
    ann = by_kind(objs)["Namespace"][0]["metadata"].get("annotations", {})
    check(ann.get("argocd.argoproj.io/sync-options") == "Delete=false", "keepNamespace: true keeps the namespace (Delete=false)", ann)


def main():
    global ROOT
    if len(sys.argv) < 3 or sys.argv[1] not in ("static", "repo"):
        sys.exit(__doc__)
    ROOT = os.path.abspath(sys.argv[2])
    try:
        if sys.argv[1] == "static":
            static()
        else:
            repo(sys.argv[3])
    except Exception as e:  # a crash is one failure, with its reason
        import traceback
        fail("check_deploy.py %s runs to the end" % sys.argv[1], "%s: %s %s" % (type(e).__name__, e, traceback.format_exc().splitlines()[-3:]))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
