#!/usr/bin/env python3
"""emulate.py - the Applications Argo CD's ApplicationSet controller would make
from some ApplicationSets over a Git tree, for tests/integration/test_appset.sh.

    emulate.py GIT_DIR REV SET.yaml...   prints one JSON object per line:
        {"set", "name", "namespace", "cluster", "server", "path",
         "valueFiles" (relative to the repository root), "parameters",
         "labels", "finalizers", "prune"}
    or exits 1 with the controller's error for the set that has one.

It follows the ApplicationSet documentation of Argo CD 2.13 (operator
manual, applicationset/: Generators-Git, Generators-Merge,
Generators-Post-Selector, GoTemplate) and, where the pages are silent, the
controller's v2 source they describe (applicationset/generators/git.go,
merge.go, generator_spec_processor.go):

- Git files generator: the files matching each `path` (Argo CD's default
  globbing, where "*" also matches "/"; the set fails when the new globbing
  would read other files, which a test must not depend on), `exclude: true`
  entries removed, sorted; a file that is a mapping is one parameter set, a
  list one per element.  fasttemplate: the file flattened with dots
  ("a.b", "l.0"), each value as Go's %v prints it ("<nil>", "true", "1"),
  plus path, path.basename, path.filename, path.basenameNormalized,
  path.filenameNormalized and path[n].  goTemplate: the file as it is plus
  path: {path, basename, filename, basenameNormalized, filenameNormalized,
  segments}.
- List generator: its elements.
- Merge generator: the base (first) generator's sets; a set of a later
  generator whose mergeKeys values (looked up at the top level of the set,
  a missing key being null) equal a base set's overrides its keys
  (goTemplate: a deep merge); later sets matching none are dropped; two sets
  of a later generator with the same key are an error.
- Post selector (`selector` on a top-level generator): matchLabels and
  matchExpressions (In, NotIn, Exists, DoesNotExist, Kubernetes' label
  selector semantics) over the set's top-level string values only.
- Templates: goTemplate by Go's text/template with Sprig (tests/helm/render
  appset, path in PV_HELM_RENDER; a missing key prints "<no value>");
  fasttemplate by replacing {{ key }} with the parameter, an unknown one
  left as it is.
"""
import fnmatch
import json
import os
import re
import subprocess
import sys

import yaml


class ControllerError(Exception):
    pass


def git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", gitdir] + list(args), capture_output=True, text=True, check=True).stdout


def go_v(v):
    """Go's %v of what sigs.k8s.io/yaml decoded (JSON numbers are float64)."""
    if v is None:
        return "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e21 else repr(f)
    return str(v)


def flatten(obj, prefix=""):
    out = {}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for k, v in items:
        key = "%s.%s" % (prefix, k) if prefix else str(k)
        if isinstance(v, (dict, list)) and v:
            out.update(flatten(v, key))
        else:
            out[key] = go_v(v)
    return out


def sanitize(s):
    return re.sub(r"[^a-zA-Z0-9-]", "-", s).lower()


def match_strict(pattern, path):
    def rec(ps, xs):
        if not ps:
            return not xs
        if ps[0] == "**":
            return any(rec(ps[1:], xs[i:]) for i in range(len(xs) + 1))
        return bool(xs) and fnmatch.fnmatchcase(xs[0], ps[0]) and rec(ps[1:], xs[1:])
    return rec(pattern.split("/"), path.split("/"))


class Repo:
    def __init__(self, gitdir, rev):
        self.gitdir, self.rev = gitdir, rev
        self.files = [l for l in git(gitdir, "ls-tree", "-r", "--name-only", rev).splitlines() if l]

    def blob(self, p):
        return git(self.gitdir, "show", "%s:%s" % (self.rev, p))

    def glob(self, pattern):
        legacy = sorted(f for f in self.files if fnmatch.fnmatchcase(f, pattern))
        strict = sorted(f for f in self.files if match_strict(pattern, f))
        if legacy != strict:
            raise ControllerError("%s reads %s by default but %s with the new globbing" % (pattern, legacy, strict))
        return legacy


def git_files(gen, repo, go):
    chosen = set()
    for e in gen.get("files", []):
        if not e.get("exclude"):
            chosen.update(repo.glob(e["path"]))
    for e in gen.get("files", []):
        if e.get("exclude"):
            chosen.difference_update(repo.glob(e["path"]))
    if gen.get("directories") or gen.get("values") or gen.get("pathParamPrefix"):
        raise ControllerError("emulate.py: git directories, values and pathParamPrefix are not emulated")
    out = []
    for f in sorted(chosen):
        try:
            doc = yaml.safe_load(repo.blob(f))
        except yaml.YAMLError as e:
            raise ControllerError("unable to process file '%s': %s" % (f, e))
        objs = [doc or {}] if not isinstance(doc, list) else doc
        d = os.path.dirname(f)
        for obj in objs:
            if not isinstance(obj, dict):
                raise ControllerError("unable to process file '%s': not a mapping" % f)
            if go:
                p = dict(obj)
                p["path"] = {"path": d, "basename": os.path.basename(d), "filename": os.path.basename(f),
                             "basenameNormalized": sanitize(os.path.basename(d)),
                             "filenameNormalized": sanitize(os.path.basename(f)), "segments": d.split("/")}
            else:
                p = flatten(obj)
                p.update({"path": d, "path.basename": os.path.basename(d), "path.filename": os.path.basename(f),
                          "path.basenameNormalized": sanitize(os.path.basename(d)),
                          "path.filenameNormalized": sanitize(os.path.basename(f))})
                for i, s in enumerate(d.split("/")):
                    if s:
                        p["path[%d]" % i] = s
            out.append(p)
    return out


