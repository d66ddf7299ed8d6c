#!/usr/bin/env python3
"""fake_argocd.py - a stand-in for the two Argo CD endpoints previewd uses (tests only).

    python3 fake_argocd.py --log LOG --control CONTROL --token TOKEN
                           [--repo-url URL] [--secret S] [--port N]

Listens on 127.0.0.1:PORT (0, the default, picks a free port) and prints the
port it bound on its first stdout line, then flushes:

    python3 fake_argocd.py ... >"$T_TMP/port" &  ...  port=$(head -1 "$T_TMP/port")

POST /api/webhook (Argo CD's Git webhook endpoint)
    Appends one JSON line per request to LOG, written and flushed before the
    answer, then answers 200 with an empty body:

        {"path": "/api/webhook", "method": "POST", "headers": {lowercased},
         "body": "<raw body>", "received_at": 1700000000.1,
         "sig_ok": true|false|null, "refresh": ["alice", ...]}

    sig_ok is the fake's own check of X-Hub-Signature-256 against --secret
    (null without --secret).  refresh names the Applications real Argo CD
    would refresh for this GitHub push event (util/webhook/webhook.go):
    those whose source repoURL is the event's repository.html_url (scheme,
    credentials, case and a ".git" suffix aside), whose targetRevision is the
    pushed branch (HEAD means the repository's default_branch) and, when
    they carry the argocd.argoproj.io/manifest-generate-paths annotation,
    whose paths the commits touched.  The last "after" becomes every
    Application's sync revision.

GET /api/v1/applications (the ApplicationList of the Argo CD API server)
    Needs "Authorization: Bearer <token>", else 401 with Argo CD's error body.
    Every request is logged to LOG too (path /api/v1/applications).

CONTROL is a JSON file read at each request (the last good content is kept
while it is missing or half-written, so a test may rewrite it any time):

    {"apps": {"alice": {"sync": "Synced", "health": "Progressing"},
              "guestbook": {"health": "Healthy", "repoURL": "https://other/x.git",
                            "path": "guestbook", "previewd": false}},
     "token": "overrides --token",  "status": 500, "body": "<html>not JSON</html>"}

Per app: sync (default Synced), health (default Healthy), and optionally
repoURL (default --repo-url), path / valueFiles (default "." and
env/NAME/values.yaml, the layout of deploy/helm-env/applicationset.yaml),
targetRevision (HEAD), generate_paths (the annotation's value), previewd
(default true: the ApplicationSet's labels and owner), finished_at (epoch
seconds: when the last sync finished, operationState.finishedAt; default 4 s
before the request: a fixed time in the past is an Application left from an
earlier environment of the same name).  A top-level "status" makes
/api/v1/applications answer that status instead; a top-level "body" (a
string) is answered as is, with 200: an answer that is not JSON.

The list has the shape of the real API's JSON: no apiVersion/kind,
"metadata": {"resourceVersion"}, and items with metadata, spec and status
(sync, health, operationState, resources, history, summary...).
Python 3 standard library only; stops on SIGTERM/SIGINT.
"""
import argparse
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loopback  # noqa: E402

GEN_PATHS = "argocd.argoproj.io/manifest-generate-paths"


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def norm_repo(url):
    """A repository URL as Argo CD compares them: no scheme, no user info,
    no .git, lowercase; git@host:path becomes host/path."""
    u = (url or "").strip().lower()
    u = re.sub(r"^[a-z][a-z0-9+.-]*://", "", u)
    u = re.sub(r"^[^@/]*@", "", u)
    if ":" in u.split("/", 1)[0] and not re.match(r"^[^/:]+:\d+(/|$)", u):
        u = u.replace(":", "/", 1)  # scp-like git@host:path
    u = re.sub(r":\d+/", "/", u, count=1)
    u = u.rstrip("/")
    if u.endswith(".git"):
        u = u[:-4]
    return u


