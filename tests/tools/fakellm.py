#!/usr/bin/env python3
"""fakellm - a fake language-model provider on loopback for the tests.

    fakellm.py --port-file FILE --log FILE [--api-key KEY]
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
With --api-key, a request without that key (Authorization: Bearer KEY,
or x-goog-api-key: KEY) is 401.  Each request is logged when it arrives
as "WALL_MS METHOD PATH key=yes|no" (never the key itself).
"""
import argparse
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time

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


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

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

    def do_GET(self):
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
        model = req.get("model", "")
        if api == "v1/chat/completions":
            msg = {"role": "assistant", "content": None if tool else text}
            if tool:
                msg["tool_calls"] = [{"id": "call_1", "type": "function",
                                      "function": {"name": "lookup",
                                                   "arguments":
                                                   '{"sku": "A-1"}'}}]
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
                    "name": "lookup", "arguments": {"sku": "A-1"}}}]
            self.json({"model": model, "created_at": "2024-01-01T00:00:00Z",
                       "message": msg, "done": True, "done_reason": "stop",
                       "prompt_eval_count": ptok, "eval_count": ctok})
        elif api.startswith("v1beta/models/") and \
                api.endswith(":generateContent"):
            name = api[len("v1beta/models/"):-len(":generateContent")]
            part = {"functionCall": {"name": "lookup",
                                     "args": {"sku": "A-1"}}} \
                if tool else {"text": text}
            self.json({"candidates": [{"content": {"role": "model",
                                                   "parts": [part]},
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
    ap.add_argument("--api-key")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--limit", type=float, default=300)
    a = ap.parse_args()
    API_KEY = a.api_key
    LOG = open(a.log, "a")
    srv = Server(("127.0.0.1", 0), Handler)
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    threading.Timer(a.limit, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
