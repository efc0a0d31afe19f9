"""The README's demo in a real browser (tests/system/console_demo.sh runs
it): agentd with the repository's conf.d, as `make demo` runs it.  A
newcomer signs in with an operator token, sees the demo's agents, finds
pricing's sample decision waiting and approves it from the page; pricing
applies the price.  TAP lines numbered from $T_FIRST; the last number
goes to $T_DIR/console.last.  Waits are for conditions, bounded.
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


def applied():
    st, ans = http("POST", "/v1/agents/pricing/call", {"get": "DEMO-MUG"})
    return ans if st == 200 else None


try:
    d.get(URL + "/")
    ok(wait(lambda: visible("#token")), "the page asks for a token")
    q("#token").send_keys(TOK, Keys.ENTER)
    ok(wait(lambda: {e.get_attribute("data-agent") for e in
                     d.find_elements(By.CSS_SELECTOR, "#agents tbody tr")} == {"echo", "pricing"}),
       "the demo's agents appear: echo and pricing")
    q('#tabs button[data-view="approvals"]').click()
    card = lambda: next((c for c in d.find_elements(By.CSS_SELECTOR, "#approval-list li[data-id]")
                         if "DEMO-MUG" in c.text), None)
    ok(wait(lambda: card() is not None, 10), "pricing's sample decision waits in the queue")
    c = card()
    did = c.get_attribute("data-id")
    ok("14.61" in c.text and c.find_element(By.CSS_SELECTOR, ".agent").text == "pricing",
       "its card: the new price, by pricing")
    ok(applied() is None, "no price is applied before a person approves")
    c.find_element(By.CSS_SELECTOR, ".approve").click()
    ok(wait(lambda: q('#approval-list li[data-id="%s"]' % did) is None), "Approve removes the card")
    ok(until(lambda: applied() is not None, 10), "pricing applies the price")
    a = applied() or {}
    ok(a.get("price") == 14.61 and a.get("by") == "http (oper1)" and a.get("applied") == 1,
       "14.61, approved by the token's name, once (%s)" % a)
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
