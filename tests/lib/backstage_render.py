#!/usr/bin/env python3
"""backstage_render.py - the request deploy/backstage/template.yaml would send (tests only).

    backstage_render.py TEMPLATE APP_CONFIG SPEC [name=value...]

Fills the form as Backstage does (each parameter's default, then the
name=value pairs given), renders the http:backstage:request step's input by
replacing every ${{ parameters.NAME }}, maps its path through the proxy
endpoint of APP_CONFIG to the path previewd receives, and validates the body
against SPEC's CreateRequest and the route against SPEC's paths, with the
validator of tests/integration/check_openapi.py. Prints one JSON line:

    {"method": "POST", "path": "/v1/environments", "body": {...},
     "headers": {...}, "errors": [...]}

and exits 1 when errors is not empty, 2 on bad usage.
"""
import json
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from check_openapi import Checker  # noqa: E402

EXPR = re.compile(r"\$\{\{\s*parameters\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(node, params, errors):
    if isinstance(node, str):
        whole = EXPR.fullmatch(node.strip())
        if whole:  # a lone expression keeps the parameter's type, as nunjucks' output does
            if whole.group(1) not in params:
                errors.append("no parameter %s" % whole.group(1))
            return params.get(whole.group(1))
        return EXPR.sub(lambda m: str(params.get(m.group(1), "")), node)
    if isinstance(node, list):
        return [render(v, params, errors) for v in node]
    if isinstance(node, dict):
        return {k: render(v, params, errors) for k, v in node.items()}
    return node


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    template = yaml.safe_load(open(argv[1], encoding="utf-8"))
    app_config = yaml.safe_load(open(argv[2], encoding="utf-8"))
    spec = yaml.safe_load(open(argv[3], encoding="utf-8"))
    errors = []
    if template.get("apiVersion") != "scaffolder.backstage.io/v1beta3" or template.get("kind") != "Template":
        errors.append("not a scaffolder.backstage.io/v1beta3 Template")
    params, props = {}, {}
    for page in template["spec"]["parameters"]:
        for name, p in (page.get("properties") or {}).items():
            props[name] = p
            if "default" in p:
                params[name] = p["default"]
    for kv in argv[4:]:
        k, _, v = kv.partition("=")
        params[k] = v
    # the form's own checks, as Backstage's form would make them
    for page in template["spec"]["parameters"]:
        for name in page.get("required") or []:
            if name not in params:
                errors.append("form: %s is required" % name)
    for name, v in params.items():
        p = props.get(name)
        if p is None:
            errors.append("form: no parameter %s" % name)
        elif "enum" in p and v not in p["enum"]:
            errors.append("form: %s=%r not in %s" % (name, v, p["enum"]))
        elif "pattern" in p and not re.search(p["pattern"], v):
            errors.append("form: %s=%r does not match %s" % (name, v, p["pattern"]))
    steps = [s for s in template["spec"]["steps"] if s.get("action") == "http:backstage:request"]
    if len(steps) != 1:
        print(json.dumps({"errors": ["want one http:backstage:request step, found %d" % len(steps)]}))
        return 1
    inp = render(steps[0]["input"], params, errors)
    # /proxy/<endpoint><rest> reaches <target><rest>
    path, sent = inp.get("path", ""), None
    for endpoint, conf in ((app_config.get("proxy") or {}).get("endpoints") or {}).items():
        prefix = "/proxy" + endpoint
        if path.startswith(prefix + "/"):
            sent = path[len(prefix):]
            if not str((conf.get("headers") or {}).get("Authorization", "")).startswith("Bearer ${"):
                errors.append("proxy %s: no Authorization from the environment" % endpoint)
            if inp.get("method", "GET").upper() not in conf.get("allowedMethods", ["GET", "POST"]):
                errors.append("proxy %s: %s not allowed" % (endpoint, inp.get("method")))
    if sent is None:
        errors.append("path %s goes through no proxy endpoint of app-config.yaml" % path)
        sent = path
    checker = Checker("http://unused", spec, "")
    op = ((spec.get("paths") or {}).get(sent) or {}).get(inp.get("method", "GET").lower())
    if op is None:
        errors.append("the spec has no %s %s" % (inp.get("method"), sent))
    else:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        checker.validate(schema, inp.get("body"), "", errors)
    ctype = {k.lower(): v for k, v in (inp.get("headers") or {}).items()}.get("content-type")
    if ctype != "application/json":
        errors.append("content-type %r, not application/json" % ctype)
    print(json.dumps({"method": inp.get("method"), "path": sent, "body": inp.get("body"),
                      "headers": inp.get("headers") or {}, "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
