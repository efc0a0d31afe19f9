"""The command center's first render with a large agentd (issue 24):
bench/console_bench.sh starts agentd with AGENTS agents of INSTANCES
instances each and PENDING HIGH decisions waiting, then runs this.

For each of RUNS loads of the page (a token already in sessionStorage,
as after sign-in), in headless chromium through chromedriver, it reads
the page's own marks (runtime/console/app.js): console-overview (the
status read and every agent's row drawn) and console-approvals (the
queue's first page drawn), in ms since the navigation started, and
prints one line per view: median, min and max.
"""
import os
import statistics
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

E = os.environ
URL, TOKEN, RUNS = E["URL"], E["TOKEN"], int(E.get("RUNS", "7"))
opts = webdriver.ChromeOptions()
opts.binary_location = E.get("CHROMIUM", "/usr/bin/chromium")
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1280,800", "--user-data-dir=" + E["BENCH_DIR"] + "/chromium"):
    opts.add_argument(a)
d = webdriver.Chrome(service=Service(E.get("CHROMEDRIVER", "chromedriver")), options=opts)
d.get(URL + "/")
d.execute_script("sessionStorage.setItem('agentd.token', arguments[0])", TOKEN)
MARK = "return (performance.getEntriesByName(arguments[0])[0] || {}).startTime"
res = {"overview": [], "approvals": []}
rows = cards = 0
for view in ("overview", "approvals"):
    for i in range(RUNS + 1):  # the first load warms the cache up
        d.get(URL + "/#" + view)
        d.refresh()
        WebDriverWait(d, 60, 0.02).until(lambda _: d.execute_script(MARK, "console-approvals"))
        t = d.execute_script(MARK, "console-" + view)
        if i:
            res[view].append(t)
        rows = d.execute_script("return document.querySelectorAll('#agents tbody tr').length")
        cards = d.execute_script("return document.querySelectorAll('#approval-list li').length")
d.quit()
for view, ts in res.items():
    print("console view=%s agents_drawn=%d cards_drawn=%d runs=%d median_ms=%.0f min_ms=%.0f max_ms=%.0f"
          % (view, rows, cards, len(ts), statistics.median(ts), min(ts), max(ts)))