def deep_merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def merge(gen, repo, go):
    gens = gen.get("generators", [])
    keys = sorted(set(gen.get("mergeKeys", [])))
    if len(gens) < 2:
        raise ControllerError("found less than two generators, Merge requires two or more")
    if not keys:
        raise ControllerError("no merge keys were specified, Merge requires at least one")
    if any("selector" in g for g in gens):
        raise ControllerError("emulate.py: selectors on a merge's generators are not emulated")
    sets = [generate(g, repo, go) for g in gens]
    key = lambda p: json.dumps({k: p.get(k) for k in keys}, sort_keys=True)  # noqa: E731
    base = [dict(p) for p in sets[0]]
    for later in sets[1:]:
        by = {}
        for p in later:
            k = key(p)
            if k in by:
                raise ControllerError("the parameters from a generator were not unique by the given mergeKeys, "
                                      "Merge requires all param sets to be unique. Duplicate key was %s" % k)
            by[k] = p
        for i, p in enumerate(base):
            o = by.get(key(p))
            if o is not None:
                base[i] = deep_merge(p, o) if go else dict(p, **o)
    return base


def selected(sel, params):
    labels = {k: v for k, v in params.items() if isinstance(v, str)}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ControllerError("error parsing label selector: %r is not a valid label selector operator" % op)
    return True


def generate(gen, repo, go):
    if "git" in gen:
        out = git_files(gen["git"], repo, go)
    elif "list" in gen:
        out = [dict(e) if go else flatten(e) for e in gen["list"].get("elements", [])]
    elif "merge" in gen:
        out = merge(gen["merge"], repo, go)
    else:
        raise ControllerError("emulate.py: generator %s is not emulated" % sorted(gen))
    return out


def render(tmpl, params_list, go):
    if go:
        binary = os.environ.get("PV_HELM_RENDER", "")
        r = subprocess.run([binary, "appset"], input=json.dumps({"template": tmpl, "params": params_list}),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ControllerError("goTemplate: %s" % r.stderr.strip())
        return json.loads(r.stdout)

    def walk(v, p):
        if isinstance(v, str):
            return re.sub(r"\{\{([^{}]*)\}\}", lambda m: p.get(m.group(1).strip(), m.group(0)), v)
        if isinstance(v, list):
            return [walk(x, p) for x in v]
        if isinstance(v, dict):
            return {walk(k, p): walk(x, p) for k, x in v.items()}
        return v
    return [walk(tmpl, p) for p in params_list]


def applications(appset, repo):
    spec = appset["spec"]
    go = bool(spec.get("goTemplate"))
    params = []
    for gen in spec.get("generators", []):
        got = generate(gen, repo, go)
        if "selector" in gen:
            got = [p for p in got if selected(gen["selector"], p)]
        params.extend(got)
    return render(spec["template"], params, go)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    repo = Repo(sys.argv[1], sys.argv[2])
    for path in sys.argv[3:]:
        with open(path, encoding="utf-8") as f:
            sets = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "ApplicationSet"]
        for s in sets:
            try:
                apps = applications(s, repo)
            except ControllerError as e:
                sys.exit("%s: %s" % (s["metadata"]["name"], e))
            for a in apps:
                src = a["spec"]["source"]
                dest = a["spec"]["destination"]
                helm = src.get("helm") or {}
                print(json.dumps({
                    "set": s["metadata"]["name"], "name": a["metadata"]["name"],
                    "namespace": dest.get("namespace"), "cluster": dest.get("name"), "server": dest.get("server"),
                    "path": src.get("path"),
                    "valueFiles": [os.path.normpath(os.path.join(src.get("path", "."), v)) for v in helm.get("valueFiles", [])],
                    "parameters": {p["name"]: p["value"] for p in helm.get("parameters", [])},
                    "labels": a["metadata"].get("labels") or {}, "finalizers": a["metadata"].get("finalizers") or [],
                    "prune": ((a["spec"].get("syncPolicy") or {}).get("automated") or {}).get("prune", False),
                }, sort_keys=True))


if __name__ == "__main__":
    main()
