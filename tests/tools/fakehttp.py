#!/usr/bin/env python3
"""fakehttp - a scripted HTTP(S) server on loopback for the system tests.

    fakehttp.py --port-file FILE --log FILE [--cert PEM --key PEM]
                [--limit SECONDS]

Listens on 127.0.0.1 (a free port, written to --port-file once it
listens), one thread per connection, and exits by itself after --limit
seconds (default 300).  Each request is logged as one line
"WALL_MS METHOD PATH" when it arrives, so a test reads when each attempt
came.  What it answers depends on the path alone:

    /ok                 200 "hello"; echoes the request as JSON
                        {"method", "body", "x_req"} when it has a body or
                        an X-Req header, with header X-Echo: X-Req's value
    /fail/N/KEY         500 for the first N requests of KEY, then 200
    /ratelimit/S/KEY    429 with Retry-After: S (seconds) for the first
                        request of KEY, then 200
    /ratelimit-date/S/KEY   the same with Retry-After as an HTTP date
    /stall/S            waits S seconds (a float), then 200
    /big/BYTES          200 with a body of BYTES bytes
"""
import argparse
import email.utils
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time

COUNTS = {}
LOCK = threading.Lock()


def bump(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        with LOCK:
            LOG.write("%d %s %s\n" % (int(time.time() * 1000),
                                      self.command, self.path))
            LOG.flush()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        parts = self.path.split("/")[1:]
        what = parts[0] if parts else ""
        if what == "ok":
            xreq = self.headers.get("X-Req")
            if body or xreq:
                out = json.dumps({"method": self.command,
                                  "body": body.decode("utf-8", "replace"),
                                  "x_req": xreq}).encode()
                self.answer(200, out, [("X-Echo", xreq or ""),
                                       ("Content-Type", "application/json")])
            else:
                self.answer(200, b"hello", [("X-Test", "yes")])
        elif what == "fail" and len(parts) >= 3:
            if bump(self.path) <= int(parts[1]):
                self.answer(500, b"failing")
            else:
                self.answer(200, b"recovered")
        elif what in ("ratelimit", "ratelimit-date") and len(parts) >= 3:
            if bump(self.path) == 1:
                secs = int(parts[1])
                ra = str(secs) if what == "ratelimit" else \
                    email.utils.formatdate(time.time() + secs, usegmt=True)
                self.answer(429, b"slow down", [("Retry-After", ra)])
            else:
                self.answer(200, b"welcome back")
        elif what == "stall" and len(parts) >= 2:
            time.sleep(float(parts[1]))
            try:
                self.answer(200, b"late")
            except OSError:
                pass
        elif what == "big" and len(parts) >= 2:
            self.answer(200, b"x" * int(parts[1]))
        else:
            self.answer(404, b"no such script")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--limit", type=float, default=300)
    a = ap.parse_args()
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
