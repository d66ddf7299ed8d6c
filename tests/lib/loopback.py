"""loopback.py - what the test servers on loopback share (tests only).

receiver.py and fake_argocd.py import it: their handlers' base class, the
JSON line they log for a request, and the serving loop (bind 127.0.0.1, print the port on the first
stdout line, stop on SIGTERM/SIGINT) that tests/lib/harness.sh's bg_start
relies on. With LOOPBACK_TLS_PEM=FILE in the environment (a certificate
and its key, PEM) the servers speak https instead. Python 3 standard
library only.
"""
import os
import ssl
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    """The base of the servers' handlers: HTTP/1.1, and quiet on stderr."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass


def record(handler, body):
    """The log record of the request HANDLER is answering, BODY its raw body."""
    return {"path": handler.path, "method": handler.command,
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "body": body.decode("utf-8", errors="replace"), "received_at": time.time()}


def read_body(handler):
    """The request's body, as many bytes as Content-Length says (b"" without)."""
    n = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(n) if n > 0 else b""


def serve(handler_class, port):
    """Serve HANDLER_CLASS on 127.0.0.1:PORT (0: any free port) until SIGTERM
    or SIGINT, after printing the bound port on stdout; returns 0."""
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler_class)
    pem = os.environ.get("LOOPBACK_TLS_PEM")
    if pem:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pem)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0
