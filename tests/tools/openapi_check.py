#!/usr/bin/env python3
"""openapi_check.py - doc/openapi.yaml against agentd, for
tests/system/http_openapi.sh.  Python's standard library only.

  openapi_check.py routes SPEC ROUTES
      Every route of the table (ROUTES: tests/tools/http_routes' lines,
      "METHOD PATH QUERY") is an operation of SPEC with the same path
      arguments and query arguments of the same types, and every
      operation of SPEC but /metrics and /healthz is a route.
  openapi_check.py check SPEC ROUTES OPID METHOD URL STATUS CTYPE BODY [SENT]
      The answer (status, Content-Type, the body in the file BODY) to
      METHOD URL (a path and query) is what operation OPID of SPEC says:
      the method and path are the operation's, the status is one of its
      responses, the body is of that response's media type and matches
      its schema.  For a 2xx answer, also what was sent: the query's
      arguments are the operation's, of their types, and the request
      body (the file SENT, if given) matches the requestBody's schema.
  openapi_check.py sweep SPEC URL VIEWER OPERATOR
      Every operation asked without a token is 401, and one whose
      x-agentd-role is operator or admin asked with the role below it
      (VIEWER or OPERATOR: tokens) is 403, each answer matching SPEC.
  openapi_check.py coverage SPEC SEEN
      Every operation of SPEC has a 200 in SEEN (lines "OPID STATUS").

SPEC is read as JSON: doc/openapi.yaml is written in the subset of YAML
that JSON is, so that no YAML parser is needed (Python has none).

Each command prints what does not hold, one line each, and exits 1 if
anything does not; 0 and nothing printed when all holds.

The validator implements the part of OpenAPI 3.0's schemas the document
uses: $ref (to #/components/...), type, nullable, enum, pattern,
minLength, maxLength, minimum, maximum, properties, required,
additionalProperties, items, allOf, anyOf and oneOf.  A schema with any
other keyword that constrains values is an error here, so the document
cannot use one this validator would silently ignore.  As in OpenAPI 3.0,
null is a value only where nullable is true.
"""
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

# Keywords that say something about a value but constrain none.
NOTES = {"description", "default", "example", "title", "format",
         "readOnly", "writeOnly", "deprecated"}
CHECKED = {"$ref", "type", "nullable", "enum", "pattern", "minLength",
           "maxLength", "minimum", "maximum", "properties", "required",
           "additionalProperties", "items", "allOf", "anyOf", "oneOf"}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Served by http.c itself, not by the route table.
