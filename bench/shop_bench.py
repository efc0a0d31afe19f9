#!/usr/bin/env python3
"""shop_bench - the shop's throughput (issue 26; doc/performance.md).

    python3 bench/shop_bench.py --srcdir DIR --builddir DIR
        [--products N] [--orders N] [--inflight K] [--runs R]

Starts, in a temporary folder on loopback, the fakes of tests/tools (the
supplier catalog, the shop, the language model) and a real agentd with
the shop's example configuration (contrib/shop/mkconf.sh), as `make demo`
does, then measures twice per run:

  products  N products through the whole pipeline (flow: scout, vetting,
            pricing, ceo with the llm agent, publisher), K runs in flight,
            every decision taken by the CEO at once (no person); a run's
            time is from its start call to its product.published event
            (read from agentd's event stream);
  orders    N orders through the shop's webhook: the shop's fake signs
            and posts each to agentd, fulfilment proposes the supplier
            order (low), and places it; an order's time is from the post
            to the supplier's receipt.

Against, in the same run, the same HTTP calls made directly by this
script (K threads, no agentd): what a team would write instead, and
what the fakes themselves can answer.  Prints throughput, p50 and p99,
the ratio agentd / direct, and the CPU time of agentd, of each agent's
workers and of the fakes per product or order.  The fakes are python:
they bound both rows alike.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

A = None
PROCS = []
TICK = os.sysconf("SC_CLK_TCK")


def die(msg):
    print("shop_bench: " + msg, file=sys.stderr)
    sys.exit(1)


def http(method, url, body=None, headers=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, None


def until(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(0.05)
    die("timed out: " + what)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def cpu_of(pid):
    """utime + stime of a process, in seconds (0 once it is gone)."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


