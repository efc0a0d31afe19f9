#!/usr/bin/env python3
"""fakehook - a webhook receiver on loopback for the system tests (a
Slack-compatible incoming webhook: it takes a JSON POST and answers "ok").

    fakehook.py --port-file FILE --log FILE [--limit SECONDS]

Listens on 127.0.0.1 (a free port, written to --port-file once it
listens) and exits by itself after --limit seconds (default 300).  Every
POST is logged as one JSON line {"ms": WALL_MS, "path": PATH,
"content_type": HEADER, "body": TEXT}, so a test reads what arrived and
when each attempt came.  What it answers depends on the path:

    /hook/...           200 "ok"
    /down/...           503 "down" (the receiver is failing)
    /bad/...            400 "invalid_payload" (a request it refuses)
"""
import argparse
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time

LOCK = threading.Lock()
LOG = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # The head and the body go in two writes: without this, Nagle
        # and the client's delayed ACK hold the body 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        with LOCK:
            LOG.write(json.dumps({
                "ms": int(time.time() * 1000), "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "body": body.decode("utf-8", "replace")}) + "\n")
            LOG.flush()
        if self.path.startswith("/hook/"):
            self.answer(200, b"ok")
        elif self.path.startswith("/down/"):
            self.answer(503, b"down")
        else:
            self.answer(400, b"invalid_payload")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--limit", type=float, default=300.0)
    a = ap.parse_args()
    LOG = open(a.log, "a")
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    threading.Timer(a.limit, lambda: os._exit(0)).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
