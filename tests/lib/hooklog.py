#!/usr/bin/env python3
"""hooklog.py - a receiver.py or fake_argocd.py log, signatures checked (tests only).

    python3 hooklog.py github SECRET LOG     # push webhooks sent to Argo CD
    python3 hooklog.py previewd SECRET LOG   # previewd's own notifications

Prints the log's requests as one JSON array, each with its raw body (raw),
the body parsed (body, null if not JSON), path, ctype, headers as logged
(lowercased), received_at, and three signature checks with SECRET:
has_sig (the signature header is there), sig_ok (it verifies over the body)
and tamper_ok (it verifies over the body with one character changed: must
be false). The schemes:

  github    X-Hub-Signature-256: "sha256=" + HMAC-SHA256(SECRET, body); POSTs
            only; also event (X-GitHub-Event), fake_sig_ok and refresh (the
            fake's own verdicts), headers
  previewd  X-Previewd-Signature: "v1=" + HMAC-SHA256(SECRET, "v1:<ts>:<body>")
            with ts from X-Previewd-Timestamp; also id (X-Previewd-Delivery),
            event (X-Previewd-Event), ts

Python 3 standard library only.
"""
import hashlib
import hmac
import json
import sys


def github(r, secret):
    h, body = r["headers"], r["body"]
    sig = h.get("x-hub-signature-256", "")

    def good(b):
        mac = "sha256=" + hmac.new(secret, b.encode(), hashlib.sha256).hexdigest()
        return bool(sig) and hmac.compare_digest(mac, sig)

    return {"event": h.get("x-github-event"), "has_sig": "x-hub-signature-256" in h, "sig_ok": good(body),
            "tamper_ok": good(body.replace("main", "mein", 1)), "fake_sig_ok": r.get("sig_ok"),
            "refresh": r.get("refresh"), "headers": h}


def previewd(r, secret):
    h, body = r["headers"], r["body"]
    ts, sig = h.get("x-previewd-timestamp", ""), h.get("x-previewd-signature", "")

    def good(b):
        mac = hmac.new(secret, ("v1:%s:%s" % (ts, b)).encode(), hashlib.sha256).hexdigest()
        return bool(sig) and hmac.compare_digest("v1=" + mac, sig)

    return {"id": h.get("x-previewd-delivery"), "event": h.get("x-previewd-event"), "ts": ts,
            "has_sig": bool(sig), "sig_ok": good(body), "tamper_ok": good(body.replace("e", "E", 1))}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("github", "previewd"):
        print("usage: hooklog.py github|previewd SECRET LOG", file=sys.stderr)
        return 2
    scheme, secret, log = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
    out = []
    for line in open(log, encoding="utf-8"):
        r = json.loads(line)
        if scheme == "github" and r["method"] != "POST":
            continue
        try:
            j = json.loads(r["body"])
        except ValueError:
            j = None
        rec = {"path": r["path"], "ctype": r["headers"].get("content-type"), "raw": r["body"], "body": j,
               "received_at": r["received_at"]}
        rec.update(github(r, secret) if scheme == "github" else previewd(r, secret))
        out.append(rec)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