class Shop:
    """The fakes and agentd in a temporary folder."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="agentd-shop-bench.")
        os.chmod(self.dir, 0o711)
        self.ctl = [os.path.join(A.builddir, "runtime", "agentctl"),
                    "--run-dir", os.path.join(self.dir, "run")]

    def fake(self, name, *args):
        pf = os.path.join(self.dir, name + ".port")
        p = subprocess.Popen(
            [sys.executable, os.path.join(A.srcdir, "tests", "tools", name + ".py"),
             "--port-file", pf, "--log", os.path.join(self.dir, name + ".log"),
             "--limit", "3600"] + list(args),
            stderr=open(os.path.join(self.dir, name + ".err"), "w"))
        PROCS.append(p)
        until(lambda: os.path.getsize(pf) > 0, 10, name + " to start")
        setattr(self, name.replace("fake", ""), p)
        return int(open(pf).read())

    def mkconf(self, shop_port):
        subprocess.check_call(
            ["sh", os.path.join(A.srcdir, "contrib", "shop", "mkconf.sh"), A.srcdir,
             os.path.join(self.dir, "shop"), "127.0.0.1:0", str(self.sup_port),
             str(shop_port), str(self.llm_port)])

    def start(self):
        self.sup_port = self.fake("fakesupplier")
        self.llm_port = self.fake("fakellm")
        self.mkconf(0)
        etc = os.path.join(self.dir, "shop", "etc", "shop")
        self.hook_file = os.path.join(self.dir, "webhook.url")
        self.shop_port = self.fake("fakeshop", "--token-file", os.path.join(etc, "token"),
                                   "--webhook-secret-file", os.path.join(etc, "webhook.secret"),
                                   "--webhook-url-file", self.hook_file)
        self.mkconf(self.shop_port)
        self.SUP = "http://127.0.0.1:%d" % self.sup_port
        self.SHOP = "http://127.0.0.1:%d" % self.shop_port
        self.LLM = "http://127.0.0.1:%d" % self.llm_port
        conf = os.path.join(self.dir, "shop", "conf")
        env = dict(os.environ, AGENTD_WORKER=os.path.join(A.builddir, "runtime", "agentd-worker"))
        self.agentd = subprocess.Popen(
            [os.path.join(A.builddir, "runtime", "agentd"), "--confdir", conf,
             "--state-dir", os.path.join(self.dir, "state"),
             "--run-dir", os.path.join(self.dir, "run"),
             "--plugin-dir", os.path.join(A.builddir, "plugins", ".libs"), "--foreground"],
            env=env, stderr=open(os.path.join(self.dir, "agentd.log"), "w"))
        PROCS.append(self.agentd)
        until(self.ready, 120, "every agent ready")
        addr = os.path.join(self.dir, "run", "http.addr")
        until(lambda: os.path.getsize(addr) > 0, 10, "agentd's HTTP address")
        self.URL = "http://" + open(addr).read().strip()
        with open(self.hook_file, "w") as f:
            f.write(self.URL + "/hooks/shop/orders\n")
        self.token = subprocess.check_output(
            self.ctl + ["token", "create", "bench", "--role", "operator"]).decode().strip()

    def status(self):
        return json.loads(subprocess.check_output(self.ctl + ["--json", "status"],
                                                  stderr=subprocess.DEVNULL))

    def ready(self):
        return all(a.get("ready", 0) >= 1 for a in self.status()["agents"])

    def workers(self):
        """pid -> agent name of every ready instance."""
        out = {}
        for a in self.status()["agents"]:
            for i in a.get("instances", []):
                if i.get("pid"):
                    out[i["pid"]] = a["name"]
        return out

    def call(self, agent, body, timeout=60):
        return http("POST", "%s/v1/agents/%s/call" % (self.URL, agent), body,
                    {"Authorization": "Bearer " + self.token}, timeout)

    def stop(self):
        self.agentd.send_signal(signal.SIGTERM)
        try:
            self.agentd.wait(30)
        except subprocess.TimeoutExpired:
            self.agentd.kill()
        for p in PROCS:
            if p.poll() is None:
                p.terminate()
        shutil.rmtree(self.dir, ignore_errors=True)


class Cpu:
    """CPU seconds of agentd, of each agent's workers and of the fakes
    between begin() and end()."""

    def __init__(self, shop):
        self.shop = shop

    def sample(self):
        s = {"agentd": cpu_of(self.shop.agentd.pid),
             "fakes": sum(cpu_of(p.pid) for p in (self.shop.supplier, self.shop.shop, self.shop.llm))}
        for pid, agent in self.shop.workers().items():
            s["w:" + agent] = s.get("w:" + agent, 0.0) + cpu_of(pid)
        return s

    def begin(self):
        self.a = self.sample()

    def end(self):
        b = self.sample()
        return {k: b[k] - self.a.get(k, 0.0) for k in b}


def pool(n, k, work):
    """work(i) for i in 0..n-1 on k threads; the list of what each returned."""
    out = [None] * n
    nxt = [0]
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            out[i] = work(i)

    ts = [threading.Thread(target=run) for _ in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


class Events:
    """agentd's event stream under a prefix: topic, body and arrival time."""

    def __init__(self, shop, prefix):
        self.got = {}
        self.lock = threading.Lock()
        req = urllib.request.Request("%s/v1/events/stream?prefix=%s" % (shop.URL, prefix))
        req.add_header("Authorization", "Bearer " + shop.token)
        self.r = urllib.request.urlopen(req, timeout=600)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.r:
            if line.startswith(b"data: "):
                ev = json.loads(line[6:])
                sku = (ev.get("body") or {}).get("sku")
                with self.lock:
                    self.got.setdefault(sku, time.time())

    def count(self, skus):
        with self.lock:
            return sum(1 for s in skus if s in self.got)


def add_products(shop, prefix, n):
    _, lamp = http("GET", shop.SUP + "/v1/products/LAMP-1")
    for i in range(n):
        sku = "%s-%d" % (prefix, i)
        p = dict(lamp, sku=sku, title="bench lamp " + sku, tags=[sku.lower()])
        st, _ = http("POST", shop.SUP + "/_fake/product", p)
        if st != 200:
            die("the supplier fake did not take product %s (%s)" % (sku, st))


