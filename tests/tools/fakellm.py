#!/usr/bin/env python3
"""fakellm - a fake language-model provider on loopback for the tests.

    fakellm.py --port-file FILE --log FILE [--port N] [--api-key KEY]
               [--cert PEM --key PEM] [--limit SECONDS]

Speaks the three APIs the llm plugin uses, under a scenario prefix, so
one server plays every provider of a test:

    POST /s/SCENARIO/v1/chat/completions                 OpenAI-compatible
    POST /s/SCENARIO/api/chat                            Ollama
    POST /s/SCENARIO/v1beta/models/MODEL:generateContent Gemini

SCENARIO is one of
    ok          answers "[N] echo: LAST" (N: the messages it was sent,
                LAST: the last one's text), usage from word counts
    tools       answers with a tool call lookup({"sku": "A-1"})
    fail        500
    ratelimit-S-KEY  429 with Retry-After: S for KEY's first request
    stall-S     waits S seconds (a float), then answers as ok
    bad         200 with a body that is not JSON
    big         200 with 2 MiB of JSON
    switch-NAME 500 while NAME is down (GET /down/NAME, /up/NAME: 204)
    shop        answers by what it is asked (doc/shop-contracts.md):
                with tools, a shop assistant that searches, adds to
                the cart and checks out by tool calls, honouring the
                tools offered and the results sent back, "[turns N]"
                (N: the user messages it saw) at the end of its text;
                a system message with "CEO": "Rationale for SKU:
                DECISION ..." from the last user message; a system
                message with "promotion" and a JSON answer asked for:
                {"title", "discount": 0.15, "reason"} for its SKU;
                anything else as ok
With --api-key, a request without that key (Authorization: Bearer KEY,
or x-goog-api-key: KEY) is 401.  Each request is logged when it arrives
as "WALL_MS METHOD PATH key=yes|no" (never the key itself).
POST /_fake/hold, /_fake/release and GET /_fake/held hold requests
(tests/tools/fakehold.py).  --limit 0: no time limit.
"""
import argparse
import http.server
import json
import os
import re
import socketserver
import ssl
import sys
import threading
import time

import fakehold

COUNTS = {}
DOWN = set()
LOCK = threading.Lock()
API_KEY = None


