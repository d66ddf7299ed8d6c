#!/usr/bin/env python3
"""Drive headless Chromium over the DevTools protocol, for the page's tests.

    cdp.py serve PROFILE_DIR [CHROMIUM]

starts `chromium --headless=new --remote-debugging-port=0` with a throw-away
profile, reads the port from PROFILE_DIR/DevToolsActivePort, attaches to its
page target and then answers one JSON request per line on stdin with one
JSON line on stdout (a test runs it as a co-process):

    {"cmd": "navigate", "url": U}          -> {"ok": true}   (after "load")
    {"cmd": "eval", "expr": JS}            -> {"ok": true, "value": V}
        JS may return a promise; V is its value (returnByValue), or
        {"ok": false, "error": TEXT} when it threw
    {"cmd": "wait", "expr": JS, "timeout": S}
                                           -> {"ok": true, "value": V} once JS
        is truthy, {"ok": false, "error": "timeout", "value": last} if not
    {"cmd": "screenshot", "path": P}       -> {"ok": true, "bytes": N}  (PNG,
        the whole page)
    {"cmd": "console"}                     -> {"ok": true, "value": [lines]}
        what the page logged, and the exceptions and CSP reports it raised
    {"cmd": "quit"}

Before any page script runs, every document gets window.__alerts and
window.__confirms (alert() and confirm() record their message; confirm()
answers window.__confirmAnswer, true by default) and window.__csp (the
securitypolicyviolation events seen), so a test can show that nothing ran.

Needs python3-websocket (Debian); with a python3 of its own (pyenv, venv)
the Debian dist-packages folder is tried too.
"""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request

try:
    import websocket
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import websocket

HOOKS = r"""
window.__alerts = []; window.__confirms = []; window.__csp = []; window.__confirmAnswer = true;
window.alert = function (m) { window.__alerts.push(String(m)); };
window.confirm = function (m) { window.__confirms.push(String(m)); return window.__confirmAnswer; };
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || ""));
});
"""


class Browser:
    def __init__(self, profile, chromium="chromium"):
        self.profile = profile
        self.log = open(os.path.join(profile, "chromium.log"), "ab")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-quic", "--remote-debugging-port=0", "--remote-allow-origins=*",
             "--window-size=1200,900", "--user-data-dir=" + profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.next_id = 0
        self.events = []
        self.console = []
        self.ws = websocket.create_connection(self._page_ws(), timeout=60, suppress_origin=True)
        for domain in ("Page.enable", "Runtime.enable"):
            self.call(domain)
        self.call("Page.addScriptToEvaluateOnNewDocument", source=HOOKS)

    def _page_ws(self):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        end = time.time() + 60
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("chromium exited with %s" % self.proc.returncode)
            try:
                with open(port_file) as f:
                    port = int(f.readline().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        else:
            raise RuntimeError("no DevToolsActivePort after 60 s")
        # the HTTP endpoint lists the targets; attach to the page
        for _ in range(100):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as r:
                    targets = json.load(r)
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("no page target")

    def _note(self, msg):
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(p.get("type", "log") + ": " +
                                " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.console.append("exception: " + str(d.get("exception", {}).get("description", d.get("text"))))
        self.events.append(msg)

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"].get("message")))
                return msg.get("result", {})
            self._note(msg)

    def wait_event(self, method, timeout=30):
        for i, msg in enumerate(self.events):
            if msg.get("method") == method:
                del self.events[: i + 1]
                return msg
        self.ws.settimeout(timeout)
        try:
            while True:
                msg = json.loads(self.ws.recv())
                if msg.get("method") == method:
                    return msg
                self._note(msg)
        finally:
            self.ws.settimeout(60)

    def navigate(self, url):
        self.events = [m for m in self.events if m.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(str(d.get("exception", {}).get("description", d.get("text"))))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=30):
        end = time.time() + timeout
        value = None
        while time.time() < end:
            value = self.eval(expr)
            if value:
                return True, value
            time.sleep(0.1)
        return False, value

    def screenshot(self, path):
        # the whole page, not only the window's part of it
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png", clip=clip,
                                          captureBeyondViewport=True)["data"])
        with open(path, "wb") as f:
            f.write(data)
        return len(data)

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def serve(profile, chromium):
    b = Browser(profile, chromium)
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            cmd = req.get("cmd")
            if cmd == "quit":
                break
            if cmd == "navigate":
                b.navigate(req["url"])
                ans = {"ok": True}
            elif cmd == "eval":
                ans = {"ok": True, "value": b.eval(req["expr"])}
            elif cmd == "wait":
                ok, value = b.wait(req["expr"], float(req.get("timeout", 30)))
                ans = {"ok": ok, "value": value} if ok else {"ok": False, "error": "timeout", "value": value}
            elif cmd == "screenshot":
                ans = {"ok": True, "bytes": b.screenshot(req["path"])}
            elif cmd == "console":
                ans = {"ok": True, "value": b.console}
            else:
                ans = {"ok": False, "error": "unknown command %r" % cmd}
        except Exception as e:  # the test reads the failure as an answer
            ans = {"ok": False, "error": str(e)}
        out.write(json.dumps(ans) + "\n")
        out.flush()
    b.close()


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "serve":
        sys.stderr.write("usage: cdp.py serve PROFILE_DIR [CHROMIUM]\n")
        sys.exit(2)
    serve(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "chromium")
