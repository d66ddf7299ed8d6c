#!/usr/bin/env python3
"""fake_forge.py - a stand-in for the REST APIs of GitHub, GitLab and Gitea
that previewd reports pull requests' environments to (tests only).

    python3 fake_forge.py --log LOG --control CONTROL \
        --github-token T1 --gitlab-token T2 --gitea-token T3 [--port N]

Listens on 127.0.0.1:PORT (0 picks one) and prints the port on its first
stdout line (loopback.serve).  One server speaks all three, as their docs
shape them:

  GitHub (at /, as api.github.com; "Authorization: Bearer T1" or "token T1")
    POST  /repos/O/R/deployments                 201 {"id", "sha", "ref", "environment"}
    POST  /repos/O/R/deployments/ID/statuses     201 {"id", "state", "environment_url"}
    POST  /repos/O/R/issues/N/comments           201 {"id", "body", "html_url"}
    PATCH /repos/O/R/issues/comments/ID          200 {"id", "body"}; 404 for an unknown id
  GitLab (under /api/v4; "PRIVATE-TOKEN: T2")
    POST  /api/v4/projects/P/statuses/SHA        201 {"id", "status", "sha", "name", "target_url"}
    POST  /api/v4/projects/P/merge_requests/IID/notes          201 {"id", "body"}
    PUT   /api/v4/projects/P/merge_requests/IID/notes/ID       200; 404 for an unknown id
  Gitea (under /api/v1; "Authorization: token T3")
    POST  /api/v1/repos/O/R/statuses/SHA         201 {"id", "status", "context", "target_url"}
    POST  /api/v1/repos/O/R/issues/N/comments    201 {"id", "body"}
    PATCH /api/v1/repos/O/R/issues/comments/ID   200; 404 for an unknown id
  Membership (who may run /preview commands)
    GET   /api/v4/projects/P/members/all/UID     200 {"id", "access_level"}; 404 not a member
    GET   /api/v1/repos/O/R/collaborators/USER   204 a collaborator; 404 not

A wrong or missing token is 401 with the forge's error body.  Every request
is one JSON line in LOG, written before the answer (loopback.record plus
"forge", "status" answered, "answer" the body answered, "json" the parsed
request body or null).

CONTROL is a JSON file read at each request; while
{"limit": {"FORGE": {"until": UNIX, "style": "429" | "403"}}} holds (now <
until), that forge answers every request rate-limited: "429" with
Retry-After (seconds left), "403" as GitHub's primary limit
(X-RateLimit-Remaining: 0, X-RateLimit-Reset: until) and GitLab's
(RateLimit-Remaining: 0, RateLimit-Reset: until).  Its "members":
{"gitlab": {"PROJECT_ID": {"USER_ID": ACCESS_LEVEL}}, "gitea": {"O/R":
["USER", ...]}} answers the membership checks.  Python 3 standard
library only.
"""
import argparse
import json
import re
import threading
import time

import loopback

ARGS = None
LOCK = threading.Lock()
NEXT_ID = [1000]
COMMENTS = {}   # (forge, id) -> body


def next_id():
    with LOCK:
        NEXT_ID[0] += 1
        return NEXT_ID[0]


def control():
    try:
        with open(ARGS.control) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


ROUTES = [
    ("github", "POST", r"^/repos/[^/]+/[^/]+/deployments$", "deployment"),
    ("github", "POST", r"^/repos/[^/]+/[^/]+/deployments/\d+/statuses$", "deployment_status"),
    ("github", "POST", r"^/repos/[^/]+/[^/]+/issues/\d+/comments$", "comment_new"),
    ("github", "PATCH", r"^/repos/[^/]+/[^/]+/issues/comments/(\d+)$", "comment_edit"),
    ("gitlab", "POST", r"^/api/v4/projects/[^/]+/statuses/[0-9a-f]+$", "status"),
    ("gitlab", "POST", r"^/api/v4/projects/[^/]+/merge_requests/\d+/notes$", "comment_new"),
    ("gitlab", "PUT", r"^/api/v4/projects/[^/]+/merge_requests/\d+/notes/(\d+)$", "comment_edit"),
    ("gitea", "POST", r"^/api/v1/repos/[^/]+/[^/]+/statuses/[0-9a-f]+$", "status"),
    ("gitea", "POST", r"^/api/v1/repos/[^/]+/[^/]+/issues/\d+/comments$", "comment_new"),
    ("gitea", "PATCH", r"^/api/v1/repos/[^/]+/[^/]+/issues/comments/(\d+)$", "comment_edit"),
]


