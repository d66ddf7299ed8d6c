#!/usr/bin/env python3
"""sse.py - a Server-Sent Events client and load for test_stream.sh.

  sse.py read URL OUT [--token T] [--last-event-id N] [--max-seconds S]
      read the stream; each event as a JSON line {"id", "event", "name",
      "status", "owner"} appended to OUT (flushed at once), each comment as
      {"comment": text}; on the end of the stream a line {"end": reason}.
  sse.py slow URL OUT [--hold-file F] [--max-seconds S]
      open the stream with a tiny receive buffer and read nothing until F
      exists; then read everything there is and write OUT as read does,
      ending with {"end": "eof"} or {"end": "reset"} when previewd closed
      the connection (or {"end": "timeout"}).
  sse.py hold URL N OUT [--token T]
      open N streams at once, write the HTTP status of each to OUT (one a
      line) and keep them open until killed.
  sse.py patch URL NAME N SIZE
      N PATCHes of environment NAME on one keep-alive connection, each
      with a value of SIZE bytes (Prefer: respond-async); prints how many
      were answered 202 or 200.
"""
import argparse
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse


def split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port or 80, (u.path or "/") + ("?" + u.query if u.query else "")


def parse_events(lines, emit):
    """lines: an iterator of text lines without newline; emit(dict)."""
    ev = {}
    for line in lines:
        if line == "":
            if "data" in ev or "id" in ev:
                try:
                    data = json.loads(ev.get("data", "null"))
                except ValueError:
                    data = {"unparsed": ev.get("data")}
                data = data or {}
                emit({"id": int(ev["id"]) if "id" in ev else None, "event": ev.get("event"),
                      "name": data.get("name"), "status": data.get("status"), "owner": data.get("owner"),
                      "values_bytes": len(json.dumps(data.get("values"))) if "values" in data else 0})
            ev = {}
            continue
        if line.startswith(":"):
            emit({"comment": line[1:].strip()})
            continue
        k, _, v = line.partition(":")
        if v.startswith(" "):
            v = v[1:]
        if k == "data" and "data" in ev:
            ev["data"] += "\n" + v
        else:
            ev[k] = v


def writer(path):
    f = open(path, "a", encoding="utf-8")

    def emit(obj):
        f.write(json.dumps(obj) + "\n")
        f.flush()
    return emit


def cmd_read(a):
    emit = writer(a.out)
    host, port, path = split(a.url)
    c = http.client.HTTPConnection(host, port, timeout=a.max_seconds)
    h = {"Accept": "text/event-stream"}
    if a.token:
        h["Authorization"] = "Bearer " + a.token
    if a.last_event_id is not None:
        h["Last-Event-ID"] = a.last_event_id
    c.request("GET", path, headers=h)
    r = c.getresponse()
    emit({"status": r.status, "content_type": r.getheader("Content-Type")})
    if r.status != 200:
        emit({"end": "status", "body": r.read().decode("utf-8", "replace")})
        return

    def lines():
        while True:
            raw = r.readline()
            if not raw:
                return
            yield raw.decode("utf-8").rstrip("\r\n")
    try:
        parse_events(lines(), emit)
        emit({"end": "eof"})
    except socket.timeout:
        emit({"end": "timeout"})
    except (ConnectionError, http.client.HTTPException) as e:
        emit({"end": "reset", "error": str(e)})


def cmd_slow(a):
    host, port, path = split(a.url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect((host, port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n" % (path, host, port)).encode())
    end = time.time() + a.max_seconds
    while not os.path.exists(a.hold_file) and time.time() < end:
        time.sleep(0.1)
    data = b""
    how = "timeout"
    s.settimeout(max(1.0, end - time.time()))
    try:
        while True:
            b = s.recv(65536)
            if not b:
                how = "eof"
                break
            data += b
    except socket.timeout:
        how = "timeout"
    except ConnectionError:
        how = "reset"
    emit = writer(a.out)
    head, _, body = data.partition(b"\r\n\r\n")
    emit({"status_line": head.split(b"\r\n")[0].decode("latin-1"), "bytes": len(data)})
    # undo the chunked framing as far as it got
    text, rest = b"", body
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        try:
            n = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if n == 0:
            break
        text += rest[:n]
        rest = rest[n + 2:]
    parse_events(iter(text.decode("utf-8", "replace").split("\n")[:-1]), emit)
    emit({"end": how})


def cmd_hold(a):
    host, port, path = split(a.url)
    socks = []
    with open(a.out, "w", encoding="utf-8") as f:
        for _ in range(a.n):
            s = socket.create_connection((host, port))
            req = "GET %s HTTP/1.1\r\nHost: %s:%d\r\n" % (path, host, port)
            if a.token:
                req += "Authorization: Bearer %s\r\n" % a.token
            s.sendall((req + "\r\n").encode())
            s.settimeout(10)
            head = b""
            while b"\r\n" not in head:
                b = s.recv(1)
                if not b:
                    break
                head += b
            f.write(head.split(b" ")[1].decode() + "\n" if head.count(b" ") else "000\n")
            f.flush()
            socks.append(s)
    while True:
        time.sleep(1)


def cmd_patch(a):
    host, port, _ = split(a.url)
    c = http.client.HTTPConnection(host, port, timeout=30)
    ok = 0
    for i in range(a.n):
        body = json.dumps({"values": {"blob": ("%06d" % i) * (a.size // 6)}})
        c.request("PATCH", "/v1/environments/" + a.name, body=body,
                  headers={"Content-Type": "application/json", "Prefer": "respond-async"})
        r = c.getresponse()
        r.read()
        ok += r.status in (200, 202)
    print(ok)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("read")
    r.add_argument("url")
    r.add_argument("out")
    r.add_argument("--token")
    r.add_argument("--last-event-id")
    r.add_argument("--max-seconds", type=float, default=120)
    s = sub.add_parser("slow")
    s.add_argument("url")
    s.add_argument("out")
    s.add_argument("--hold-file", required=True)
    s.add_argument("--max-seconds", type=float, default=180)
    h = sub.add_parser("hold")
    h.add_argument("url")
    h.add_argument("n", type=int)
    h.add_argument("out")
    h.add_argument("--token")
    t = sub.add_parser("patch")
    t.add_argument("url")
    t.add_argument("name")
    t.add_argument("n", type=int)
    t.add_argument("size", type=int)
    a = p.parse_args()
    {"read": cmd_read, "slow": cmd_slow, "hold": cmd_hold, "patch": cmd_patch}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