def bump(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


def text_of(m):
    """A message's text in any of the three shapes."""
    if isinstance(m.get("content"), str):
        return m["content"]
    return "".join(p.get("text", "") for p in m.get("parts", []))


def words(s):
    return len(s.split())


# ---- the shop scenario ------------------------------------------------------

PRODUCT_WORDS = ("lamp", "candle", "mug", "espresso", "case")
SKU_RE = re.compile(r"\b[A-Z][A-Z0-9]*-[A-Z0-9]+\b")


def shop_view(api, req):
    """The request in one shape for every API: (messages, tools offered,
    a JSON answer asked for).  A message is {"role": system | user |
    assistant | tool, "text", "name" (a tool result's function)}."""
    out = []
    if api.startswith("v1beta/models/"):
        sysi = req.get("systemInstruction") or {}
        if sysi:
            out.append({"role": "system", "text": text_of(sysi)})
        for c in req.get("contents", []):
            for p in c.get("parts", []):
                if "functionResponse" in p:
                    fr = p["functionResponse"]
                    out.append({"role": "tool", "name": fr.get("name", ""),
                                "text": json.dumps(fr.get("response"))})
                elif "functionCall" in p:
                    out.append({"role": "assistant", "text": "",
                                "calls": [p["functionCall"].get("name")]})
                elif "text" in p:
                    out.append({"role": "assistant"
                                if c.get("role") == "model" else "user",
                                "text": p["text"]})
        tools = [d.get("name") for t in req.get("tools", [])
                 for d in t.get("functionDeclarations", [])]
        gen = req.get("generationConfig") or {}
        want_json = gen.get("responseMimeType") == "application/json"
        return out, tools, want_json
    names = {}
    for m in req.get("messages", []):
        role = m.get("role")
        calls = m.get("tool_calls") or []
        for c in calls:
            if c.get("id"):
                names[c["id"]] = c.get("function", {}).get("name", "")
        if role == "tool":
            name = m.get("tool_name") or m.get("name") or \
                names.get(m.get("tool_call_id"), "")
            out.append({"role": "tool", "name": name,
                        "text": m.get("content") or ""})
        else:
            out.append({"role": role, "text": m.get("content") or "",
                        "calls": [c.get("function", {}).get("name")
                                  for c in calls]})
    tools = [t.get("function", {}).get("name")
             for t in req.get("tools", []) or []]
    want_json = bool(req.get("response_format") or req.get("format"))
    return out, tools, want_json


def result_of(text):
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def shop_assistant(msgs, tools):
    """(text, [(tool name, arguments)]) for a request with tools."""
    users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    turns = len(users)
    tag = " [turns %d]" % turns
    if not users:
        return "Hello! What are you looking for?" + tag, []
    said = msgs[users[-1]]["text"].lower()
    buying = "buy" in said or "checkout" in said
    results = [m for m in msgs[users[-1] + 1:] if m["role"] == "tool"]

    def call(name, args):
        if name in tools:
            return None, [(name, args)]
        return "I cannot %s here." % name.replace("_", " ") + tag, []

    if not results:
        for w in PRODUCT_WORDS:
            if w in said:
                return call("search_products", {"query": w})
        if buying:
            # "buy it": the product the conversation talked about.
            for m in reversed(msgs[:users[-1]]):
                found = SKU_RE.findall(m["text"])
                if found:
                    return call("add_to_cart",
                                {"sku": found[0], "quantity": 1})
        if "cart" in said:
            return call("view_cart", {})
        return "Hello! What are you looking for?" + tag, []
    last = results[-1]
    res = result_of(last["text"])
    if isinstance(res, dict) and res.get("error"):
        return "Sorry, that did not work: %s." % res["error"] + tag, []
    if last["name"] == "search_products":
        products = res.get("products", []) if isinstance(res, dict) else []
        if not products:
            return "Sorry, I found nothing like that." + tag, []
        if buying:
            return call("add_to_cart",
                        {"sku": products[0].get("sku"), "quantity": 1})
        return "I found " + ", ".join(
            "%s (%s) at %s" % (p.get("title"), p.get("sku"), p.get("price"))
            for p in products) + "." + tag, []
    if last["name"] == "add_to_cart":
        if buying:
            return call("checkout", {})
        return "Added to your cart." + tag, []
    if last["name"] == "checkout":
        return "Your order %s is placed, total %s." % (
            res.get("order_id"), res.get("total")) + tag, []
    if last["name"] == "view_cart":
        return "Your cart: %s." % json.dumps(res) + tag, []
    return "Done." + tag, []


def shop_answer(api, req):
    """(text, calls) of the shop scenario, or None to answer as ok."""
    msgs, tools, want_json = shop_view(api, req)
    system = " ".join(m["text"] for m in msgs if m["role"] == "system")
    users = [m["text"] for m in msgs if m["role"] == "user"]
    last = users[-1] if users else ""
    if tools:
        return shop_assistant(msgs, tools)
    sku = (SKU_RE.findall(last) or ["?"])[0]
    if "CEO" in system:
        decision = next((d for d in ("approve", "reject", "escalate")
                         if d in last.lower()), "undecided")
        return ("Rationale for %s: %s, as the margin, the supplier and the "
                "price say." % (sku, decision)), []
    if "promotion" in system.lower() and want_json:
        return json.dumps({"title": "Spring deal on %s" % sku,
                           "discount": 0.15,
                           "reason": "%s sells slowly: 15%% off moves "
                           "the stock" % sku}), []
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: without TCP_NODELAY a client
    # that keeps its connection (curl does) waits out a delayed ACK on each
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, body=b"", headers=()):
        try:
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def json(self, obj):
        self.answer(200, json.dumps(obj).encode(),
                    [("Content-Type", "application/json")])

    def key_ok(self):
        auth = self.headers.get("Authorization") or ""
        goog = self.headers.get("x-goog-api-key") or ""
        return API_KEY is not None and (auth == "Bearer " + API_KEY or
                                        goog == API_KEY)

    def hold_control(self, body):
        """/_fake/hold, release, held (tests/tools/fakehold.py), or False."""
        if not self.path.startswith("/_fake/"):
            return False
        held = fakehold.control(self.command, self.path.split("/")[2:], body)
        if held is None:
            self.answer(404, b"no such control")
        else:
            self.json_code(*held)
        return True

    def json_code(self, code, obj):
        self.answer(code, json.dumps(obj).encode(),
                    [("Content-Type", "application/json")])

    def do_GET(self):
        if self.hold_control(None):
            return
        parts = self.path.split("/")[1:]
        if len(parts) == 2 and parts[0] in ("down", "up"):
            with LOCK:
                (DOWN.add if parts[0] == "down" else DOWN.discard)(parts[1])
            self.answer(204)
        else:
            self.answer(404, b"no such control")

    def do_POST(self):
        has_key = self.key_ok()
        with LOCK:
            LOG.write("%d %s %s key=%s\n" % (int(time.time() * 1000),
                      self.command, self.path, "yes" if has_key else "no"))
            LOG.flush()
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        if self.path.startswith("/_fake/"):
            try:
                hb = json.loads(raw) if raw else {}
            except ValueError:
                hb = None
            self.hold_control(hb)
            return
        fakehold.wait(self.command, self.path, "before")
        parts = self.path.split("/")
        if len(parts) < 4 or parts[1] != "s":
            return self.answer(404, b"no such scenario")
        scen = parts[2]
        api = "/".join(parts[3:])
        if API_KEY is not None and not has_key:
            return self.answer(401, b'{"error": "bad key"}')
        try:
            req = json.loads(raw)
        except ValueError:
            return self.answer(400, b'{"error": "not JSON"}')
        if scen == "fail":
            return self.answer(500, b'{"error": "failing"}')
        if scen.startswith("switch-"):
            with LOCK:
                down = scen[7:] in DOWN
            if down:
                return self.answer(503, b'{"error": "down"}')
        if scen.startswith("ratelimit-"):
            _, secs, key = scen.split("-", 2)
            if bump(key) == 1:
                return self.answer(429, b'{"error": "slow down"}',
                                   [("Retry-After", secs)])
        if scen.startswith("stall-"):
            time.sleep(float(scen[6:]))
        if scen == "bad":
            return self.answer(200, b'{"choices": [ this is not json',
                               [("Content-Type", "application/json")])
        if scen == "big":
            return self.json({"pad": "x" * (2 << 20)})
        if api.startswith("v1beta/models/"):
            msgs = req.get("contents", [])
            sysi = req.get("systemInstruction")
        else:
            msgs = req.get("messages", [])
            sysi = None
        last = text_of(msgs[-1]) if msgs else ""
        count = len(msgs) + (1 if sysi else 0)
        text = "[%d] echo: %s" % (count, last)
        ptok = sum(words(text_of(m)) for m in msgs)
        ctok = words(text)
        tool = scen == "tools"
        calls = [("lookup", {"sku": "A-1"})] if tool else []
        if scen == "shop":
            got = shop_answer(api, req)
            if got is not None:
                text, calls = got
                tool = bool(calls)
                ctok = words(text or "")
        model = req.get("model", "")
        if api == "v1/chat/completions":
            msg = {"role": "assistant", "content": None if tool else text}
            if tool:
                msg["tool_calls"] = [
                    {"id": "call_%d" % (bump("call-ids")
                                        if scen == "shop" else 1),
                     "type": "function",
                     "function": {"name": name,
                                  "arguments": json.dumps(args)}}
                    for name, args in calls]
            self.json({"id": "chatcmpl-1", "object": "chat.completion",
                       "created": int(time.time()), "model": model,
                       "choices": [{"index": 0, "message": msg,
                                    "finish_reason":
                                    "tool_calls" if tool else "stop"}],
                       "usage": {"prompt_tokens": ptok,
                                 "completion_tokens": ctok,
                                 "total_tokens": ptok + ctok}})
        elif api == "api/chat":
            msg = {"role": "assistant", "content": "" if tool else text}
            if tool:
                msg["tool_calls"] = [{"function": {
                    "name": name, "arguments": args}}
                    for name, args in calls]
            self.json({"model": model, "created_at": "2024-01-01T00:00:00Z",
                       "message": msg, "done": True, "done_reason": "stop",
                       "prompt_eval_count": ptok, "eval_count": ctok})
        elif api.startswith("v1beta/models/") and \
                api.endswith(":generateContent"):
            name = api[len("v1beta/models/"):-len(":generateContent")]
            parts = [{"functionCall": {"name": name, "args": args}}
                     for name, args in calls] if tool else [{"text": text}]
            self.json({"candidates": [{"content": {"role": "model",
                                                   "parts": parts},
                                       "finishReason": "STOP"}],
                       "usageMetadata": {"promptTokenCount": ptok,
                                         "candidatesTokenCount": ctok,
                                         "totalTokenCount": ptok + ctok},
                       "modelVersion": name})
        else:
            self.answer(404, b"no such API")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main():
    global LOG, API_KEY
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--limit", type=float, default=300)
    a = ap.parse_args()
    API_KEY = a.api_key
    LOG = open(a.log, "a")
    srv = Server(("127.0.0.1", a.port), Handler)
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    if a.limit > 0:
        threading.Timer(a.limit, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
