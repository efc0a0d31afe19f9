"""The shop in a real browser (tests/system/shop_console.sh runs it):
agentd with the shop's example configuration, as `make demo` runs it.
An operator signs in, sees the shop's agents, finds the product the CEO
agent escalated in the queue and approves it from the page; the feed
shows it published.  Screenshots of each view for doc/shop.md.  TAP
lines numbered from $T_FIRST; the last number goes to
$T_DIR/console.last.  Waits are for conditions, bounded.
"""

import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException,
    StaleElementReferenceException, TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

E = os.environ
URL = E["URL"]
T_DIR = E["T_DIR"]
TOK = E["TOK_OPER"]
SHOTS = E.get("AGENTD_CONSOLE_SHOTS", "")
SHOP = E["SHOP"]
SLOW = float(E.get("AGENTD_TEST_SLOW", "4"))
n = int(E.get("T_FIRST", "1")) - 1
failures = 0


def ok(cond, name):
    global n, failures
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name), flush=True)
    if not cond:
        failures += 1
    return cond


def diag(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


def slow(seconds):
    return seconds * max(1.0, SLOW / 4)


def http(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOK)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def until(cond, seconds):
    end = time.time() + slow(seconds)
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


opts = webdriver.ChromeOptions()
opts.binary_location = E.get("CHROMIUM", "/usr/bin/chromium")
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1280,800", "--user-data-dir=" + T_DIR + "/chromium",
          "--no-first-run", "--disable-extensions", "--disable-background-networking"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
d = webdriver.Chrome(service=Service(E.get("CHROMEDRIVER", "chromedriver")), options=opts)


def wait(cond, seconds=5):
    try:
        return WebDriverWait(d, slow(seconds), 0.05, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException)).until(
            lambda _: cond())
    except TimeoutException:
        return False


def q(css):
    found = d.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None


def visible(css):
    e = q(css)
    return e is not None and e.is_displayed()


def shot(name):
    """A screenshot of the viewport at 1280x800 (a PNG), copied to
    $AGENTD_CONSOLE_SHOTS when set (doc/shop.md's pictures)."""
    path = os.path.join(T_DIR, name)
    d.save_screenshot(path)
    data = open(path, "rb").read()
    if SHOTS:
        with open(os.path.join(SHOTS, name), "wb") as f:
            f.write(data)
    iw, ih = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    good = data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    if not good or iw != 1280:
        diag("%s: %d bytes, %dx%d" % (name, len(data), iw, ih))
    return good and iw == 1280


def text(css):
    e = q(css)
    return e.text if e is not None else ""


def creations(sku):
    with urllib.request.urlopen(SHOP + "/_fake/state", timeout=10) as r:
        return json.loads(r.read()).get("creations", {}).get(sku, 0)


SHOP_AGENTS = {"flow", "scout", "vetting", "pricing", "ceo", "publisher",
               "fulfilment", "inventory", "promotions", "catalog",
               "concierge", "llm"}

try:
    d.get(URL + "/")
    ok(wait(lambda: visible("#token")), "the page asks for a token")
    q("#token").send_keys(TOK, Keys.ENTER)
    names = lambda: {e.get_attribute("data-agent") for e in
                     d.find_elements(By.CSS_SELECTOR, "#agents tbody tr")}
    ok(wait(lambda: SHOP_AGENTS <= names(), 10),
       "the shop's agents appear in the overview")
    ok(shot("shop-overview.png"), "a screenshot of the overview")
    q('#tabs button[data-view="approvals"]').click()
    card = lambda: next((c for c in d.find_elements(By.CSS_SELECTOR, "#approval-list li[data-id]")
                         if "escalated" in c.text), None)
    ok(wait(lambda: card() is not None, 10), "the escalated product waits in the queue")
    c = card()
    did = c.get_attribute("data-id")
    ok(c.find_element(By.CSS_SELECTOR, ".agent").text == "flow",
       "its card: proposed by the flow agent's approval step")
    d.execute_script("arguments[0].scrollIntoView()", c)
    ok(shot("shop-approvals.png"), "a screenshot of the queue, at its card")
    ok(creations("ESP-3") == 0, "nothing is published before a person approves")
    c.find_element(By.CSS_SELECTOR, ".approve").click()
    ok(wait(lambda: q('#approval-list li[data-id="%s"]' % did) is None), "Approve removes the card")
    ok(until(lambda: creations("ESP-3") == 1, 30), "the publisher creates ESP-3 on the shop")
    q('#tabs button[data-view="feed"]').click()
    ok(wait(lambda: "product.published" in text("#feed-list") and "ESP-3" in text("#feed-list"), 10),
       "the feed shows it published")
    ok(shot("shop-feed.png"), "a screenshot of the feed")
    logs = d.get_log("browser")
    bad = [x for x in logs if x["level"] == "SEVERE" and x.get("source") != "network"]
    for x in bad:
        diag(x)
    ok(not bad, "no JavaScript error in the browser's console")
except Exception:
    ok(False, "the browser run went to its end")
    diag(traceback.format_exc())
finally:
    d.quit()
    open(T_DIR + "/console.last", "w").write(str(n))
sys.exit(1 if failures else 0)
