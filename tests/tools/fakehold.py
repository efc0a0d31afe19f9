"""fakehold - holding a fake's requests, for the tests that must act while
a request is in flight (tests/system/shop_crash.sh kills an agent then).

Each fake of tests/tools imports it and serves, beside its own routes:

    POST /_fake/hold     {"method": "POST" | null, "path": PREFIX,
                          "when": "before" | "after"}
        from now on a request whose method matches (null: any) and whose
        path starts with PREFIX waits: "before" it is served, or "after"
        it was (its effect made, its answer not yet sent);
    POST /_fake/release  {} every hold ends, what waits goes on;
    GET  /_fake/held     {"waiting": N} requests waiting now.

A held request waits at most LIMIT seconds (then goes on), so a test that
dies leaves no thread behind for ever.
"""
import threading

LIMIT = 600.0
_cv = threading.Condition()
_rules = []
_waiting = [0]


def _matches(method, path, when):
    return any(r["when"] == when and r["method"] in (None, method)
               and path.startswith(r["path"]) for r in _rules)


def wait(method, path, when):
    """Block while a hold covers this request at this moment."""
    with _cv:
        if not _matches(method, path, when):
            return
        _waiting[0] += 1
        try:
            _cv.wait_for(lambda: not _matches(method, path, when), LIMIT)
        finally:
            _waiting[0] -= 1


def control(method, parts, body):
    """The answer (code, object) to /_fake/hold, release or held, or None
    for any other /_fake route.  parts: the path after /_fake."""
    if method == "POST" and parts == ["hold"]:
        if not isinstance(body, dict) or not isinstance(body.get("path"), str) \
                or body.get("when", "before") not in ("before", "after"):
            return 400, {"error": "write {\"path\": PREFIX, \"method\": M or null, "
                                  "\"when\": \"before\" or \"after\"}"}
        with _cv:
            _rules.append({"method": body.get("method") or None,
                           "path": body["path"],
                           "when": body.get("when", "before")})
        return 200, {"holds": len(_rules)}
    if method == "POST" and parts == ["release"]:
        with _cv:
            del _rules[:]
            _cv.notify_all()
        return 200, {"released": True}
    if method == "GET" and parts == ["held"]:
        with _cv:
            return 200, {"waiting": _waiting[0]}
    return None
