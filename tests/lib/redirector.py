#!/usr/bin/env python3
"""redirector.py - a Git server that sends its clients elsewhere (tests only).

    python3 redirector.py LOG trap
    python3 redirector.py LOG front --upstream URL --to URL [--redirect all|push]

Both print their port (on 127.0.0.1) on the first stdout line, like
receiver.py, and append one JSON line per request to LOG, written on
arrival:

    {"server": "trap"|"front", "method": "GET", "path": "/git/x.git/info/refs?...",
     "authorization": "Basic ..." or null, "received_at": 1700000000.1}

trap: the other server a redirect points at.  Every request is answered 401
with a Basic challenge, the answer that makes a client send whatever
credentials it holds, and the Authorization it came with is logged.

front: the server previewd is configured with.  Requests are passed to
--upstream (a real smart-HTTP Git server: tests/lib/gitserver.sh) and its
answers passed back, except the redirected ones, answered 302 with Location
--to plus the request's path: every request with --redirect all, only the
push's (git-receive-pack) with --redirect push.

Python 3 standard library only; stops on SIGTERM/SIGINT.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loopback  # noqa: E402

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}


def read_request_body(h):
    """The body, whether sent with Content-Length or chunked (libgit2 sends
    a push's pack chunked)."""
    if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
        out = b""
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += h.rfile.read(size)
            h.rfile.readline()
    return loopback.read_body(h)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("role", choices=["trap", "front"])
    ap.add_argument("--upstream", help="front: the real Git server, http://host:port")
    ap.add_argument("--to", help="front: where redirects point, http://host:port")
    ap.add_argument("--redirect", choices=["all", "push"], default="all")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    lock = threading.Lock()

    def log(h):
        rec = {"server": args.role, "method": h.command, "path": h.path,
               "authorization": h.headers.get("Authorization"), "received_at": time.time()}
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()

    class Handler(loopback.Handler):
        def answer(self, status, headers, body=b""):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            log(self)
            body = read_request_body(self)
            if args.role == "trap":
                self.answer(401, [("WWW-Authenticate", 'Basic realm="trap"')], b"credentials, please\n")
                return
            if args.redirect == "all" or "git-receive-pack" in self.path:
                self.answer(302, [("Location", args.to.rstrip("/") + self.path)])
                return
            up = urllib.parse.urlsplit(args.upstream)
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            headers["Host"] = up.netloc
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            self.answer(r.status, [(k, v) for k, v in r.getheaders() if k.lower() not in HOP_BY_HOP], data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    return loopback.serve(Handler, args.port)


if __name__ == "__main__":
    sys.exit(main())
