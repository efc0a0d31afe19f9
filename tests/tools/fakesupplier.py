#!/usr/bin/env python3
"""fakesupplier - the shop's supplier catalog, on loopback, for the tests.

    fakesupplier.py --port-file FILE --log FILE [--port N]
                    [--catalog FILE] [--api-key KEY] [--limit SECONDS]

The supplier API of doc/shop-contracts.md ("fakesupplier.py"), under /v1:

    GET  /v1/products?q=QUERY&limit=N   products whose title or tags hold
                                        every word of QUERY
    GET  /v1/products/SKU               one product, or 404
    GET  /v1/suppliers/ID               one supplier, or 404
    POST /v1/orders                     places an order once per
                                        Idempotency-Key (201; the same key
                                        again: 200, the same answer)

and what reached it, for the tests, under /_fake:

    GET  /_fake/orders     {"orders": [placed...], "placed_by_key":
                           {KEY: POSTs that carried KEY}}: an order is in
                           "orders" once, however many times it was sent
    POST /_fake/product    {"sku", FIELD: VALUE...} changes a product, or
                           adds one (a new SKU with a known supplier_id)
    POST /_fake/hold, /_fake/release, GET /_fake/held   tests/tools/fakehold.py
    GET  /_fake/requests   [{"method", "path", "headers", "body"}...]

An order's unit_cost is the product's cost plus its shipping (the landed
cost of one), total_cost unit_cost times the quantity; an order takes its
quantity off the product's stock (not under 0).  With --api-key every /v1
request needs "Authorization: Bearer KEY", else 401.  Listens on
127.0.0.1 (--port, 0 by default: any free one, written to --port-file
once it listens), one thread per connection; logs each request as
"WALL_MS METHOD PATH" when it arrives (never a header, so never the key);
exits by itself after --limit seconds (default 300; 0: never).
"""
import argparse
import copy
import http.server
import json
import os
import re
import sys
import threading
import time
import urllib.parse

import fakehold

LOCK = threading.Lock()
LOG = None
API_KEY = None
PRODUCTS = []          # catalog order
SUPPLIERS = {}
ORDERS = []            # placed, in order
BY_KEY = {}            # Idempotency-Key -> the answer it got
PLACED_BY_KEY = {}     # Idempotency-Key -> POSTs that carried it
REQUESTS = []


def product(sku):
    for p in PRODUCTS:
        if p["sku"] == sku:
            return p
    return None