def products_direct(shop, n, k):
    """The pipeline's HTTP calls, made by this script: catalog search,
    supplier, the model's rationale, the shop's handle lookup, create,
    location and inventory level."""
    tok = open(os.path.join(shop.dir, "shop", "etc", "shop", "token")).read().strip()
    H = {"X-Shopify-Access-Token": tok}
    adm = shop.SHOP + "/admin/api/2024-01"

    def one(i):
        sku = "DIRECT-%d" % i
        t0 = time.time()
        _, c = http("GET", "%s/v1/products?q=%s&limit=10" % (shop.SUP, sku.lower()))
        p = c["products"][0]
        http("GET", "%s/v1/suppliers/%s" % (shop.SUP, p["supplier_id"]))
        http("POST", shop.LLM + "/s/shop/v1/chat/completions",
             {"model": "m", "messages": [
                 {"role": "system", "content": "You are the CEO of a small online shop."},
                 {"role": "user", "content": "Product %s: decision approve. Why?" % sku}]})
        http("GET", "%s/products.json?handle=%s" % (adm, sku.lower()), headers=H)
        _, made = http("POST", adm + "/products.json", {"product": {
            "title": p["title"], "handle": sku.lower(), "status": "active",
            "variants": [{"sku": sku, "price": "22.81", "inventory_management": "shopify"}]}}, H)
        _, loc = http("GET", adm + "/locations.json", headers=H)
        http("POST", adm + "/inventory_levels/set.json", {
            "location_id": loc["locations"][0]["id"],
            "inventory_item_id": made["product"]["variants"][0]["inventory_item_id"],
            "available": p["stock"]}, H)
        return time.time() - t0

    t0 = time.time()
    lat = pool(n, k, one)
    return n / (time.time() - t0), lat


def products_agentd(shop, n, k, run):
    skus = ["BENCH%d-%d" % (run, i) for i in range(n)]
    ev = Events(shop, "product.published")
    started = {}

    def one(i):
        sku = skus[i]
        started[sku] = time.time()
        st, ans = shop.call("flow", {"op": "start", "workflow": "pipeline",
                                     "input": {"query": sku.lower()}})
        if st != 200:
            die("start %s: HTTP %s" % (sku, st))
        # keep K runs in flight: wait for this one's product
        end = time.time() + 120
        while sku not in ev.got:
            if time.time() > end:
                die("run for %s did not publish (run %s)" % (sku, ans))
            time.sleep(0.002)
        return ev.got[sku] - started[sku]

    t0 = time.time()
    lat = pool(n, k, one)
    return n / (time.time() - t0), lat


def orders_direct(shop, skus, k):
    """What fulfilment does for an order, by this script: the supplier's
    cost of the line, then the supplier order."""
    def one(i):
        sku = skus[i % len(skus)]
        t0 = time.time()
        http("GET", "%s/v1/products/%s" % (shop.SUP, sku))
        http("POST", shop.SUP + "/v1/orders", {"sku": sku, "quantity": 1,
                                               "reference": "direct-%d" % i},
             {"Idempotency-Key": "direct-%d/%s" % (i, sku)})
        return time.time() - t0

    t0 = time.time()
    lat = pool(A.orders, k, one)
    return A.orders / (time.time() - t0), lat


def orders_agentd(shop, skus, k, run):
    """K customers at a time check out on the shop; the shop's fake posts
    each order to agentd's webhook and answers once agentd took it.  An
    order's time ends when the supplier's fake placed it (placed_ms)."""
    def one(i):
        sku = skus[i % len(skus)]
        t0 = time.time()
        st, o = http("POST", shop.SHOP + "/_fake/order", {
            "email": "bench%d-%d@example.com" % (run, i),
            "line_items": [{"sku": sku, "quantity": 1}]})
        if st not in (200, 201) or o.get("webhook_status") not in (200, 202):
            die("order %d: HTTP %s, webhook %s" % (i, st, o and o.get("webhook_status")))
        return t0, "%s/%s" % (o["order"]["id"], sku)

    t0 = time.time()
    sent = pool(A.orders, k, one)
    keys = {key for _, key in sent}
    got = {}

    def all_placed():
        _, st = http("GET", shop.SUP + "/_fake/orders")
        for o in st["orders"]:
            key = o.get("idempotency_key")
            if key in keys:
                got[key] = o["placed_ms"] / 1000.0
        return len(got) == len(keys)

    until(all_placed, 300, "every order placed with the supplier")
    lat = [got[key] - t for t, key in sent]
    return A.orders / (max(got.values()) - t0), lat