def forge_of(path):
    if path.startswith("/api/v4/"):
        return "gitlab"
    if path.startswith("/api/v1/"):
        return "gitea"
    return "github"


def authorised(forge, headers):
    if forge == "gitlab":
        return headers.get("private-token") == ARGS.gitlab_token
    auth = headers.get("authorization", "")
    if forge == "gitea":
        return auth == "token " + ARGS.gitea_token
    return auth in ("Bearer " + ARGS.github_token, "token " + ARGS.github_token)


class H(loopback.Handler):
    def handle_any(self):
        raw = loopback.read_body(self)
        rec = loopback.record(self, raw)
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        rec["json"] = doc
        forge = rec["forge"] = forge_of(self.path)
        status, body, headers = self.answer(forge, rec["headers"], doc)
        rec["status"] = status
        rec["answer"] = body
        with LOCK:
            with open(ARGS.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if status == 204:  # no body, and no Content-Length (RFC 9110 8.6)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer(self, forge, headers, doc):
        now = time.time()
        lim = (control().get("limit") or {}).get(forge)
        if lim and now < lim.get("until", 0):
            left = int(lim["until"] - now) + 1
            if lim.get("style") == "429":
                return 429, {"message": "Too Many Requests"}, {"Retry-After": str(left)}
            if forge == "gitlab":
                return 403, {"message": "Rate limit exceeded"}, {"RateLimit-Remaining": "0",
                                                                  "RateLimit-Reset": str(int(lim["until"]))}
            return 403, {"message": "API rate limit exceeded"}, {"X-RateLimit-Remaining": "0",
                                                                 "X-RateLimit-Reset": str(int(lim["until"]))}
        if not authorised(forge, headers):
            return 401, {"message": "Bad credentials" if forge == "github" else "401 Unauthorized"}, {}
        if self.command == "GET":
            return self.membership(forge)
        for f, method, pattern, kind in ROUTES:
            m = re.match(pattern, self.path)
            if f != forge or method != self.command or not m:
                continue
            if not isinstance(doc, dict):
                return 400, {"message": "Problems parsing JSON"}, {}
            i = next_id()
            if kind == "deployment":
                return 201, {"id": i, "sha": doc.get("ref"), "ref": doc.get("ref"),
                             "environment": doc.get("environment")}, {}
            if kind == "deployment_status":
                return 201, {"id": i, "state": doc.get("state"),
                             "environment_url": doc.get("environment_url", "")}, {}
            if kind == "status":
                return 201, {"id": i, "status": doc.get("state"), "target_url": doc.get("target_url")}, {}
            if kind == "comment_new":
                with LOCK:
                    COMMENTS[(forge, i)] = doc.get("body")
                return 201, {"id": i, "body": doc.get("body")}, {}
            cid = int(m.group(1))
            with LOCK:
                if (forge, cid) not in COMMENTS:
                    return 404, {"message": "Not Found"}, {}
                COMMENTS[(forge, cid)] = doc.get("body")
            return 200, {"id": cid, "body": doc.get("body")}, {}
        return 404, {"message": "Not Found"}, {}

    def membership(self, forge):
        """GitLab's project member (all, inherited too) and Gitea's
        collaborator check, answered from CONTROL's "members"."""
        members = (control().get("members") or {}).get(forge) or {}
        m = re.match(r"^/api/v4/projects/(\d+)/members/all/(\d+)$", self.path)
        if forge == "gitlab" and m:
            level = (members.get(m.group(1)) or {}).get(m.group(2))
            if level is None:
                return 404, {"message": "404 Not found"}, {}
            return 200, {"id": int(m.group(2)), "username": "u%s" % m.group(2), "state": "active",
                         "access_level": level}, {}
        m = re.match(r"^/api/v1/repos/([^/]+/[^/]+)/collaborators/([^/]+)$", self.path)
        if forge == "gitea" and m:
            if m.group(2) in (members.get(m.group(1)) or []):
                return 204, None, {}
            return 404, {"message": "user is not a collaborator"}, {}
        return 404, {"message": "Not Found"}, {}

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--github-token", required=True)
    p.add_argument("--gitlab-token", required=True)
    p.add_argument("--gitea-token", required=True)
    p.add_argument("--port", type=int, default=0)
    ARGS = p.parse_args()
    loopback.serve(H, ARGS.port)


if __name__ == "__main__":
    main()
