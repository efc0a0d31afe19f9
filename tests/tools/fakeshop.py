#!/usr/bin/env python3
"""fakeshop - the shop (Shopify Admin REST API 2024-01), on loopback.

    fakeshop.py --port-file FILE --log FILE --token-file FILE [--port N]
                [--webhook-url URL | --webhook-url-file FILE]
                [--webhook-secret-file FILE]
                [--shop DOMAIN] [--limit SECONDS]

The part of Shopify's Admin API the shop's agents use, under
/admin/api/2024-01 (doc/shop-contracts.md, "fakeshop.py"): products
(POST /products.json, GET /products.json?handle=H, GET /products/ID.json),
variants (PUT /variants/ID.json), locations, inventory levels and orders.
Every /admin request needs "X-Shopify-Access-Token: TOKEN" (the token
file's first line), else 401 as Shopify answers.

As Shopify does, a product created with a handle already taken gets the
handle with "-1", "-2"... appended: it is a second product, not an error,
which is why an agent must look before it creates.  creations[SKU] counts
the products created per variant SKU, so a test sees a duplicate.

An order (POST /orders.json, or POST /_fake/order as a customer's
checkout) takes its quantities off the inventory, then is sent to
--webhook-url as Shopify's orders/create webhook: the ORDER JSON with
X-Shopify-Topic, X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256 of the raw
body under the secret file's first line; a wrong one for
"bad_signature": true), X-Shopify-Webhook-Id (a fresh uuid) and
X-Shopify-Shop-Domain.  For /orders.json it is sent after the answer;
/_fake/order waits for it and answers agentd's HTTP code with the order.

    GET /_fake/state   {"creations", "products", "inventory", "orders",
                        "variant_prices", "webhooks": [{"topic",
                        "status"}]}

Listens on 127.0.0.1 (--port, 0 by default: any free one, written to
--port-file once it listens), one thread per connection; logs each
request as "WALL_MS METHOD PATH" when it arrives (never the token);
exits by itself after --limit seconds (default 300; 0: never).
--webhook-url-file names a file read at each webhook (its first line),
for a test that learns agentd's address after the shop started.
POST /_fake/hold, /_fake/release and GET /_fake/held hold requests
(tests/tools/fakehold.py).
"""
import argparse
import base64
import copy
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import fakehold

BASE = ["admin", "api", "2024-01"]
LOCK = threading.Lock()
LOG = None
A = None               # the parsed arguments
TOKEN = None
SECRET = None
PRODUCTS = []          # in creation order
CREATIONS = {}         # SKU -> products created with it
INVENTORY = {}         # inventory_item_id -> available
ORDERS = []
VARIANT_PRICES = {}    # SKU -> price (string), as last PUT
WEBHOOKS = []          # [{"topic", "status"}]
NEXT = {"product": 632910392, "variant": 808950810, "item": 39072856,
        "order": 450789469, "line": 466157049, "name": 1001}


def first_line(path):
    with open(path, "rb") as f:
        return f.read().split(b"\n", 1)[0].rstrip(b"\r")


def next_id(kind):
    NEXT[kind] += 1
    return NEXT[kind] - 1


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")


