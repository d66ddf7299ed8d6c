#!/usr/bin/env python3
"""Conformance test: drive a running previewd with the examples of its OpenAPI spec.

    check_openapi.py BASE_URL SPEC [--run TOKEN] [-v]

For every operation of SPEC (and every path-level example, e.g. 405s) the
`x-previewd-examples` list (or a single `x-previewd-example`) gives concrete
requests and the expected status; they run in ascending `order` (see the
description in api/openapi.yaml for the fields). For each answer it checks:

  - the status code is the expected one and is documented for the operation;
  - the Content-Type's media type is one the documented response lists
    (application/json, application/problem+json, text/plain);
  - a JSON body parses and matches the documented schema, roughly: $ref,
    type (string/integer/number/boolean/object/array/null), required,
    properties, additionalProperties: false, items, enum, const, pattern,
    min/maxLength, minimum/maximum, allOf/anyOf/oneOf (oneOf as anyOf);
  - documented headers marked required (Location, Allow) are present;
  - the example's expect / expect_match / expect_absent JSON Pointers.

An operation without examples fails (coverage), and so does a spec without
any. Prints one line per check, then "# N examples, N answered" (examples
run, and those previewd answered at all) and a final line "N passed, N
failed"; exits 1 on any failure, 2 on bad usage.
Needs only python3, PyYAML and the standard library.
"""

import json
import random
import re
import string
import sys
import urllib.error
import urllib.parse
import urllib.request

import yaml

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TIMEOUT = 30


