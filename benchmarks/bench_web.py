"""Web dashboard speed: first rows, main-thread time per update, and what an unchanged poll costs.

    .venv/bin/python benchmarks/bench_web.py [--sizes 1000,10000] [--updates 15]

For each size it seeds a database in a temporary folder, serves it with a real
DispatcherServer (Waitress) and drives the page in headless chromium
(/usr/bin/chromium, through Playwright):

  first rows       navigation start -> the first rows are in the table (the page's
                   "rfconsole-first-rows" mark), and the wall time until they are visible
  all loaded       navigation start -> every run is in the table
  update           while 20 runs change every second, how long each update holds the
                   page's main thread (its "rfconsole-update" measures), the long tasks
                   (> 50 ms, PerformanceObserver "longtask") that overlap an update, and
                   any long task in that period
  scroll / sort    main-thread time of a jump to the middle of the table and of a sort
  304              server-side cost of an unchanged poll (If-None-Match), in-process
                   through Flask's test client, p50 / p95
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_dispatcher import seed
from playwright.sync_api import sync_playwright
from rfconsole.db import Store, runs
from rfconsole.dispatcher import create_app
from rfconsole.dispatcher.server import DispatcherServer

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LONGTASKS = """() => { window.__longtasks = [];
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true }); }"""
UPDATES = "() => performance.getEntriesByName('rfconsole-update').map(e => [e.startTime, e.duration])"


def overlapping(tasks: list[list[float]], updates: list[list[float]]) -> list[float]:
    """The long tasks during which an update ran (the update's share of blocking the page)."""
    return [length for start, length in tasks
            if any(u_start <= start + length and start <= u_start + u_length for u_start, u_length in updates)]


def poll_cost(app: Any, rounds: int = 300) -> tuple[float, float]:
    client = app.test_client()
    etag = client.get("/dispatcher/get-all-runs").headers["ETag"]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get("/dispatcher/get-all-runs", headers={"If-None-Match": etag})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 304
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)]


def measure(browser: Any, store: Store, ids: list[int], updates: int) -> dict[str, Any]:
    server = DispatcherServer(create_app(store), host="127.0.0.1", port=0)
    server.start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        page.add_init_script(f"({LONGTASKS})()")
        started = time.perf_counter()
        page.goto(server.url + "/")
        page.locator("#runs-body tr[data-id]").first.wait_for(timeout=60_000)
        wall_first = (time.perf_counter() - started) * 1000
        page.locator("body[data-loaded=true]").wait_for(timeout=120_000)
        first = page.evaluate("() => performance.getEntriesByName('rfconsole-first-rows')[0].startTime")
        loaded = page.evaluate("() => performance.now()")
        load_tasks = [length for _, length in page.evaluate("() => window.__longtasks.splice(0)")]
        page.wait_for_timeout(3000)  # the sparklines of the rows in view arrive
        page.evaluate("() => { window.__longtasks.splice(0); performance.clearMeasures('rfconsole-update'); }")
        step = max(1, len(ids) // 20)
        for round_ in range(updates):
            with store.write() as session:
                for run_id in ids[round_ % step::step][:20]:
                    runs.update_run(session, run_id, metrics={"val_loss": 1 / (round_ + 2), "val_accuracy": 0.5})
            page.wait_for_timeout(1000)
        page.wait_for_timeout(1500)
        updates_seen = page.evaluate(UPDATES)
        tasks_seen = page.evaluate("() => window.__longtasks.splice(0)")
        update_times = [length for _, length in updates_seen]
        update_tasks = overlapping(tasks_seen, updates_seen)
        other_tasks = [length for _, length in tasks_seen]
        scroll = page.evaluate("""() => { const box = document.getElementById('table-scroll');
            const t = performance.now(); box.scrollTop = box.scrollHeight / 2; box.dispatchEvent(new Event('scroll'));
            return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(
                () => r(performance.now() - t)))); }""")
        sort = page.evaluate("""() => { const t = performance.now();
            document.querySelector("button[data-sort='m:val_loss']").click(); return performance.now() - t; }""")
        page.wait_for_timeout(300)
        sort_tasks = [length for _, length in page.evaluate("() => window.__longtasks.splice(0)")]
        page.close()
    finally:
        server.stop()
    return {
        "first": first, "wall_first": wall_first, "loaded": loaded, "load_tasks": load_tasks,
        "updates": update_times, "update_tasks": update_tasks, "other_tasks": other_tasks,
        "scroll": scroll, "sort": sort,
        "sort_tasks": sort_tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--updates", type=int, default=15)
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        for size in [int(s) for s in args.sizes.split(",")]:
            with tempfile.TemporaryDirectory() as folder:
                store = Store.open(str(Path(folder) / "bench.db"))
                _, ids = seed(store, Path(folder), f"bench-{size}", size)
                p50, p95 = poll_cost(create_app(store))
                found = measure(browser, store, ids, args.updates)
                store.close()
            updates = found["updates"] or [0.0]
            print(f"{size:>6} runs: first rows {found['first']:.0f} ms after navigation start "
                  f"(visible to the test after {found['wall_first']:.0f} ms), all loaded {found['loaded']:.0f} ms; "
                  f"long tasks while loading: {len(found['load_tasks'])} "
                  f"(longest {max(found['load_tasks'], default=0):.0f} ms)")
            print(f"{'':>6}       update (20 runs changed): main thread p50 {statistics.median(updates):.1f} ms, "
                  f"max {max(updates):.1f} ms over {len(found['updates'])} updates; "
                  f"long tasks holding an update: {len(found['update_tasks'])} "
                  f"(longest {max(found['update_tasks'], default=0):.0f} ms); any long task meanwhile: "
                  f"{len(found['other_tasks'])} (longest {max(found['other_tasks'], default=0):.0f} ms)")
            print(f"{'':>6}       jump to the middle {found['scroll']:.1f} ms (two frames), sort by val_loss "
                  f"{found['sort']:.1f} ms; unchanged poll (304) server-side p50 {p50:.3f} ms, p95 {p95:.3f} ms")
        browser.close()


if __name__ == "__main__":
    main()
