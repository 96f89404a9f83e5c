"""Site build and math-rendering timings: `python bench/bench_site.py`.

Builds a copy of course/site in a temp folder from the current student copies (course/release; run
`python -m autograder --course course release` first), so the real course/site/_build is untouched.
Prints, against the baseline "execute the reader copies with nbclient alone" (the work no build can skip):
- full build from clean (no _build, no execution cache)             goal <= 90 s
- rebuild with nothing changed (inputs digest: the book step is skipped)  goal <= 15 s
- rebuild after one page changed (Sphinx incremental + jupyter-cache: no notebook re-executes)
- headless chromium, on the page with the most math (median of 3 loads): time from the load event
  until MathJax has typeset everything (goal <= 1 s), and for context the time from the moment
  tex-chtml.js arrived, and from navigation start
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "course" / "site"
RELEASE = REPO / "course" / "release"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed_build(site: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the build's processes): CPU shows the cost on a shared machine."""
    cpu0, start = child_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, str(site / "build.py"), "--release", str(RELEASE), "--quiet"],
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"build failed: {proc.stderr.strip()[-500:]}")
    return time.perf_counter() - start, child_cpu() - cpu0


def baseline_execute(site: Path) -> float:
    """Execute every reader copy once with nbclient (what the book's first build must do at least)."""
    import nbformat
    from nbclient import NotebookClient

    start = time.perf_counter()
    for path in sorted((site / "_generated").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb.cells = [c for c in nb.cells if "skip-execution" not in c.metadata.get("tags", [])]
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def math_timing(html: Path) -> tuple[str, int, float]:
    pages = [p for p in html.rglob("*.html") if "_static" not in p.parts and "reports" not in p.parts]
    densest = max(pages, key=lambda p: p.read_text(encoding="utf-8").count('class="math'))
    count = densest.read_text(encoding="utf-8").count('class="math')
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/{densest.relative_to(html).as_posix()}"
    from playwright.sync_api import sync_playwright

    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(3):
            page = browser.new_page()
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(url, wait_until="load")
            ms = page.evaluate("""async () => { await MathJax.startup.promise;
                const done = performance.now();
                const nav = performance.getEntriesByType('navigation')[0];
                const js = performance.getEntriesByType('resource').find(r => r.name.includes('tex-chtml.js'));
                const left = [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'));
                if (left.length) return null;
                return [Math.max(done - nav.loadEventEnd, 0), done - js.responseEnd, done]; }""")
            if ms is None:
                sys.exit("math left untypeset on " + url)
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            runs.append([*ms, metrics["TaskDuration"] * 1000])
            page.close()
        browser.close()
    httpd.shutdown()
    med = [statistics.median(r[i] for r in runs) / 1000 for i in range(4)]
    return densest.relative_to(html).as_posix(), count, med


def main() -> int:
    if not any(RELEASE.glob("*/*.ipynb")):
        print("error: no student copies in course/release (run `python -m autograder --course course release`)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench_site_") as tmp:
        site = Path(tmp) / "course" / "site"
        shutil.copytree(SITE, site, ignore=shutil.ignore_patterns("_build", "_generated", "__pycache__"))
        full = timed_build(site)
        again = timed_build(site)
        page = site / "pages" / "notation.md"
        page.write_text(page.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
        one = timed_build(site)
        base = baseline_execute(site)
        page_name, n_math, typeset = math_timing(site / "_build" / "html")
    print(json.dumps({"notebooks": len(list(RELEASE.glob("*/*.ipynb"))), "cpus": os.cpu_count(),
                      "loadavg_1min": round(os.getloadavg()[0], 2)}))
    print(f"baseline  execute reader copies (nbclient)   {base:7.1f} s")
    for label, (wall, cpu), goal in [("full build from clean", full, "goal <= 90 s"),
                                     ("rebuild, nothing changed", again, "goal <= 15 s"),
                                     ("rebuild, one page changed", one, "")]:
        print(f"{label:<44} {wall:7.1f} s   {wall / base:5.2f}x baseline   (CPU {cpu:6.1f} s)   {goal}")
    print(f"math on {page_name} ({n_math} formulas): typeset {typeset[0]:.2f} s after the load event (goal <= 1 s);"
          f" {typeset[1]:.2f} s after tex-chtml.js arrived; {typeset[2]:.2f} s after navigation start; "
          f"page main-thread busy {typeset[3]:.2f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
