"""Drives the web UI in Debian's Chromium (never a downloaded browser) with Playwright: from
Performance to POST /chat, its p95–p99 band, the slowest sample and its transaction, which must
show the retry group with three 429s. Fails on any console error or HTTP error; saves a
screenshot of each view.

usage: browser_check.py BASE_URL QUERY SCREENSHOT_DIR   (QUERY: the range, e.g. from=…&to=…)
"""

import json
import pathlib
import sys

from playwright.sync_api import sync_playwright

base, query, shots = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
shots.mkdir(parents=True, exist_ok=True)
problems = []
visited = []

with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)

    def shot(name):
        visited.append(page.url)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=False)

    page.goto(f"{base}/performance?{query}")
    shot("performance")
    row = page.locator("table.grid tbody tr", has_text="POST /chat")
    row.get_by_role("link", name="p95–p99 samples").click()
    page.wait_for_url("**/samples?**")
    shot("samples")
    page.locator("a.sample").first.click()
    page.wait_for_url("**/transaction/**")
    retry = page.locator("p.retry").first.inner_text()
    page.locator("details.span.critical").first.click()
    shot("transaction")
    page.goto(f"{base}/performance?table=dependencies&{query}")
    shot("dependencies")
    page.get_by_role("link", name="Failures").click()
    page.wait_for_url("**/failures**")
    shot("failures")
    page.get_by_role("link", name="Map").click()
    page.wait_for_url("**/map**")
    shot("map")
    page.locator("svg.map a", has_text="calls").first.click()
    page.wait_for_url("**table=dependencies**")
    page.get_by_role("link", name="GenAI").click()
    page.wait_for_url("**/genai**")
    shot("genai")
    page.get_by_role("link", name="Logs").click()
    page.wait_for_url("**/logs**")
    page.fill("input[name=q]", "call 50")
    page.click("button[type=submit]")
    page.wait_for_url("**q=call**")
    logs = page.locator("table.grid tbody tr").count()
    shot("logs")
    browser.close()

print(json.dumps({"retry": retry, "logs": logs, "problems": problems, "visited": visited}))