def row(name, rate, lat, unit):
    print("  %-28s %9.1f %s/s   p50 %7.1f ms   p99 %7.1f ms"
          % (name, rate, unit, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3))


def cpu_lines(cpu, n, unit):
    agents = sorted(((v, k[2:]) for k, v in cpu.items() if k.startswith("w:")), reverse=True)
    plugins = sum(v for v, _ in agents)
    total = cpu["agentd"] + plugins
    print("  CPU per %s: agentd %.2f ms, plugins %.2f ms (%s), fakes %.2f ms; agentd's share %.0f%%"
          % (unit, cpu["agentd"] / n * 1e3, plugins / n * 1e3,
             ", ".join("%s %.2f" % (a, v / n * 1e3) for v, a in agents[:5]),
             cpu["fakes"] / n * 1e3, 100.0 * cpu["agentd"] / total if total else 0))


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--products", type=int, default=200)
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--inflight", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    A = ap.parse_args()
    A.srcdir = os.path.abspath(A.srcdir)
    A.builddir = os.path.abspath(A.builddir)
    shop = Shop()
    try:
        shop.start()
        cpu = Cpu(shop)
        res = {"pd": [], "pa": [], "od": [], "oa": []}
        for run in range(A.runs):
            print("run %d of %d: %d products, %d orders, %d in flight"
                  % (run + 1, A.runs, A.products, A.orders, A.inflight), flush=True)
            add_products(shop, "DIRECT", A.products) if run == 0 else None
            add_products(shop, "BENCH%d" % run, A.products)
            # the direct rows create DIRECT-i again: the shop's fake
            # suffixes the handle, as Shopify does; it costs the same
            pd = products_direct(shop, A.products, A.inflight)
            cpu.begin()
            pa = products_agentd(shop, A.products, A.inflight, run)
            pc = cpu.end()
            skus = ["BENCH%d-%d" % (run, i) for i in range(A.products)]
            od = orders_direct(shop, skus, A.inflight)
            cpu.begin()
            oa = orders_agentd(shop, skus, A.inflight, run)
            oc = cpu.end()
            row("products, direct", pd[0], pd[1], "products")
            row("products, through agentd", pa[0], pa[1], "products")
            print("  ratio agentd / direct: %.2f" % (pa[0] / pd[0]))
            cpu_lines(pc, A.products, "product")
            row("orders, direct", od[0], od[1], "orders")
            row("orders, through agentd", oa[0], oa[1], "orders")
            print("  ratio agentd / direct: %.2f" % (oa[0] / od[0]))
            cpu_lines(oc, A.orders, "order")
            for k, v in (("pd", pd), ("pa", pa), ("od", od), ("oa", oa)):
                res[k].append(v)
        med = lambda k, f: statistics.median(f(x) for x in res[k])
        print("\nmedians of %d runs (%d products, %d orders, %d in flight):"
              % (A.runs, A.products, A.orders, A.inflight))
        for k, name in (("pd", "products, direct"), ("pa", "products, through agentd"),
                        ("od", "orders, direct"), ("oa", "orders, through agentd")):
            print("  %-28s %9.1f /s   p50 %7.1f ms   p99 %7.1f ms" % (
                name, med(k, lambda x: x[0]), med(k, lambda x: pct(x[1], 50)) * 1e3,
                med(k, lambda x: pct(x[1], 99)) * 1e3))
        print("  ratio products: %.2f   ratio orders: %.2f" % (
            statistics.median(a[0] / d[0] for a, d in zip(res["pa"], res["pd"])),
            statistics.median(a[0] / d[0] for a, d in zip(res["oa"], res["od"]))))
    finally:
        shop.stop()


if __name__ == "__main__":
    main()
