#!/usr/bin/env python3
"""fake_argocd.py - a stand-in for the two Argo CD endpoints previewd uses (tests only).

    python3 fake_argocd.py --log LOG --control CONTROL --token TOKEN
                           [--repo-url URL] [--secret S] [--port N] [--foreign N]

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
    Honours the query as Argo CD does: selector (a label selector: k=v,
    k==v, k!=v, k, !k, comma separated) filters the Applications, fields
    (comma separated dotted paths, e.g. items.metadata.name) keeps only
    those parts of the answer.  Every request is logged to LOG too, its
    path without the query, the query parsed ("query": {"selector": "..."}),
    and what was answered ("items": how many, "bytes": the body's size).

GET /api/v1/stream/applications (the watch stream)
    The same token, selector and fields (fields under result.*); a chunked
    200 answer that stays open, one JSON line per event:
    {"result": {"type": "ADDED|MODIFIED|DELETED", "application": {...}}}.
    Without resourceVersion it first sends every selected Application as
    ADDED (as Argo CD does).  Then, whenever an Application changes (the
    control file, or a webhook's new revision), MODIFIED (ADDED, DELETED)
    to every open stream whose selector takes it; each event sent is logged
    as {"method": "STREAM", "path": "/api/v1/stream/applications",
    "stream_event": TYPE, "name": NAME, "received_at": time}.  Argo CD
    refusing or failing (a "status", "body" or "token" in the control file,
    or "stream": "down") ends the open streams.  The request is
    logged like the list's.

--foreign N adds N Applications that are not previewd's (another team's,
in the real objects' shape, about 1.8 KB of JSON each), listed when the
selector takes them; the log's "items" shows whether any were sent.

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
earlier environment of the same name), revision (the commit it is synced
to; default: the last webhook's "after").  A top-level "status" makes
/api/v1/applications answer that status instead; a top-level "body" (a
string) is answered as is, with 200: an answer that is not JSON.  A
top-level "stream": "down" closes the open streams and answers new ones
503 (the list still answers); "instance" is the previewd.io/instance label
of previewd's Applications (default: none).

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
import queue
import re
import sys
import threading
import time
import urllib.parse
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


def selects(selector, labels):
    """Whether a Kubernetes equality-based label selector takes LABELS."""
    for term in (t.strip() for t in (selector or "").split(",")):
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = re.split("==?", term, maxsplit=1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def pick(obj, fields):
    """OBJ with only the dotted paths FIELDS (a list applies the rest of a
    path to each element), as Argo CD's fields query does; None: all."""
    if not fields:
        return obj
    tree = {}
    for f in fields:
        node = tree
        for part in f.strip().split("."):
            node = node.setdefault(part, {})
        node[None] = True

    def walk(v, t):
        if None in t:
            return v
        if isinstance(v, list):
            return [walk(x, t) for x in v]
        if isinstance(v, dict):
            return {k: walk(v[k], sub) for k, sub in t.items() if k is not None and k in v}
        return v
    return walk(obj, tree)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.control = {"apps": {}}
        self.revision = "0" * 40
        self.resource_version = 1000
        self.uids = {}
        self.started = time.time()
        self.streams = []        # queues of the open streams
        self.seen = {}           # name -> signature of what the streams last saw
        self.foreign = [self.foreign_app(i) for i in range(args.foreign)]

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
            if self.control.get("instance"):
                meta["labels"]["previewd.io/instance"] = self.control["instance"]
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

    def foreign_app(self, i):
        """Another team's Application: never previewd's, in the real shape."""
        teams = ("payments", "search", "checkout", "identity", "ledger")
        name = "%s-svc-%04d" % (teams[i % len(teams)], i)
        a = {"previewd": False, "repoURL": "https://git.example.com/%s/deploy.git" % teams[i % len(teams)],
             "path": "apps/%s" % name, "revision": "%040x" % (i * 7919 + 1), "finished_at": self.started - 600}
        app = self.app(name, a, self.started)
        app["metadata"]["labels"] = {"app.kubernetes.io/part-of": teams[i % len(teams)],
                                     "app.kubernetes.io/managed-by": "argocd-applicationset",
                                     "env": ("prod", "staging", "dev")[i % 3]}
        app["metadata"]["annotations"] = {"notifications.argoproj.io/subscribe.on-sync-failed.slack": "alerts"}
        app["status"]["resources"] = app["status"]["resources"][:2]
        app["status"].pop("history")
        app["status"]["operationState"]["syncResult"] = {"revision": a["revision"]}
        del app["metadata"]["managedFields"]
        return app

    def apps_now(self, c, now):
        """previewd's Applications as the control file says now, by name."""
        return {n: self.app(n, a if isinstance(a, dict) else {}, now)
                for n, a in sorted((c.get("apps") or {}).items())}

    def app_list(self, selector, fields):
        with self.lock:
            c = self.read_control()
            now = time.time()
            self.resource_version += 1
            items = [x for x in self.apps_now(c, now).values() if selects(selector, x["metadata"]["labels"])]
            items += [x for x in self.foreign if selects(selector, x["metadata"]["labels"])]
            return pick({"metadata": {"resourceVersion": str(self.resource_version)}, "items": items}, fields)

    def signature(self, name, a):
        """What makes an Application's event: its control entry and revision."""
        return json.dumps([a, self.revision], sort_keys=True)

    def watch(self, log):
        """Every 0.1 s: the Applications that changed, to every open stream."""
        while True:
            time.sleep(0.1)
            with self.lock:
                c = self.read_control()
                now = time.time()
                apps = {n: (a if isinstance(a, dict) else {}) for n, a in (c.get("apps") or {}).items()}
                events = []
                for n, a in sorted(apps.items()):
                    sig = self.signature(n, a)
                    if self.seen.get(n) != sig:
                        events.append(("MODIFIED" if n in self.seen else "ADDED", self.app(n, a, now)))
                        self.seen[n] = sig
                for n in sorted(set(self.seen) - set(apps)):
                    events.append(("DELETED", self.app(n, {}, now)))
                    del self.seen[n]
                if events:
                    self.resource_version += 1
                # Argo CD down, refusing the token or answering nonsense
                # ends the streams too
                down = c.get("stream") == "down" or (isinstance(c.get("status"), int) and c["status"] != 200) \
                    or isinstance(c.get("body"), str) or c.get("token", self.args.token) != self.args.token
                streams = list(self.streams)
            for q in streams:
                q.put(None if down else events)

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
    ap.add_argument("--foreign", type=int, default=0, help="Applications of other teams to hold besides previewd's")
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

        def refused(self, c):
            """Argo CD's answer to a request it does not serve, else None."""
            token = c.get("token", args.token)
            if self.headers.get("Authorization") != "Bearer " + token:
                msg = b'{"error":"invalid session: token signature is invalid","code":16,' \
                      b'"message":"invalid session: token signature is invalid"}'
                return 401, msg
            if isinstance(c.get("status"), int) and c["status"] != 200:
                return c["status"], b'{"error":"unavailable","code":14,"message":"unavailable"}'
            return None

        def chunk(self, data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def stream(self, rec, selector, fields, rv):
            url_path = rec["path"]
            q = queue.Queue()
            with state.lock:
                c = state.read_control()
                first = [] if rv else [("ADDED", x) for x in state.apps_now(c, time.time()).values()]
                state.streams.append(q)
            log(rec)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            batch = first
            try:
                while batch is not None:
                    for kind, app in batch:
                        if not selects(selector, app["metadata"]["labels"]):
                            continue
                        ev = pick({"result": {"type": kind, "application": app}}, fields)
                        self.chunk(json.dumps(ev).encode() + b"\n")
                        log({"method": "STREAM", "path": url_path, "stream_event": kind,
                             "name": app["metadata"]["name"], "received_at": time.time()})
                    batch = q.get()
                self.wfile.write(b"0\r\n\r\n")  # "stream": "down": the end of the answer
            except OSError:
                pass  # the client went away
            finally:
                with state.lock:
                    state.streams.remove(q)

        def do_GET(self):
            rec = loopback.record(self, b"")
            url = urllib.parse.urlsplit(self.path)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
            rec["path"], rec["query"] = url.path, query
            selector = query.get("selector")
            fields = [f for f in query.get("fields", "").split(",") if f.strip()]
            if url.path not in ("/api/v1/applications", "/api/v1/stream/applications"):
                log(rec)
                return self.answer(404, b'{"error":"Not Found","code":5,"message":"Not Found"}')
            c = state.read_control()
            no = self.refused(c)
            if url.path == "/api/v1/stream/applications":
                if no is None and (c.get("stream") == "down" or isinstance(c.get("body"), str)):
                    no = 503, b'{"error":"unavailable","code":14,"message":"unavailable"}'
                if no:
                    rec["status"] = no[0]
                    log(rec)
                    return self.answer(*no)
                return self.stream(rec, selector, fields, query.get("resourceVersion"))
            if no:
                rec["status"] = no[0]
                log(rec)
                return self.answer(*no)
            if isinstance(c.get("body"), str):
                log(rec)
                return self.answer(200, c["body"].encode(), "text/html")
            doc = state.app_list(selector, fields)
            body = json.dumps(doc).encode()
            rec["items"], rec["bytes"] = len(doc.get("items", [])), len(body)
            log(rec)
            self.answer(200, body)

    threading.Thread(target=state.watch, args=(log,), daemon=True).start()
    return loopback.serve(Handler, args.port)


if __name__ == "__main__":
    sys.exit(main())
