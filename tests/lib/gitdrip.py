#!/usr/bin/env python3
# tests/lib/gitdrip.py: a Git smart-HTTP server that turns slow on demand,
# for test_git_trouble.sh.
#
# gitdrip.py UPSTREAM_PORT DRIPFILE LOG: listens on a free loopback port and
# prints it on its first line (tests/lib/harness.sh's bg_start). Each HTTP
# request is forwarded to 127.0.0.1:UPSTREAM_PORT (the real server of
# gitserver.sh) and its answer sent back, unless DRIPFILE exists and names
# it: then the answer is one byte a second of an HTTP response whose header
# never ends. DRIPFILE holding "receive-pack" drips only pushes
# (git-receive-pack requests); anything else drips every request. LOG gets
# one line per request: "proxy PATH" or "drip PATH", and "drip-closed
# SECONDS BYTES" when the client hangs up on a dripping answer.
import http.client, os, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

upstream, dripfile, logpath = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def log(line):
    with lock, open(logpath, "a") as f:
        f.write(line + "\n")


def drips(path):
    try:
        with open(dripfile) as f:
            which = f.read().strip()
    except OSError:
        return False
    return which != "receive-pack" or "git-receive-pack" in path


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def drip(self):
        log("drip " + self.path)
        t0, sent = time.time(), 0
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-advertisement\r\nX-Slow: " + b"a" * 100000
        c = self.connection
        c.settimeout(0.2)
        try:
            while sent < len(answer):
                c.sendall(answer[sent:sent + 1])
                sent += 1
                end = time.time() + 1
                while time.time() < end:  # a peer that hung up shows as a readable EOF
                    try:
                        if c.recv(65536) == b"":
                            raise OSError("closed")
                    except socket.timeout:
                        pass
        except OSError:
            pass
        log("drip-closed %.1f %d" % (time.time() - t0, sent))
        self.close_connection = True

    def forward(self):
        data = self.body()
        if drips(self.path):
            return self.drip()
        log("proxy " + self.path)
        up = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "content-length"}
        up.request(self.command, self.path, body=data, headers=headers)
        r = up.getresponse()
        payload = r.read()
        self.send_response_only(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        up.close()

    do_GET = forward
    do_POST = forward


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
