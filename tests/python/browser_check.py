"""Drives the web UI in Debian's Chromium (never a downloaded browser) with Playwright: from
Performance to POST /chat, its p95–p99 band, the slowest sample and its transaction, which must
show the retry group with three 429s; a histogram bar to its samples; every other view
(Infrastructure and Alerts included); and the
Live view, which must pick up a newly posting instance by itself. Fails on any console error or
HTTP error; saves a screenshot of each view.

usage: browser_check.py BASE_URL QUERY SCREENSHOT_DIR INGEST_URL WIDE_TRANSACTION_PATH
       (QUERY: the range, e.g. from=…&to=…; INGEST_URL: where Live Metrics are posted;
        WIDE_TRANSACTION_PATH: a transaction of thousands of spans, opened to count its rows)
"""

import json
import pathlib
import sys
import urllib.request

from playwright.sync_api import sync_playwright

base, query, shots, ingest, wide = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4], sys.argv[5]
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
    page.locator("a.operation", has_text="POST /chat").click()
    page.wait_for_url("**operation=POST**")
    shot("performance")
    page.locator("section.detail-panel a.band", has_text="p95–p99").click()
    page.wait_for_url("**/samples?**")
    cause = page.locator("td.cause").first.inner_text()
    shot("samples")
    page.go_back()
    page.wait_for_url("**operation=POST**")
    page.locator(".chart a").last.click()
    page.wait_for_url("**min_ms=**")
    histogram_samples = page.locator("a.sample").count()
    page.locator("a.sample").first.click()
    page.wait_for_url("**/transaction/**")
    retry = page.locator("p.retry").first.inner_text()
    page.locator("details.span.critical").first.click()
    shot("transaction")
    page.goto(f"{base}{wide}")
    wide_rows = page.locator("details.span").count()
    page.locator("details.span").last.click()
    shot("wide-transaction")
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
    page.get_by_role("link", name="Infrastructure").click()
    page.wait_for_url("**/infrastructure**")
    shot("infrastructure")
    page.get_by_role("link", name="Alerts").click()
    page.wait_for_url("**/alerts**")
    shot("alerts")
    page.get_by_role("link", name="Logs").click()
    page.wait_for_url("**/logs**")
    page.fill("input[name=q]", "call 50")
    page.click("button[type=submit]")
    page.wait_for_url("**q=call**")
    logs = page.locator("table.grid tbody tr").count()
    shot("logs")
    page.get_by_role("link", name="Query").click()
    page.wait_for_url("**/query**")
    page.fill("textarea[name=q]", "AppRequests\n| summarize TotalRequests = count(), ErrorRequests = countif(ResultCode >= 500) by bin(TimeGenerated, 1m)\n| extend ErrorRate = ErrorRequests * 100.0 / TotalRequests\n| render timechart")
    page.click("form.query button[type=submit]")
    page.wait_for_url("**q=AppRequests**")
    query_rows = page.locator("div.results table.grid tbody tr").count()
    query_chart = page.locator("div.chart svg").count()
    query_header = page.locator("div.results table.grid thead").inner_text()
    shot("query")
    page.get_by_role("link", name="Live").click()
    page.wait_for_url("**/live**")
    point = [{
        "Version": "1", "InvariantVersion": 5, "Instance": "pod-late", "RoleName": "chat-api",
        "Metrics": [
            {"Name": "\\ApplicationInsights\\Requests/Sec", "Value": 4.0, "Weight": 1},
            {"Name": "\\Processor(_Total)\\% Processor Time", "Value": 37.5, "Weight": 1},
        ],
    }]
    urllib.request.urlopen(urllib.request.Request(
        f"{ingest}/QuickPulseService.svc/post?ikey=browser", data=json.dumps(point).encode(),
        headers={"content-type": "application/json"}, method="POST"))
    page.locator("#live td", has_text="pod-late").wait_for(timeout=10_000)
    live = page.locator("#live tr", has_text="pod-late").inner_text()
    shot("live")
    browser.close()

print(json.dumps({
    "retry": retry, "cause": cause, "histogram_samples": histogram_samples, "logs": logs,
    "query_rows": query_rows, "query_chart": query_chart, "query_header": query_header,
    "live": live, "wide_rows": wide_rows, "problems": problems, "visited": visited,
}))
