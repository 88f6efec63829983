#!/usr/bin/env python3
"""The console in a real browser for bench/console.sh: Debian's chromium (headless, 1280x800)
through chromedriver and python3-selenium. Signs in with the token, then loads each page RUNS
times: the time of one load is from the navigation's start (the page's performance.timeOrigin)
until the page shows what it is for, read in the page (performance.now()), so WebDriver's own
round trips are not counted:
  list         /ui/executions: every status count shown, and 50 rows in `main table tbody tr`
               (all there are if the count of the status shown is below 50)
  list_failed  /ui/executions?status=failed: the same, every row failed
  execution    /ui/executions/ID: [data-test=timeline] present
After the list: the rows in the DOM (a page, never everything), the DOM's element count, and
the JS heap (performance.memory.usedJSHeapSize, precise, after a garbage collection).
Prints one JSON line of medians (ms) and those figures.

Usage: console-browser.py BASE_URL TOKEN EXECUTION_ID [RUNS=5]
"""
import json
import statistics
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

base, token, exec_id = sys.argv[1], sys.argv[2], sys.argv[3]
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
PAGE = 50

# Resolves (with performance.now()) once the page named by the argument (`list` or `execution`)
# is ready, checked on every animation frame. (No eval: the console's CSP forbids it.)
WAIT_JS = f"""
const want = arguments[0], done = arguments[arguments.length - 1];
function ready() {{
  if (want === 'execution') return !!document.querySelector('[data-test=timeline]');
  const counts = [...document.querySelectorAll('.counts .count-n')];
  if (!counts.length || counts.some((c) => c.textContent.trim() === '\u2014')) return false;
  // A full page, or all there are when fewer: the count of the status shown (its button is pressed).
  const shown = document.querySelector('.counts [aria-pressed=true] .count-n');
  const total = shown ? Number(shown.textContent.replace(/[^0-9]/g, '')) : {PAGE};
  return document.querySelectorAll('main table tbody tr').length === Math.min({PAGE}, total);
}}
(function check() {{
  if (ready()) done(performance.now()); else requestAnimationFrame(check);
}})();
"""
LIST_READY, EXEC_READY = "list", "execution"

profile = tempfile.TemporaryDirectory(prefix="bench-console-chromium-")
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1280,800", "--lang=en-US", "--enable-precise-memory-info",
          "--js-flags=--expose-gc", f"--user-data-dir={profile.name}"]:
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
driver.set_script_timeout(60)
driver.set_page_load_timeout(60)
out = {}
try:
    # Sign in (the token is kept in the tab's sessionStorage, so later navigations stay signed in).
    driver.get(f"{base}/ui/executions")
    WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.CSS_SELECTOR, "input#token")))
    driver.find_element(By.CSS_SELECTOR, "input#token").send_keys(token)
    driver.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
    driver.execute_async_script(WAIT_JS, LIST_READY)

    def timed(path, ready):
        times = []
        for _ in range(runs):
            driver.get(base + path)
            times.append(driver.execute_async_script(WAIT_JS, ready))
        return round(statistics.median(times), 1), [round(t, 1) for t in times]

    out["ui_list_ms"], out["ui_list_runs"] = timed("/ui/executions", LIST_READY)
    out["rows_in_dom"] = driver.execute_script("return document.querySelectorAll('main table tbody tr').length")
    out["dom_elements"] = driver.execute_script("return document.getElementsByTagName('*').length")
    out["js_heap_mb"] = round(driver.execute_script(
        "if (window.gc) window.gc(); return performance.memory.usedJSHeapSize") / 1048576, 2)

    out["ui_list_failed_ms"], out["ui_list_failed_runs"] = timed("/ui/executions?status=failed", LIST_READY)
    out["rows_in_dom_failed"] = driver.execute_script("return document.querySelectorAll('main table tbody tr').length")
    out["failed_rows_all_failed"] = driver.execute_script(
        "return [...document.querySelectorAll('main table tbody tr')].every((r) => r.querySelector('.status-failed'))")

    out["ui_execution_ms"], out["ui_execution_runs"] = timed(f"/ui/executions/{exec_id}", EXEC_READY)
    out["page_errors"] = driver.execute_script("return window.__errors || []")
finally:
    driver.quit()
    profile.cleanup()
print(json.dumps(out))
