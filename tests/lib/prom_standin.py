#!/usr/bin/env python3
"""prom_standin.py - a loopback stand-in for Prometheus's query API (tests only).

    python3 prom_standin.py LOGFILE STATEFILE

Serves GET /api/v1/query?query=... on 127.0.0.1 (a free port, printed on the
first stdout line: tests/lib/harness.sh's bg_start reads it).  Every request
is appended to LOGFILE as one JSON line, {"path", "query", "received_at"},
the query decoded, so a test checks what previewd sent.

STATEFILE, read at each request, says how to answer (JSON):
  {"mode": "ok", "rates": {"ns1": 0.5, "ns2": 0}}  the real success shape, an
      instant vector with one series per namespace listed (label
      exported_namespace), value [<unix float>, "<string number>"]
  {"mode": "500"}      status 500
  {"mode": "error"}    200 with {"status":"error","errorType":"bad_data",...}
  {"mode": "badjson"}  200 with a body that is not JSON
  {"mode": "matrix"}   a success whose resultType is not a vector
A missing or unreadable STATEFILE is {"mode": "ok", "rates": {}}.
Python 3 standard library only; stops on SIGTERM/SIGINT.
"""
import json
import os
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loopback  # noqa: E402


def main():
    log, state_file = sys.argv[1], sys.argv[2]
    lock = threading.Lock()

    def state():
        try:
            with open(state_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"mode": "ok", "rates": {}}

    class Handler(loopback.Handler):
        def answer(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query).get("query", [""])[0]
            with lock, open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": url.path, "query": query, "received_at": time.time()}) + "\n")
            s = state()
            mode = s.get("mode", "ok")
            if url.path != "/api/v1/query":
                return self.answer(404, '{"status":"error","error":"not found"}')
            if mode == "500":
                return self.answer(500, "internal error")
            if mode == "error":
                return self.answer(200, json.dumps({"status": "error", "errorType": "bad_data",
                                                    "error": "parse error at char 1"}))
            if mode == "badjson":
                return self.answer(200, '{"status":"success","data":{"resultType":"vector","result":[')
            if mode == "matrix":
                return self.answer(200, json.dumps({"status": "success",
                                                    "data": {"resultType": "matrix", "result": []}}))
            now = time.time()
            result = [{"metric": {"exported_namespace": ns}, "value": [now, str(v)]}
                      for ns, v in s.get("rates", {}).items()]
            return self.answer(200, json.dumps({"status": "success",
                                                "data": {"resultType": "vector", "result": result}}))

    return loopback.serve(Handler, 0)


if __name__ == "__main__":
    sys.exit(main())
