#!/usr/bin/env python3
"""fake_opencost.py - a stand-in for OpenCost's allocation API (tests only).

    python3 fake_opencost.py --log LOG --control CONTROL [--port N]

Listens on 127.0.0.1:PORT (0 picks one) and prints the port on its first
stdout line (loopback.serve).  GET /allocation/compute and /allocation
answer in OpenCost's documented shape:

    {"code": 200, "data": [{"NAMESPACE": {"name", "properties": {"namespace"},
      "window": {"start", "end"}, "start", "end", "minutes", "cpuCost",
      "ramCost", "pvCost", "networkCost", "totalCost", ...}, ...}]}

from CONTROL, a JSON file read at each request: {"costs": {"NAMESPACE":
[totalCost, minutes], ...}} (the figures of the one set answered), or
{"fail": 500} to answer that status with OpenCost's error shape.  Every
request is one JSON line in LOG (loopback.record).  Python 3 standard
library only.
"""
import argparse
import json
import time

import loopback

ARGS = None


def allocation(ns, cost, minutes):
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    return {"name": ns, "properties": {"cluster": "default-cluster", "namespace": ns},
            "window": {"start": start, "end": end}, "start": start, "end": end, "minutes": minutes,
            "cpuCores": 0.1, "cpuCoreHours": 2.4, "cpuCost": cost * 0.8, "gpuCost": 0, "networkCost": 0,
            "pvCost": 0, "ramBytes": 134217728, "ramCost": cost * 0.2, "sharedCost": 0, "externalCost": 0,
            "totalCost": cost, "totalEfficiency": 0.5}


class H(loopback.Handler):
    def do_GET(self):
        rec = loopback.record(self, b"")
        try:
            with open(ARGS.control) as f:
                ctl = json.load(f)
        except (OSError, ValueError):
            ctl = {}
        if not self.path.startswith("/allocation"):
            status, body = 404, {"code": 404, "message": "not found"}
        elif ctl.get("fail"):
            status, body = ctl["fail"], {"code": ctl["fail"], "message": "Error: prometheus is unreachable"}
        else:
            costs = ctl.get("costs") or {}
            status, body = 200, {"code": 200, "data": [{ns: allocation(ns, c[0], c[1]) for ns, c in costs.items()}]}
        rec["status"] = status
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--port", type=int, default=0)
    ARGS = p.parse_args()
    return loopback.serve(H, ARGS.port)


if __name__ == "__main__":
    raise SystemExit(main())