def touched(gen_paths, source_path, changed):
    """Argo CD's AppFilesHaveChanged over GetAppRefreshPaths."""
    if gen_paths is None:
        return True  # no annotation: every push to the repository refreshes
    prefixes = []
    for p in gen_paths.split(";"):
        p = p.strip()
        if not p:
            continue
        if p.startswith("/"):
            prefixes.append(p.strip("/"))
        else:
            base = "" if source_path in ("", ".") else source_path.strip("/")
            prefixes.append("/".join(x for x in (base, p) if x not in ("", ".")))
    for f in changed:
        for pre in prefixes:
            if pre in ("", ".") or f == pre or f.startswith(pre + "/"):
                return True
    return False


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.control = {"apps": {}}
        self.revision = "0" * 40
        self.resource_version = 1000
        self.uids = {}
        self.started = time.time()

    def read_control(self):
        try:
            with open(self.args.control, encoding="utf-8") as f:
                c = json.load(f)
            if isinstance(c, dict):
                self.control = c
        except (OSError, ValueError):
            pass  # keep the last good one
        return self.control

    def app_spec(self, name, a):
        repo = a.get("repoURL", self.args.repo_url)
        path = a.get("path", ".")
        previewd = a.get("previewd", True)
        source = {"repoURL": repo, "path": path, "targetRevision": a.get("targetRevision", "HEAD")}
        if previewd or "valueFiles" in a:
            source["helm"] = {"valueFiles": a.get("valueFiles", ["env/%s/values.yaml" % name])}
        return source

    def app(self, name, a, now):
        sync = a.get("sync", "Synced")
        health = a.get("health", "Healthy")
        previewd = a.get("previewd", True)
        source = self.app_spec(name, a)
        dest = {"server": "https://kubernetes.default.svc", "namespace": a.get("namespace", name)}
        uid = self.uids.setdefault(name, str(uuid.uuid4()))
        created = iso(self.started - 3600)
        meta = {
            "name": name,
            "namespace": "argocd",
            "uid": uid,
            "resourceVersion": str(self.resource_version),
            "generation": 7,
            "creationTimestamp": created,
            "labels": {},
            "annotations": {},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            "managedFields": [{
                "manager": "argocd-applicationset-controller" if previewd else "argocd-server",
                "operation": "Update", "apiVersion": "argoproj.io/v1alpha1", "time": created,
                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {".": {}, "f:source": {}}},
            }],
        }
        if previewd:
            meta["labels"]["app.kubernetes.io/managed-by"] = "previewd"
            meta["ownerReferences"] = [{
                "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "preview-env",
                "uid": "5d1b0e1c-0c8e-4f3e-9a53-0b7e6c1d2f40", "controller": True, "blockOwnerDeletion": True,
            }]
        if a.get("generate_paths") is not None:
            meta["annotations"][GEN_PATHS] = a["generate_paths"]
        spec = {
            "source": source,
            "destination": dest,
            "project": "default",
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        }
        revision = a.get("revision", self.revision)
        dep_health = {"Healthy": {"status": "Healthy"},
                      "Progressing": {"status": "Progressing",
                                      "message": 'Waiting for rollout to finish: 0 of 1 updated replicas are available...'},
                      "Degraded": {"status": "Degraded",
                                   "message": 'Deployment "frontend" exceeded its progress deadline'}}.get(
            health, {"status": health})
        resources = [
            {"version": "v1", "kind": "Service", "namespace": dest["namespace"], "name": "frontend-service",
             "status": sync, "health": {"status": "Healthy"}},
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": dest["namespace"],
             "name": "frontend", "status": sync, "health": dep_health},
            {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress", "namespace": dest["namespace"],
             "name": "frontend", "status": sync, "health": {"status": "Healthy"}},
        ]
        finished = a.get("finished_at", now - 4)
        t_start, t_end = iso(finished - 1), iso(finished)
        status = {
            "resources": resources,
            "sync": {"status": sync, "comparedTo": {"source": source, "destination": dest}, "revision": revision},
            "health": {"status": health},
            "history": [{"revision": revision, "deployedAt": t_end, "id": 3, "source": source,
                         "deployStartedAt": t_start, "initiatedBy": {"automated": True}}],
            "reconciledAt": iso(now),
            "operationState": {
                "operation": {"sync": {"revision": revision, "prune": True, "syncOptions": ["CreateNamespace=true"]},
                              "initiatedBy": {"automated": True}, "retry": {"limit": 5}},
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "syncResult": {
                    "resources": [{"group": r.get("group", ""), "version": r["version"], "kind": r["kind"],
                                   "namespace": r["namespace"], "name": r["name"], "status": "Synced",
                                   "message": "%s/%s configured" % (r["kind"].lower(), r["name"]),
                                   "hookPhase": "Running", "syncPhase": "Sync"} for r in resources],
                    "revision": revision, "source": source},
                "startedAt": t_start, "finishedAt": t_end,
            },
            "sourceType": "Helm" if "helm" in source else "Directory",
            "summary": {"externalURLs": ["http://%s.env.my" % name], "images": ["registry.example.com/frontend:1.4.2"]},
            "controllerNamespace": "argocd",
        }
        return {"metadata": meta, "spec": spec, "status": status}

    def app_list(self):
        with self.lock:
            c = self.read_control()
            now = time.time()
            self.resource_version += 1
            items = [self.app(n, a if isinstance(a, dict) else {}, now)
                     for n, a in sorted((c.get("apps") or {}).items())]
            return {"metadata": {"resourceVersion": str(self.resource_version)}, "items": items}

    def refresh_for(self, event):
        """The Applications real Argo CD would refresh for a GitHub push event."""
        repo = event.get("repository") or {}
        ref = event.get("ref") or ""
        branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
        touched_head = repo.get("default_branch") == branch
        changed = []
        for c in event.get("commits") or []:
            for k in ("added", "modified", "removed"):
                changed += c.get(k) or []
        out = []
        with self.lock:
            c = self.read_control()
            if event.get("after"):
                self.revision = event["after"]
            for name, a in sorted((c.get("apps") or {}).items()):
                a = a if isinstance(a, dict) else {}
                src = self.app_spec(name, a)
                rev = src.get("targetRevision") or "HEAD"
                if not ((rev == "HEAD" and touched_head) or rev == branch):
                    continue
                if norm_repo(src["repoURL"]) != norm_repo(repo.get("html_url")):
                    continue
                if touched(a.get("generate_paths"), src["path"], changed):
                    out.append(name)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", required=True, help="file to append one JSON line per request to")
    ap.add_argument("--control", required=True, help="JSON control file (apps and their status)")
    ap.add_argument("--token", default="", help="the bearer token /api/v1/applications wants")
    ap.add_argument("--repo-url", default="https://git.example.com/team/gitops.git",
                    help="the Applications' default source repoURL")
    ap.add_argument("--secret", default=None, help="webhook secret, to report sig_ok in the log")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    args = ap.parse_args()
    state = State(args)
    log_lock = threading.Lock()

    def log(rec):
        with log_lock, open(args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()

    class Handler(loopback.Handler):
        server_version = "argocd-server"
        sys_version = ""

        def answer(self, status, body=b"", ctype="application/json"):
            self.send_response(status)
            if body:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def do_POST(self):
            body = loopback.read_body(self)
            rec = loopback.record(self, body)
            if self.path.split("?")[0] != "/api/webhook":
                log(rec)
                return self.answer(404, b'{"error":"Not Found","code":5,"message":"Not Found"}')
            if args.secret is not None:
                want = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
                rec["sig_ok"] = hmac.compare_digest(want, self.headers.get("X-Hub-Signature-256") or "")
            else:
                rec["sig_ok"] = None
            try:
                event = json.loads(body)
            except ValueError:
                event = None
            rec["refresh"] = state.refresh_for(event) if isinstance(event, dict) and \
                self.headers.get("X-GitHub-Event") == "push" else []
            log(rec)
            self.answer(200)

        def do_GET(self):
            rec = loopback.record(self, b"")
            log(rec)
            if self.path.split("?")[0] != "/api/v1/applications":
                return self.answer(404, b'{"error":"Not Found","code":5,"message":"Not Found"}')
            c = state.read_control()
            token = c.get("token", args.token)
            if self.headers.get("Authorization") != "Bearer " + token:
                msg = b'{"error":"invalid session: token signature is invalid","code":16,' \
                      b'"message":"invalid session: token signature is invalid"}'
                return self.answer(401, msg)
            if isinstance(c.get("status"), int) and c["status"] != 200:
                return self.answer(c["status"], b'{"error":"unavailable","code":14,"message":"unavailable"}')
            if isinstance(c.get("body"), str):
                return self.answer(200, c["body"].encode(), "text/html")
            self.answer(200, json.dumps(state.app_list()).encode())

    return loopback.serve(Handler, args.port)


if __name__ == "__main__":
    sys.exit(main())