def matches(p, words):
    """Every word is a word of the title or one of the tags."""
    have = set(re.findall(r"[a-z0-9]+", p.get("title", "").lower()))
    have.update(t.lower() for t in p.get("tags", []))
    return all(w in have for w in words)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: without TCP_NODELAY a client
    # that keeps its connection (curl does) waits out a delayed ACK on each
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, obj):
        if getattr(self, "deferred", None) is not None:
            # served under the lock: sent by serve() once it is let go,
            # after any hold "after" (tests/tools/fakehold.py)
            self.deferred.append((code, obj))
            return
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        with LOCK:
            LOG.write("%d %s %s\n" % (int(time.time() * 1000),
                                      self.command, self.path))
            LOG.flush()
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        with LOCK:
            REQUESTS.append({"method": self.command, "path": self.path,
                             "headers": dict(self.headers.items()),
                             "body": raw.decode("utf-8", "replace")})
        if parts[:1] == ["_fake"]:
            return self.fake(parts[1:], raw)
        fakehold.wait(self.command, self.path, "before")
        if parts[:1] != ["v1"]:
            return self.answer(404, {"error": "no such path"})
        if API_KEY is not None and \
                self.headers.get("Authorization") != "Bearer " + API_KEY:
            return self.answer(401, {"error": "unauthorized"})
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.answer(400, {"error": "the body is not JSON"})
        self.api(parts[1:], query, body)

    def api(self, parts, query, body):
        m = self.command
        if m == "GET" and parts == ["products"]:
            words = " ".join(query.get("q", [""])).lower().split()
            limit = int(query.get("limit", ["50"])[0])
            with LOCK:
                found = [copy.deepcopy(p) for p in PRODUCTS
                         if matches(p, words)][:limit]
            return self.answer(200, {"products": found})
        if m == "GET" and len(parts) == 2 and parts[0] == "products":
            with LOCK:
                p = copy.deepcopy(product(parts[1]))
            if p is None:
                return self.answer(404, {"error": "no such product"})
            return self.answer(200, p)
        if m == "GET" and len(parts) == 2 and parts[0] == "suppliers":
            s = SUPPLIERS.get(parts[1])
            if s is None:
                return self.answer(404, {"error": "no such supplier"})
            return self.answer(200, s)
        if m == "POST" and parts == ["orders"]:
            return self.order(body)
        self.answer(404, {"error": "no such path"})

    def order(self, body):
        key = self.headers.get("Idempotency-Key")
        if not isinstance(body, dict):
            return self.answer(400, {"error": "the body is not an object"})
        sku, qty = body.get("sku"), body.get("quantity")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            return self.answer(422, {"error": "quantity: an integer, 1 or more"})
        with LOCK:
            if key is not None:
                PLACED_BY_KEY[key] = PLACED_BY_KEY.get(key, 0) + 1
                if key in BY_KEY:
                    return self.answer(200, BY_KEY[key])
            p = product(sku)
            if p is None:
                return self.answer(422, {"error": "no such product"})
            unit = round(p["cost"] + p.get("shipping", 0), 2)
            out = {"order_id": "PO-%d" % (len(ORDERS) + 1),
                   "status": "placed", "sku": sku, "quantity": qty,
                   "unit_cost": unit, "total_cost": round(unit * qty, 2),
                   "reference": body.get("reference"),
                   "ship_to": body.get("ship_to"),
                   "idempotency_key": key,
                   "placed_ms": int(time.time() * 1000)}
            p["stock"] = max(0, p.get("stock", 0) - qty)
            ORDERS.append(out)
            if key is not None:
                BY_KEY[key] = out
        self.answer(201, out)

    def fake(self, parts, raw):
        m = self.command
        try:
            hb = json.loads(raw) if raw else {}
        except ValueError:
            hb = None
        held = fakehold.control(m, parts, hb)
        if held is not None:
            return self.answer(*held)
        with LOCK:
            if m == "GET" and parts == ["orders"]:
                return self.answer(200, {"orders": ORDERS,
                                         "placed_by_key": PLACED_BY_KEY})
            if m == "GET" and parts == ["requests"]:
                return self.answer(200, REQUESTS)
            if m == "POST" and parts == ["product"]:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self.answer(400, {"error": "the body is not JSON"})
                p = product(body.get("sku")) if isinstance(body, dict) \
                    else None
                if p is None:
                    # a new product: a SKU and a known supplier at least
                    if not isinstance(body, dict) or \
                            not isinstance(body.get("sku"), str) or \
                            body.get("supplier_id") not in SUPPLIERS:
                        return self.answer(404, {"error": "no such product "
                                                 "(a new one needs its sku and "
                                                 "a known supplier_id)"})
                    p = {}
                    PRODUCTS.append(p)
                p.update(body)
                return self.answer(200, p)
        self.answer(404, {"error": "no such path"})

    def serve(self):
        """handle_any, its answer held while a hold "after" covers it."""
        self.deferred = []
        try:
            self.handle_any()
        finally:
            out, self.deferred = self.deferred, None
        if out and not self.path.startswith("/_fake/"):
            fakehold.wait(self.command, self.path.split("?")[0], "after")
        for code, obj in out:
            self.answer(code, obj)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = serve


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main():
    global LOG, API_KEY, PRODUCTS, SUPPLIERS
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--catalog", default=os.path.join(here, "catalog.json"))
    ap.add_argument("--api-key")
    ap.add_argument("--limit", type=float, default=300)
    a = ap.parse_args()
    with open(a.catalog) as f:
        cat = json.load(f)
    PRODUCTS = cat["products"]
    SUPPLIERS = {s["id"]: s for s in cat["suppliers"]}
    API_KEY = a.api_key
    LOG = open(a.log, "a")
    srv = Server(("127.0.0.1", a.port), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    if a.limit > 0:
        threading.Timer(a.limit, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
