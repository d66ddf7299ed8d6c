#!/usr/bin/env python3
"""A loopback stand-in of previewd's API for the page's stream reader.

    stream_standin.py PORT PAGE_DIR LOG     (PORT 0: any; the port is printed)

Serves the page's files from PAGE_DIR (index.html at /) and just enough of
the API for the page to start (/v1/whoami, /v1/info, a list of one
environment, "sse-old"), and GET /v1/environments/stream in the wire format
of the stream contract (text/event-stream; "id:", "event:", "data:" with the
environment's JSON; ": keepalive" comments):

  - the first connection sends event 7 (created sse-new, active), cut in
    the middle of its "data:" line across two writes, then a keepalive, then
    ends: the page must put the pieces together and reconnect;
  - every later connection sends the events after its Last-Event-ID (8:
    deleted sse-new) and then stays open.

Every request is appended to LOG as one JSON line: method, path, and the
Authorization and Last-Event-ID headers, for the test to check what the
page sent.
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, PAGE, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
LOCK = threading.Lock()
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}


def env(name, status, created="2026-01-01T00:00:00Z"):
    return {"name": name, "owner": "sse", "status": status, "url": "http://%s.env.my" % name,
            "requested_by": "sse", "created_at": created, "updated_at": created,
            "expires_at": "2999-01-01T00:00:00Z", "git": {"pending": False, "error": None}, "argocd": None}


EVENTS = [(7, "created", env("sse-new", "active", "2026-01-02T00:00:00Z")),
          (8, "deleted", env("sse-new", "deleted", "2026-01-02T00:00:00Z"))]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self):
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "authorization": self.headers.get("Authorization"),
                                "last_event_id": self.headers.get("Last-Event-ID")}) + "\n")

    def answer(self, status, ctype, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.record()
        path = self.path.split("?")[0]
        if path == "/v1/environments/stream":
            return self.stream()
        if path == "/v1/whoami":
            return self.answer(200, "application/json", {"name": "sse-reader", "role": "reader"})
        if path == "/v1/info":
            return self.answer(200, "application/json", {
                "bases": ["dev"], "default_base": "dev", "name_rules": {"pattern": "^[a-z]([a-z0-9-]{0,51}[a-z0-9])?$"},
                "ttl": {"default": "8h", "min": "1m", "min_seconds": 60, "max": "7d", "max_seconds": 604800,
                        "max_lifetime": None, "max_lifetime_seconds": None, "never_allowed": False}})
        if path == "/v1/environments":
            return self.answer(200, "application/json", {"items": [env("sse-old", "active")], "next_cursor": None})
        name = "index.html" if path == "/" else path.lstrip("/")
        f = os.path.join(PAGE, name)
        if "/" in name or not os.path.isfile(f):
            return self.answer(404, "application/problem+json", {"status": 404, "detail": "no such file"})
        with open(f, "rb") as fh:
            self.answer(200, TYPES.get(os.path.splitext(name)[1], "application/octet-stream"), fh.read())

    def send_event(self, eid, kind, doc, split=False):
        text = "id: %d\nevent: %s\ndata: %s\n\n" % (eid, kind, json.dumps(doc))
        parts = [text[: text.index("data: ") + 12], text[text.index("data: ") + 12:]] if split else [text]
        for p in parts:
            self.wfile.write(p.encode())
            self.wfile.flush()
            time.sleep(0.3)

    def stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        last = self.headers.get("Last-Event-ID")
        try:
            if last is None:
                self.send_event(*EVENTS[0], split=True)
                self.wfile.write(b": keepalive\n\n")
                self.wfile.flush()
                return  # the end of the body: the page reconnects
            for e in EVENTS:
                if e[0] > int(last):
                    self.send_event(*e)
            for _ in range(600):
                time.sleep(0.5)
                self.wfile.write(b": keepalive\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