def handle_of(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product"


def variants():
    for p in PRODUCTS:
        for v in p["variants"]:
            yield p, v


def variant_by_sku(sku):
    for p, v in variants():
        if v["sku"] == sku:
            return p, v
    return None, None


def money(x):
    return "%.2f" % x


def create_product(body):
    """The product of a POST /products.json body, or an error string."""
    if not isinstance(body, dict) or not isinstance(body.get("product"), dict):
        return None, "product: required"
    src = body["product"]
    title = src.get("title")
    if not isinstance(title, str) or not title:
        return None, "title: can't be blank"
    base = src.get("handle") or handle_of(title)
    taken = {p["handle"] for p in PRODUCTS}
    handle, n = base, 0
    while handle in taken:
        n += 1
        handle = "%s-%d" % (base, n)
    pid = next_id("product")
    p = {"id": pid, "title": title, "handle": handle,
         "body_html": src.get("body_html", ""),
         "status": src.get("status", "active"),
         "vendor": src.get("vendor", ""),
         "product_type": src.get("product_type", ""),
         "tags": src.get("tags", ""), "created_at": now(), "variants": []}
    for vs in src.get("variants") or [{}]:
        price = vs.get("price", "0.00")
        try:
            price = money(float(price))
        except (TypeError, ValueError):
            return None, "variants: price is not a number"
        v = {"id": next_id("variant"), "product_id": pid,
             "sku": vs.get("sku", ""), "price": price,
             "inventory_item_id": next_id("item"),
             "inventory_management": vs.get("inventory_management")}
        p["variants"].append(v)
        INVENTORY[v["inventory_item_id"]] = 0
        if v["sku"]:
            CREATIONS[v["sku"]] = CREATIONS.get(v["sku"], 0) + 1
    PRODUCTS.append(p)
    return p, None


def create_order(body):
    """The order of {"email", "line_items": [{"sku", "quantity"}]}."""
    if not isinstance(body, dict):
        return None, "order: required"
    items = body.get("line_items")
    if not isinstance(items, list) or not items:
        return None, "line_items: can't be blank"
    lines, total = [], 0.0
    for it in items:
        if not isinstance(it, dict):
            return None, "line_items: objects"
        p, v = variant_by_sku(it.get("sku"))
        qty = it.get("quantity")
        if v is None:
            return None, "line_items: no product with SKU %r" % it.get("sku")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
            return None, "line_items: quantity must be 1 or more"
        lines.append((p, v, qty))
        total += float(v["price"]) * qty
    order = {"id": next_id("order"), "name": "#%d" % next_id("name"),
             "email": body.get("email", ""), "currency": "EUR",
             "total_price": money(total), "created_at": now(),
             "line_items": []}
    for p, v, qty in lines:
        INVENTORY[v["inventory_item_id"]] = \
            INVENTORY.get(v["inventory_item_id"], 0) - qty
        order["line_items"].append({"id": next_id("line"), "sku": v["sku"],
                                    "title": p["title"], "quantity": qty,
                                    "price": v["price"],
                                    "product_id": p["id"],
                                    "variant_id": v["id"]})
    ORDERS.append(order)
    return order, None


def send_webhook(order, bad_signature=False):
    """POST order to --webhook-url as orders/create; agentd's HTTP code
    (0 when it could not be reached, None without a webhook URL)."""
    url = A.webhook_url
    if A.webhook_url_file:
        try:
            url = first_line(A.webhook_url_file).decode()
        except OSError:
            url = None
    if not url:
        return None
    raw = json.dumps(order).encode()
    key = SECRET + (b"-wrong" if bad_signature else b"")
    sig = base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest())
    req = urllib.request.Request(url, data=raw, method="POST",
                                 headers={
                                     "Content-Type": "application/json",
                                     "X-Shopify-Topic": "orders/create",
                                     "X-Shopify-Hmac-Sha256": sig.decode(),
                                     "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                                     "X-Shopify-Shop-Domain": A.shop})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (OSError, ValueError):
        status = 0
    with LOCK:
        WEBHOOKS.append({"topic": "orders/create", "status": status,
                         "order_id": order["id"]})
    return status


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
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.answer(400, {"errors": "the body is not JSON"})
        if parts[:1] == ["_fake"]:
            held = fakehold.control(self.command, parts[1:], body)
            if held is not None:
                return self.answer(*held)
            return self.fake(parts[1:], body)
        fakehold.wait(self.command, self.path.split("?")[0], "before")
        if parts[:3] != BASE:
            return self.answer(404, {"errors": "Not Found"})
        tok = self.headers.get("X-Shopify-Access-Token", "").encode()
        if not hmac.compare_digest(tok, TOKEN):
            return self.answer(401, {"errors": "[API] Invalid API key or "
                                     "access token (unrecognized login or "
                                     "wrong password)"})
        self.admin(parts[3:], query, body)

    def admin(self, parts, query, body):
        m, path = self.command, "/".join(parts)
        webhook = None
        with LOCK:
            if m == "GET" and path == "products.json":
                h = query.get("handle", [None])[0]
                out = [p for p in PRODUCTS if h is None or p["handle"] == h]
                return self.answer(200, {"products": out})
            if m == "POST" and path == "products.json":
                p, err = create_product(body)
                if err:
                    return self.answer(422, {"errors": err})
                return self.answer(201, {"product": p})
            g = re.fullmatch(r"(products|variants)/(\d+)\.json", path)
            if g and g.group(1) == "products" and m == "GET":
                for p in PRODUCTS:
                    if p["id"] == int(g.group(2)):
                        return self.answer(200, {"product": p})
                return self.answer(404, {"errors": "Not Found"})
            if g and g.group(1) == "variants" and m == "PUT":
                return self.put_variant(int(g.group(2)), body)
            if m == "GET" and path == "locations.json":
                return self.answer(200, {"locations": [
                    {"id": 1, "name": "Warehouse", "active": True}]})
            if m == "POST" and path == "inventory_levels/set.json":
                return self.set_level(body)
            if m == "GET" and path == "inventory_levels.json":
                ids = query.get("inventory_item_ids", [""])[0].split(",")
                out = [{"inventory_item_id": int(i), "location_id": 1,
                        "available": INVENTORY[int(i)], "updated_at": now()}
                       for i in ids if i.isdigit() and int(i) in INVENTORY]
                return self.answer(200, {"inventory_levels": out})
            if m == "GET" and path == "orders.json":
                return self.answer(200, {"orders": ORDERS})
            if m == "POST" and path == "orders.json":
                order, err = create_order(body.get("order")
                                          if isinstance(body, dict) else None)
                if err:
                    return self.answer(422, {"errors": err})
                webhook = copy.deepcopy(order)
                self.answer(201, {"order": order})
        if webhook is not None:
            threading.Thread(target=send_webhook, args=(webhook,),
                             daemon=True).start()
            return
        self.answer(404, {"errors": "Not Found"})

    def put_variant(self, vid, body):
        v = (body or {}).get("variant") if isinstance(body, dict) else None
        if not isinstance(v, dict):
            return self.answer(422, {"errors": "variant: required"})
        for _, have in variants():
            if have["id"] == vid:
                if "price" in v:
                    try:
                        have["price"] = money(float(v["price"]))
                    except (TypeError, ValueError):
                        return self.answer(422, {"errors":
                                                 "price is not a number"})
                    VARIANT_PRICES[have["sku"]] = have["price"]
                return self.answer(200, {"variant": have})
        self.answer(404, {"errors": "Not Found"})

    def set_level(self, body):
        if not isinstance(body, dict):
            return self.answer(422, {"errors": "a body is required"})
        iid, avail = body.get("inventory_item_id"), body.get("available")
        if body.get("location_id") != 1:
            return self.answer(422, {"errors": "location_id: not found"})
        if iid not in INVENTORY:
            return self.answer(422, {"errors": "inventory_item_id: "
                                     "not found"})
        if not isinstance(avail, int) or isinstance(avail, bool):
            return self.answer(422, {"errors": "available: an integer"})
        INVENTORY[iid] = avail
        self.answer(200, {"inventory_level": {
            "inventory_item_id": iid, "location_id": 1,
            "available": avail, "updated_at": now()}})

    def fake(self, parts, body):
        m = self.command
        if m == "GET" and parts == ["state"]:
            with LOCK:
                return self.answer(200, {
                    "creations": CREATIONS, "products": PRODUCTS,
                    "inventory": {str(k): v for k, v in INVENTORY.items()},
                    "orders": ORDERS, "variant_prices": VARIANT_PRICES,
                    "webhooks": WEBHOOKS})
        if m == "POST" and parts == ["order"]:
            with LOCK:
                order, err = create_order(body)
                order = copy.deepcopy(order)
            if err:
                return self.answer(422, {"errors": err})
            status = send_webhook(order, bool(body.get("bad_signature")))
            return self.answer(201, {"order": order,
                                     "webhook_status": status})
        self.answer(404, {"errors": "Not Found"})

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
    global LOG, A, TOKEN, SECRET
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--webhook-url")
    ap.add_argument("--webhook-url-file")
    ap.add_argument("--webhook-secret-file")
    ap.add_argument("--shop", default="demo-boutique.myshopify.com")
    ap.add_argument("--limit", type=float, default=300)
    A = ap.parse_args()
    TOKEN = first_line(A.token_file)
    if A.webhook_url or A.webhook_url_file:
        if not A.webhook_secret_file:
            ap.error("--webhook-url needs --webhook-secret-file")
        SECRET = first_line(A.webhook_secret_file)
    LOG = open(A.log, "a")
    srv = Server(("127.0.0.1", A.port), Handler)
    tmp = A.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, A.port_file)
    if A.limit > 0:
        threading.Timer(A.limit, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
