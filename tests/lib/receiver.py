#!/usr/bin/env python3
"""receiver.py - a real HTTP receiver for previewd's webhooks (tests only).

    python3 receiver.py LOGFILE [--port N] [--delay SECONDS] [--status-file FILE]
                        [--refuse-env NAME [--refuse-status N]]

Listens on 127.0.0.1:PORT (0, the default, picks a free port) and prints the
port it bound on its first stdout line, then flushes, so a test can read it:

    python3 receiver.py "$LOG" >"$T_TMP/port" &  ...  port=$(head -1 "$T_TMP/port")

Every request (any method, any path) is appended to LOGFILE as one JSON line
written and flushed on arrival, before any delay:

    {"path": "/hook", "method": "POST", "headers": {"x-previewd-event": ...},
     "body": "<raw body, UTF-8>", "received_at": 1700000000.123}

Header names are lowercased.  The answer is an empty body with status:
  - the first line of --status-file, read at each request, when that file
    exists and holds a number (a test can switch 200/500 on the fly);
  - else RECEIVER_STATUS from the environment (default 200);
  - but --refuse-env NAME answers --refuse-status (default 422) to every
    notification about environment NAME (a JSON body whose environment.name
    is NAME), whatever the above says: a receiver that refuses one event for
    good and takes the others.
--delay (or RECEIVER_DELAY) makes every answer wait that many seconds:
a slow receiver.  Python 3 standard library only; stops on SIGTERM/SIGINT.
"""
import argparse
import json
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loopback  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", help="file to append one JSON line per request to")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--delay", type=float, default=float(os.environ.get("RECEIVER_DELAY", "0")),
                    help="seconds to wait before answering")
    ap.add_argument("--status-file", help="file whose first line is the status to answer")
    ap.add_argument("--refuse-env", help="answer --refuse-status to notifications about this environment")
    ap.add_argument("--refuse-status", type=int, default=422, help="status of a refused notification")
    args = ap.parse_args()
    default_status = int(os.environ.get("RECEIVER_STATUS", "200"))
    lock = threading.Lock()

    def refused(body):
        if not args.refuse_env:
            return False
        try:
            env = json.loads(body).get("environment") or {}
        except (ValueError, AttributeError):
            return False
        return isinstance(env, dict) and env.get("name") == args.refuse_env

    def status(body):
        if refused(body):
            return args.refuse_status
        if args.status_file:
            try:
                with open(args.status_file) as f:
                    return int(f.readline().strip())
            except (OSError, ValueError):
                pass
        return default_status

    class Handler(loopback.Handler):
        def handle_any(self):
            body = loopback.read_body(self)
            rec = loopback.record(self, body)
            with lock, open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
            if args.delay > 0:
                time.sleep(args.delay)
            self.send_response(status(body))
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = handle_any

    return loopback.serve(Handler, args.port)


if __name__ == "__main__":
    sys.exit(main())