class Checker:
    def __init__(self, base, spec, run, verbose=False):
        self.base = base.rstrip("/")
        self.spec = spec
        self.vars = {"run": run}
        self.verbose = verbose
        self.passed = 0
        self.failed = 0
        self.examples = 0
        self.answered = 0

    # ------------------------------------------------------------ reporting

    def ok(self, label, what):
        self.passed += 1
        print("ok   %s: %s" % (label, what))

    def fail(self, label, what, detail=None):
        self.failed += 1
        line = "FAIL %s: %s" % (label, what)
        if detail:
            line += " -- " + detail
        print(line)

    def check(self, cond, label, what, detail=None):
        if cond:
            self.ok(label, what)
        else:
            self.fail(label, what, detail)
        return cond

    # ------------------------------------------------------------ spec helpers

    def resolve(self, node, depth=0):
        """Follow local $refs ("#/a/b") until a node without $ref."""
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/") or depth > 64:
                raise ValueError("unsupported $ref %r" % ref)
            target = self.spec
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target[part]
            node = target
            depth += 1
        return node

    def subst(self, value, extra=None):
        """Replace {var} in every string of value (recursively)."""
        table = dict(self.vars)
        if extra:
            table.update(extra)

        def one(s):
            return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}",
                          lambda m: str(table[m.group(1)]) if m.group(1) in table else m.group(0), s)

        if isinstance(value, str):
            return one(value)
        if isinstance(value, list):
            return [self.subst(v, extra) for v in value]
        if isinstance(value, dict):
            return {self.subst(k, extra): self.subst(v, extra) for k, v in value.items()}
        return value

    def collect(self):
        """[(order, seq, path, method, operation or None, example)], plus coverage checks."""
        items = []
        seq = 0
        paths = self.spec.get("paths") or {}
        if not paths:
            self.fail("spec", "no paths")
        for path, item in paths.items():
            item = self.resolve(item)
            for ex in examples_of(item):
                method = ((ex.get("request") or {}).get("method") or "").lower()
                if not method:
                    self.fail("spec %s" % path, "path-level example without request.method")
                    continue
                op = item.get(method) if method in item else None
                items.append((ex.get("order", 1000), seq, path, method, op, ex))
                seq += 1
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                exs = examples_of(op)
                label = "coverage %s %s" % (method.upper(), path)
                self.check(bool(exs), label, "has x-previewd-examples",
                           "no example: this operation is not exercised")
                for ex in exs:
                    items.append((ex.get("order", 1000), seq, path, method, op, ex))
                    seq += 1
        items.sort(key=lambda t: (t[0], t[1]))
        return items

    # ------------------------------------------------------------ HTTP

    def send(self, method, path, ex):
        req = ex.get("request") or {}
        params = self.subst(req.get("params") or {})
        url_path = self.subst(path, {k: urllib.parse.quote(str(v), safe="") for k, v in params.items()})
        url_path = self.subst(url_path)
        query = self.subst(req.get("query") or {})
        url = self.base + url_path
        if query:
            url += "?" + urllib.parse.urlencode({k: qstr(v) for k, v in query.items()})
        headers = {"Accept": "application/json, application/problem+json"}
        headers.update({k: str(v) for k, v in self.subst(req.get("headers") or {}).items()})
        data = None
        if "body" in req:
            data = json.dumps(self.subst(req["body"])).encode()
        elif "body_raw" in req:
            data = self.subst(req["body_raw"]).encode()
        elif "body_size" in req:
            size = int(req["body_size"])
            head = json.dumps({"owner": self.subst("oa{run}"), "values": {"pad": ""}})
            pad = max(0, size - len(head))
            data = (head[:-3] + "x" * pad + head[-3:]).encode()
        if data is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        r = urllib.request.Request(url, data=data, method=method.upper(), headers=headers)
        try:
            with urllib.request.urlopen(r, timeout=TIMEOUT) as resp:
                return resp.status, resp.headers, resp.read(), url, None
        except urllib.error.HTTPError as e:
            try:
                body = e.read()
            except Exception:  # noqa: BLE001 - a reset after the status line
                body = b""
            return e.code, e.headers, body, url, None
        except Exception as e:  # noqa: BLE001 - connection refused, reset, timeout
            return None, None, b"", url, "%s: %s" % (type(e).__name__, e)

    # ------------------------------------------------------------ one example

    def run_example(self, order, path, method, op, ex):
        label = "[%s] %s %s" % (order, method.upper(), path)
        want = ex.get("status")
        want = [int(w) for w in (want if isinstance(want, list) else [want])] if want is not None else []
        status, headers, raw, url, err = self.send(method, path, ex)
        if self.verbose:
            print("     %s %s -> %s %s" % (method.upper(), url, status, raw[:300].decode("utf-8", "replace")))
        if err:
            self.fail(label, "request", "%s (%s)" % (err, url))
            return
        self.answered += 1
        body_txt = raw.decode("utf-8", "replace")
        status_ok = self.check(status in want, label, "status %s" % status,
                               "expected %s, got %s: %s" % ("/".join(map(str, want)) or "?", status, short(body_txt)))

        # the documented response for the status we got
        if "response" in ex:
            documented = self.resolve(ex["response"])
        else:
            responses = (op or {}).get("responses") or {}
            documented = responses.get(str(status)) or responses.get("%dXX" % (status // 100))
            documented = self.resolve(documented) if documented is not None else None
        if documented is None:
            self.fail(label, "status %s documented" % status, "the spec lists no such response")
            return

        # headers
        for hname, hdef in (documented.get("headers") or {}).items():
            hdef = self.resolve(hdef)
            if hdef.get("required"):
                self.check(headers.get(hname) is not None, label, "header %s" % hname,
                           "missing (headers: %s)" % ", ".join(headers.keys()))

        # content type
        content = documented.get("content") or {}
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not content:
            return
        if not self.check(ctype in [c.lower() for c in content], label, "content-type %s" % (ctype or "(none)"),
                          "documented: %s" % ", ".join(content)):
            return
        media = content[next(c for c in content if c.lower() == ctype)] or {}
        if not (ctype == "application/json" or ctype.endswith("+json")):
            return
        try:
            body = json.loads(body_txt)
        except ValueError as e:
            self.fail(label, "JSON body", "%s: %s" % (e, short(body_txt)))
            return
        schema = media.get("schema")
        if schema is not None:
            errors = []
            self.validate(schema, body, "", errors)
            self.check(not errors, label, "body matches schema", "; ".join(errors[:5]))

        if not status_ok:
            return
        for ptr, expected in (ex.get("expect") or {}).items():
            expected = self.subst(expected)
            ptr = self.subst(ptr)
            want_len = ptr.endswith("#length")
            found, got = pointer(body, ptr[: -len("#length")] if want_len else ptr)
            if want_len and found:
                got = len(got) if isinstance(got, (list, dict, str)) else None
            self.check(found and same(got, expected), label, "%s == %s" % (ptr, json.dumps(expected)),
                       "got %s" % (json.dumps(got) if found else "nothing"))
        for ptr, regex in (ex.get("expect_match") or {}).items():
            ptr = self.subst(ptr)
            regex = self.subst(regex)
            found, got = pointer(body, ptr)
            self.check(found and isinstance(got, str) and re.search(regex, got) is not None, label,
                       "%s =~ /%s/" % (ptr, regex), "got %s" % (json.dumps(got) if found else "nothing"))
        for ptr in ex.get("expect_absent") or []:
            ptr = self.subst(ptr)
            found, got = pointer(body, ptr)
            self.check(not found, label, "%s absent" % ptr, "got %s" % json.dumps(got))
        for var, ptr in (ex.get("save") or {}).items():
            found, got = pointer(body, self.subst(ptr))
            if found and got is not None:
                self.vars[var] = got
            else:
                self.fail(label, "save %s from %s" % (var, ptr), "nothing there")

    # ------------------------------------------------------------ schema check

    def validate(self, schema, value, where, errors):
        try:
            schema = self.resolve(schema)
        except (ValueError, KeyError) as e:
            errors.append("%s: bad schema ref: %s" % (where or "/", e))
            return
        if schema is True or schema is None or schema == {}:
            return
        if schema is False:
            errors.append("%s: not allowed" % (where or "/"))
            return
        at = where or "/"
        for sub in schema.get("allOf") or []:
            self.validate(sub, value, where, errors)
        for key in ("anyOf", "oneOf"):
            alts = schema.get(key)
            if alts:
                results = []
                for sub in alts:
                    errs = []
                    self.validate(sub, value, where, errs)
                    results.append(errs)
                if all(results):
                    errors.append("%s: matches none of %s (%s)" % (at, key, results[0][0] if results[0] else ""))
        if "const" in schema and not same(value, schema["const"]):
            errors.append("%s: %s is not %s" % (at, json.dumps(value), json.dumps(schema["const"])))
        if "enum" in schema and not any(same(value, e) for e in schema["enum"]):
            errors.append("%s: %s not in %s" % (at, json.dumps(value), schema["enum"]))
        types = schema.get("type")
        if types is not None:
            types = types if isinstance(types, list) else [types]
            if not any(is_type(value, t) for t in types):
                errors.append("%s: %s is not %s" % (at, short(json.dumps(value), 60), "|".join(types)))
                return
        if isinstance(value, str):
            if "pattern" in schema and re.search(schema["pattern"], value) is None:
                errors.append("%s: %r does not match %s" % (at, value, schema["pattern"]))
            if "minLength" in schema and len(value) < schema["minLength"]:
                errors.append("%s: shorter than %d" % (at, schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                errors.append("%s: longer than %d" % (at, schema["maxLength"]))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                errors.append("%s: %s < %s" % (at, value, schema["minimum"]))
            if "maximum" in schema and value > schema["maximum"]:
                errors.append("%s: %s > %s" % (at, value, schema["maximum"]))
        if isinstance(value, dict):
            for name in schema.get("required") or []:
                if name not in value:
                    errors.append("%s: missing required %r" % (at, name))
            props = schema.get("properties") or {}
            for name, sub in props.items():
                if name in value:
                    self.validate(sub, value[name], where + "/" + name, errors)
            if schema.get("additionalProperties") is False:
                extra = sorted(set(value) - set(props))
                if extra:
                    errors.append("%s: unexpected %s" % (at, ", ".join(extra)))
        if isinstance(value, list) and "items" in schema:
            for i, v in enumerate(value):
                self.validate(schema["items"], v, "%s/%d" % (where, i), errors)

    # ------------------------------------------------------------ main

    def run(self):
        items = self.collect()
        self.examples = len(items)
        if not items:
            self.fail("spec", "no example to run")
        for order, _seq, path, method, op, ex in items:
            try:
                self.run_example(order, path, method, op, ex)
            except Exception as e:  # noqa: BLE001 - report and go on
                self.fail("[%s] %s %s" % (order, method.upper(), path), "example", "%s: %s" % (type(e).__name__, e))
        # the caller compares this with its own count of the spec's examples
        print("# %d examples, %d answered" % (self.examples, self.answered))
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def examples_of(node):
    exs = node.get("x-previewd-examples")
    if exs is None and "x-previewd-example" in node:
        exs = node["x-previewd-example"]
    if exs is None:
        return []
    return exs if isinstance(exs, list) else [exs]


def qstr(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def is_type(v, t):
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "string":
        return isinstance(v, str)
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    return False


def same(a, b):
    """JSON equality (True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def pointer(doc, ptr):
    """RFC 6901: (found, value)."""
    if ptr == "":
        return True, doc
    if not ptr.startswith("/"):
        return False, None
    cur = doc
    for part in ptr[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False, None
    return True, cur


def short(s, n=200):
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[:n] + "..."


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("-")]
    verbose = "-v" in argv[1:]
    run = None
    if "--run" in argv[1:]:
        i = argv.index("--run")
        if i + 1 >= len(argv):
            print("usage: check_openapi.py BASE_URL SPEC [--run TOKEN] [-v]", file=sys.stderr)
            return 2
        run = argv[i + 1]
        args.remove(run)
    if len(args) != 2:
        print("usage: check_openapi.py BASE_URL SPEC [--run TOKEN] [-v]", file=sys.stderr)
        return 2
    base, spec_path = args
    try:
        with open(spec_path, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        print("cannot read %s: %s" % (spec_path, e), file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3."):
        print("%s is not an OpenAPI 3 document" % spec_path, file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    if run is None:
        rnd = random.SystemRandom()
        run = rnd.choice(string.ascii_lowercase) + "".join(
            rnd.choice(string.ascii_lowercase + string.digits) for _ in range(5))
    print("# %s against %s (run %s)" % (spec_path, base, run))
    return Checker(base, spec, run, verbose).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
