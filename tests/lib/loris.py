#!/usr/bin/env python3
# tests/lib/loris.py: the slow-loris client of test_trust.sh and bench/run.sh.
#
# loris.py HOST PORT N INTERVAL DURATION [STOPFILE]: N connections each sending
# one byte of an endless request header every INTERVAL seconds (the first at
# once), for DURATION seconds or until STOPFILE exists (STOPFILE.up is created
# once all are connected); prints JSON: how many connected, and when the
# server closed each one.
import json, os, select, socket, sys, time
host, port, n, interval, dur = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
stop = sys.argv[6] if len(sys.argv) > 6 else None
payload = b"GET /v1/environments HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100000
t0 = time.time()
socks, closed, pos = [], [], []
for i in range(n):
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.setblocking(False)
        socks.append(s); closed.append(None); pos.append(0)
    except OSError:
        pass
if stop:
    open(stop + ".up", "w").close()
nxt = time.time()
while time.time() - t0 < dur and any(c is None for c in closed) and not (stop and os.path.exists(stop)):
    live = [s for i, s in enumerate(socks) if closed[i] is None]
    r, _, _ = select.select(live, [], [], 0.05)
    for s in r:
        i = socks.index(s)
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if not d:
            closed[i] = time.time() - t0
    if time.time() >= nxt:
        nxt += interval
        for i, s in enumerate(socks):
            if closed[i] is None:
                try:
                    s.send(payload[pos[i]:pos[i] + 1]); pos[i] += 1
                except OSError:
                    closed[i] = time.time() - t0
print(json.dumps({"connected": len(socks), "closed": sum(c is not None for c in closed),
                  "last_close": max([c for c in closed if c is not None] or [0]),
                  "bytes_sent": max(pos or [0])}))
