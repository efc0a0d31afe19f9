#!/usr/bin/env python3
"""fakesmtp - an SMTP server on loopback for the tests (RFC 5321's
commands a client needs to hand over a message, nothing more).

    fakesmtp.py --port-file FILE --log FILE [--limit SECONDS]
                [--cert PEM --key PEM] [--user NAME --password TEXT]

Listens on 127.0.0.1 (a free port, written to --port-file once it
listens), one thread per connection, and exits by itself after --limit
seconds (default 300).  It speaks EHLO/HELO, MAIL FROM, RCPT TO, DATA
(dot-unstuffed, up to the line "."), RSET, NOOP and QUIT; with --cert
and --key also STARTTLS (logged as {"tls": true}), and with --user and
--password AUTH PLAIN, offered only over TLS and required before MAIL
(logged as {"auth": NAME, "ok": BOOL}).  Each message accepted is logged as one JSON line
{"ms": WALL_MS, "from": ADDR, "to": [ADDR...], "data": TEXT}, and each
connection as {"ms": WALL_MS, "connect": true} and each RCPT TO as
{"ms": WALL_MS, "rcpt": ADDR}, so a test counts the attempts (a client
may send several messages on one connection).  The control to fail is the recipient's local part:

    tempfail...@        RCPT is answered 451 (try again later)
    reject...@          RCPT is answered 550 (refused for good)
    any other           250
"""
import argparse
import base64
import json
import os
import socketserver
import ssl
import sys
import threading
import time

LOCK = threading.Lock()
LOG = None
TLS = None       # an ssl.SSLContext with --cert and --key
USER = None      # with --user and --password
PASSWORD = None


def record(obj):
    obj["ms"] = int(time.time() * 1000)
    with LOCK:
        LOG.write(json.dumps(obj) + "\n")
        LOG.flush()


def addr_of(arg):
    """The address in "FROM:<a@b> SIZE=..." or "TO:<a@b>"."""
    s = arg[arg.find(":") + 1:].strip()
    if s.startswith("<"):
        s = s[1:s.find(">")] if ">" in s else s[1:]
    return s.split(" ")[0]


class Handler(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def starttls(self):
        self.say("220 2.0.0 ready to start TLS")
        try:
            self.connection = TLS.wrap_socket(self.connection,
                                              server_side=True)
        except (ssl.SSLError, OSError):
            record({"tls": False})  # the client did not trust us
            return False
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb")
        self.tls = True
        record({"tls": True})
        return True

    def auth(self, arg):
        parts = arg.split(" ")
        if parts[0].upper() != "PLAIN" or USER is None or not self.tls:
            self.say("504 5.5.4 no such mechanism")
            return
        if len(parts) > 1:
            resp = parts[1]
        else:
            self.say("334 ")
            resp = self.rfile.readline().decode().strip()
        try:
            _, user, pw = base64.b64decode(resp).decode().split("\0")
        except Exception:
            user, pw = "", None
        self.authed = user == USER and pw == PASSWORD
        record({"auth": user, "ok": self.authed})
        self.say("235 2.7.0 accepted" if self.authed
                 else "535 5.7.8 credentials refused")

    def handle(self):
        record({"connect": True})
        self.tls, self.authed = False, False
        self.say("220 fakesmtp ready")
        sender, rcpts = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            arg = line[5:] if len(line) > 4 else ""
            if verb == "EHLO":
                ext = ["fakesmtp", "8BITMIME", "SIZE 10485760"]
                if TLS is not None and not self.tls:
                    ext.append("STARTTLS")
                if USER is not None and self.tls:
                    ext.append("AUTH PLAIN")
                self.wfile.write("".join(
                    "250%s%s\r\n" % ("-" if i < len(ext) - 1 else " ", e)
                    for i, e in enumerate(ext)).encode())
                self.wfile.flush()
            elif verb == "HELO":
                self.say("250 fakesmtp")
            elif line.upper() == "STARTTLS" and TLS is not None \
                    and not self.tls:
                if not self.starttls():
                    return
                sender, rcpts = None, []
            elif verb == "AUTH":
                self.auth(arg)
            elif verb == "MAIL" and USER is not None and not self.authed:
                self.say("530 5.7.0 authentication required")
            elif verb == "MAIL":
                sender, rcpts = addr_of(arg), []
                self.say("250 sender ok")
            elif verb == "RCPT":
                to = addr_of(arg)
                record({"rcpt": to})
                if to.startswith("tempfail"):
                    self.say("451 4.3.0 mailbox busy, try again later")
                elif to.startswith("reject"):
                    self.say("550 5.1.1 no such mailbox")
                elif sender is None:
                    self.say("503 5.5.1 MAIL first")
                else:
                    rcpts.append(to)
                    self.say("250 recipient ok")
            elif verb == "DATA":
                if not rcpts:
                    self.say("554 5.5.1 no valid recipients")
                    continue
                self.say("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    d = self.rfile.readline()
                    if not d:
                        return
                    d = d.decode("utf-8", "replace")
                    if d.rstrip("\r\n") == ".":
                        break
                    lines.append(d[1:] if d.startswith(".") else d)
                record({"from": sender, "to": rcpts, "data": "".join(lines)})
                sender, rcpts = None, []
                self.say("250 2.0.0 queued")
            elif verb == "RSET":
                sender, rcpts = None, []
                self.say("250 reset")
            elif verb == "NOOP":
                self.say("250 ok")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("502 5.5.2 command not implemented")


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--limit", type=float, default=300.0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user")
    ap.add_argument("--password")
    a = ap.parse_args()
    LOG = open(a.log, "a")
    global TLS, USER, PASSWORD
    if a.cert:
        TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        TLS.load_cert_chain(a.cert, a.key)
    USER, PASSWORD = a.user, a.password
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