OWN_PATHS = ("/metrics", "/healthz")
QUERY_TYPES = {"s": "string", "i": "integer", "f": "number", "b": "boolean"}


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)

    def resolve(self, node):
        """node, or what its $ref points to (followed to the end)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError("$ref %s: only #/... is read here" % ref)
            node = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if part not in node:
                    raise ValueError("$ref %s: no such node" % ref)
                node = node[part]
            seen += 1
            if seen > 50:
                raise ValueError("$ref %s: a loop" % ref)
        return node

    def operations(self):
        """(path, method, path item, operation) of every operation."""
        for path, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item:
                    yield path, method, item, item[method]

    def operation(self, opid):
        for path, method, item, op in self.operations():
            if op.get("operationId") == opid:
                return path, method, item, op
        return None

    def parameters(self, item, op):
        """The parameters of an operation, its path item's included."""
        out = {}
        for p in item.get("parameters", []) + op.get("parameters", []):
            p = self.resolve(p)
            out[(p["name"], p["in"])] = p
        return out

    # ---- values against schemas --------------------------------------

    def validate(self, schema, value, where, errs):
        schema = self.resolve(schema)
        for k in schema:
            if k not in CHECKED and k not in NOTES \
                    and not k.startswith("x-"):
                errs.append("%s: the schema uses %r, which this "
                            "validator does not implement" % (where, k))
        if value is None:
            if schema.get("nullable"):
                return
            if not any(k in schema for k in ("allOf", "anyOf", "oneOf")):
                errs.append("%s: null, and the schema is not nullable"
                            % where)
                return
        typ = schema.get("type")
        if typ is not None and not type_ok(typ, value):
            errs.append("%s: %s is not of type %s"
                        % (where, short(value), typ))
            return
        if "enum" in schema and value not in schema["enum"]:
            errs.append("%s: %s is none of %s"
                        % (where, short(value), schema["enum"]))
        if isinstance(value, str):
            if "pattern" in schema \
                    and not re.search(schema["pattern"], value):
                errs.append("%s: %s does not match %s"
                            % (where, short(value), schema["pattern"]))
            if len(value) < schema.get("minLength", 0):
                errs.append("%s: %s is shorter than %d"
                            % (where, short(value), schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                errs.append("%s: %s is longer than %d"
                            % (where, short(value), schema["maxLength"]))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                errs.append("%s: %s is under %s"
                            % (where, value, schema["minimum"]))
            if "maximum" in schema and value > schema["maximum"]:
                errs.append("%s: %s is over %s"
                            % (where, value, schema["maximum"]))
        if isinstance(value, dict):
            self.validate_object(schema, value, where, errs)
        if isinstance(value, list) and "items" in schema:
            for i, v in enumerate(value):
                self.validate(schema["items"], v, "%s[%d]" % (where, i),
                              errs)
        for sub in schema.get("allOf", []):
            self.validate(sub, value, where, errs)
        if "anyOf" in schema or "oneOf" in schema:
            key = "anyOf" if "anyOf" in schema else "oneOf"
            fits = []
            for sub in schema[key]:
                e = []
                self.validate(sub, value, where, e)
                fits.append(not e)
            n = sum(fits)
            if n == 0 or (key == "oneOf" and n > 1):
                errs.append("%s: %s matches %d of the %s's schemas"
                            % (where, short(value), n, key))

    def validate_object(self, schema, value, where, errs):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                errs.append("%s: no %r, which is required" % (where, k))
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                self.validate(props[k], v, "%s.%s" % (where, k), errs)
            elif extra is False:
                errs.append("%s: %r is not a property the schema allows"
                            % (where, k))
            elif isinstance(extra, dict):
                self.validate(extra, v, "%s.%s" % (where, k), errs)


def type_ok(typ, value):
    if typ == "object":
        return isinstance(value, dict)
    if typ == "array":
        return isinstance(value, list)
    if typ == "string":
        return isinstance(value, str)
    if typ == "boolean":
        return isinstance(value, bool)
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, (int, float)) \
            and not isinstance(value, bool)
    raise ValueError("type %r: not an OpenAPI 3.0 type" % typ)


def short(value):
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_routes(path):
    """[(METHOD, PATTERN, {query name: OpenAPI type})] of the table."""
    routes = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            method, pattern, query = line.split()
            args = {}
            if query != "-":
                for spec in query.split(","):
                    name, t = spec.split(":")
                    args[name] = QUERY_TYPES[t]
            routes.append((method, pattern, args))
    return routes


def openapi_path(pattern):
    """/v1/x/{key*} -> /v1/x/{key}: OpenAPI has no rest-of-path arg."""
    return re.sub(r"\{(\w+)\*\}", r"{\1}", pattern)


# ---- routes -------------------------------------------------------------

def cmd_routes(spec, routes_file):
    errs = []
    routes = read_routes(routes_file)
    table = set()
    for method, pattern, query in routes:
        path = openapi_path(pattern)
        table.add((method.lower(), path))
        what = "%s %s" % (method, pattern)
        item = spec.doc["paths"].get(path)
        if item is None or method.lower() not in item:
            errs.append("%s (http_route.c) is not in openapi.yaml" % what)
            continue
        params = spec.parameters(item, item[method.lower()])
        want = set(re.findall(r"\{(\w+)\*?\}", pattern))
        have = {n for (n, where) in params if where == "path"}
        if want != have:
            errs.append("%s: path arguments %s in openapi.yaml, %s in "
                        "http_route.c" % (what, sorted(have), sorted(want)))
        for (n, where), p in params.items():
            if where == "path" and not p.get("required"):
                errs.append("%s: path argument %s is not required"
                            % (what, n))
        doc_q = {n: spec.resolve(p["schema"]).get("type")
                 for (n, where), p in params.items() if where == "query"}
        if doc_q != query:
            errs.append("%s: query arguments %s in openapi.yaml, %s in "
                        "http_route.c" % (what, doc_q, query))
    ids = []
    for path, method, item, op in spec.operations():
        ids.append(op.get("operationId"))
        if path in OWN_PATHS:
            continue
        if (method, path) not in table:
            errs.append("%s %s is in openapi.yaml, not in http_route.c's "
                        "table" % (method.upper(), path))
    for i in set(ids):
        if i is None or ids.count(i) > 1:
            errs.append("operationId %r: missing or not unique" % i)
    return errs


# ---- one answer ---------------------------------------------------------

def path_regex(pattern):
    """A route pattern as a regex: {x} one segment, {x*} the rest."""
    out = "^"
    for part in re.split(r"(\{\w+\*?\})", pattern):
        m = re.match(r"\{(\w+)(\*?)\}$", part)
        if m:
            out += "(?P<%s>%s)" % (m.group(1), ".+" if m.group(2) else
                                   "[^/]+")
        else:
            out += re.escape(part)
    return re.compile(out + "$")


def typed(value, typ):
    """A query argument's text as the value agentd reads it."""
    if typ == "integer":
        return int(value)
    if typ == "number":
        return float(value)
    if typ == "boolean":
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise ValueError(value)
    return value


def check_answer(spec, routes, opid, method, url, status, ctype, body,
                 sent=None):
    errs = []
    found = spec.operation(opid)
    if found is None:
        return ["no operation %s in openapi.yaml" % opid]
    path, m, item, op = found
    where = "%s %s (%s)" % (method, url, opid)
    if m != method.lower():
        errs.append("%s: the operation is %s" % (where, m.upper()))
    parts = urllib.parse.urlsplit(url)
    pattern = path
    for rm, rp, _ in routes:
        if rm.lower() == m and openapi_path(rp) == path:
            pattern = rp
    args = path_regex(pattern).match(urllib.parse.unquote(parts.path))
    if args is None:
        return errs + ["%s: the path is not %s's" % (where, path)]
    ok = 200 <= status < 300
    params = spec.parameters(item, op)
    if ok:
        for name, val in args.groupdict().items():
            p = params.get((name, "path"))
            if p is None:
                errs.append("%s: no path argument %s" % (where, name))
            else:
                spec.validate(p["schema"], val, "%s: {%s}" % (where, name),
                              errs)
        for name, val in urllib.parse.parse_qsl(parts.query,
                                                keep_blank_values=True):
            p = params.get((name, "query"))
            if p is None:
                errs.append("%s: ?%s is not an argument of the operation"
                            % (where, name))
                continue
            schema = spec.resolve(p["schema"])
            try:
                v = typed(val, schema.get("type"))
            except ValueError:
                errs.append("%s: ?%s=%s is taken, and is no %s"
                            % (where, name, val, schema.get("type")))
                continue
            spec.validate(schema, v, "%s: ?%s" % (where, name), errs)
        check_sent(spec, op, sent, where, errs)
    responses = op.get("responses", {})
    resp = responses.get(str(status), responses.get("default"))
    if resp is None:
        return errs + ["%s: status %d is not one of the operation's: %s"
                       % (where, status, ", ".join(responses))]
    resp = spec.resolve(resp)
    content = resp.get("content", {})
    media = ctype.split(";")[0].strip().lower()
    match = [k for k in content if k.split(";")[0].strip().lower() == media]
    if not match:
        return errs + ["%s: %d answered %s, openapi.yaml says %s"
                       % (where, status, ctype or "no Content-Type",
                          ", ".join(content) or "no body")]
    schema = content[match[0]].get("schema", {})
    if media == "application/json":
        try:
            value = json.loads(body)
        except ValueError as e:
            return errs + ["%s: the answer is not JSON: %s" % (where, e)]
    else:
        value = body.decode("utf-8", errors="replace")
    spec.validate(schema, value, "%s: %d" % (where, status), errs)
    return errs


def check_sent(spec, op, sent, where, errs):
    """The request body agentd took is one the operation describes."""
    rb = spec.resolve(op.get("requestBody", {}))
    if sent is None:
        if rb.get("required"):
            errs.append("%s: taken without a body, which openapi.yaml "
                        "requires" % where)
        return
    if not rb:
        errs.append("%s: sent a body, and the operation takes none"
                    % where)
        return
    schema = rb.get("content", {}).get("application/json", {})
    try:
        value = json.loads(sent)
    except ValueError as e:
        errs.append("%s: a body that is not JSON taken: %s" % (where, e))
        return
    spec.validate(schema.get("schema", {}), value, "%s: request" % where,
                  errs)


# ---- every operation, without a token and with too low a role ------------

BELOW = {"operator": "viewer", "admin": "operator"}
SAMPLE_ARGS = {"agent": "echo", "key": "k", "id": "1", "name": "x"}
# An object with a topic and a body: what every operation's body builds
# from (a merged object, an event, a value), so that the role is what
# refuses it and not the body.
SAMPLE_BODY = b'{"topic": "x", "body": 1}'


def ask(url, method, token, body):
    req = urllib.request.Request(url, method=method, data=body)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def cmd_sweep(spec, base, viewer, operator):
    errs = []
    tokens = {"viewer": viewer, "operator": operator}
    for path, method, item, op in spec.operations():
        url = base + re.sub(r"\{(\w+)\}",
                            lambda m: SAMPLE_ARGS[m.group(1)], path)
        body = SAMPLE_BODY if "requestBody" in op else None
        tries = [(None, 401)]
        if op.get("x-agentd-role") in BELOW:
            tries.append((BELOW[op["x-agentd-role"]], 403))
        for role, want in tries:
            st, ctype, answer = ask(url, method.upper(),
                                    tokens.get(role), body)
            what = "%s %s as %s" % (method.upper(), path, role or "nobody")
            if st != want:
                errs.append("%s: %d, not %d: %s"
                            % (what, st, want, answer[:200]))
                continue
            e = check_answer(spec, [], op["operationId"], method.upper(),
                             url[len(base):], st, ctype, answer)
            errs.extend("%s: %s" % (what, x) for x in e)
    return errs


def cmd_coverage(spec, seen_file):
    seen = set()
    with open(seen_file, encoding="utf-8") as f:
        for line in f:
            opid, status = line.split()
            seen.add((opid, status))
    return ["%s %s: never answered 200 in the test"
            % (method.upper(), path)
            for path, method, item, op in spec.operations()
            if (op["operationId"], "200") not in seen]


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    spec = Spec(argv[2])
    cmd = argv[1]
    if cmd == "routes":
        errs = cmd_routes(spec, argv[3])
    elif cmd == "check":
        opid, method, url, status, ctype, body = argv[4:10]
        sent = None
        if len(argv) > 10:
            with open(argv[10], "rb") as f:
                sent = f.read()
        with open(body, "rb") as f:
            answer = f.read()
        errs = check_answer(spec, read_routes(argv[3]), opid, method, url,
                            int(status), ctype, answer, sent)
    elif cmd == "sweep":
        errs = cmd_sweep(spec, *argv[3:6])
    elif cmd == "coverage":
        errs = cmd_coverage(spec, argv[3])
    else:
        sys.exit(__doc__)
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
