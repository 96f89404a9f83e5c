"""Site build and math-rendering timings: `python bench/bench_site.py`.

Builds a copy of course/site in a temp folder from the current student copies (course/release; run
`python -m autograder --course course release` first), so the real course/site/_build is untouched.
Prints, against the baseline "execute the reader copies with nbclient alone" (the work no build can skip):
- full build from clean (no _build, no execution cache)             goal <= 90 s
- rebuild with nothing changed (inputs digest: the book step is skipped)  goal <= 15 s
- rebuild after one page changed (Sphinx incremental + jupyter-cache: no notebook re-executes)
- headless chromium, on the page with the most formulas (median of 7 loads, each in a fresh context):
  time from navigation start to all math visible (load event, fonts loaded, two frames painted: every
  formula on the screen drawn, every other one's box in place; formulas further down are laid out as they
  come near the screen, content-visibility: auto), next to the same page with its math removed (the
  baseline) and, for context, the page as browser-side MathJax typesets it; goal: typeset page <= 1.2x
  the page without math and <= 0.3 s on an idle machine. Also the CPU the browser spent, which a loaded
  machine distorts less than wall time.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
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


# Runs in the page before its own scripts: when the load event has fired, wait for every font the page
# uses (MathJax's CHTML glyphs are web fonts) and for two frames, then record the time since navigation
# start. On the page with browser-side MathJax, wait for its typesetting first.
_VISIBLE = """
window.addEventListener('load', async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  document.body.getBoundingClientRect();
  await document.fonts.ready;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const math = [...document.querySelectorAll('mjx-container')];
  const hidden = math.filter(m => !m.getBoundingClientRect().width).length;
  const loading = [...document.fonts].filter(f => f.status === 'loading').length;
  window.__visible = {ms: performance.now(), math: math.length, hidden, loading};
});
"""
_CONTAINER = re.compile(r"<mjx-container\b[^>]*?data-tex=\"([^\"]*)\"[^>]*>.*?</mjx-container>", re.DOTALL)
_HEAD_MATH = re.compile(r'<style id="chainrule-math">.*?</style>\s*|<script defer src="[^"]*copy-tex\.js"></script>\s*',
                        re.DOTALL)


def page_variants(page: Path, html: Path) -> dict[str, str]:
    """The page as built (math typeset into it), the same page with its math removed (formulas, their CSS
    and the copy script; every other byte the same), and the page as the browser-side MathJax used to get
    it (TeX in its place, MathJax's scripts in the head), written beside it; {label: file name}."""
    text = page.read_text(encoding="utf-8")
    if not _CONTAINER.search(text):
        sys.exit(f"no typeset math on {page}: is node with tools/node's packages installed (make setup)?")
    nomath = _HEAD_MATH.sub("", _CONTAINER.sub("", text))
    static = "../" * (len(page.relative_to(html).parts) - 1) + "_static"

    def as_tex(m: re.Match) -> str:
        tex = m.group(1)
        return f"\\[{tex}\\]" if 'display="true"' in m.group(0)[:200] else f"\\({tex}\\)"
    client = _HEAD_MATH.sub("", _CONTAINER.sub(as_tex, text)).replace(
        "</head>", "<script>window.MathJax = {options: {processHtmlClass: 'math'}, chtml: {matchFontHeight: false}};"
        f'</script><script defer src="{static}/mathjax/tex-chtml.js"></script></head>', 1)
    names = {"math typeset at build": page.name}
    for label, body, suffix in [("math removed", nomath, ".nomath.html"),
                                ("math typeset in browser", client, ".client.html")]:
        (page.parent / (page.stem + suffix)).write_text(body, encoding="utf-8")
        names[label] = page.stem + suffix
    return names


def math_timing(html: Path, runs: int = 7) -> tuple[str, int, dict[str, tuple[float, float]]]:
    """For each variant of page_variants() of the page with the most formulas, the medians of (seconds from
    navigation start to all math visible: fonts loaded, laid out, two frames painted; CPU seconds the
    browser's renderer and GPU processes spent on it). Loads interleaved, each in a fresh browser context
    (nothing cached). CPU time is what a loaded machine distorts least: wall time waits for the CPU."""
    pages = [p for p in html.rglob("*.html") if "_static" not in p.parts and ".nomath" not in p.name
             and ".client" not in p.name]
    densest = max(pages, key=lambda p: p.read_text(encoding="utf-8").count("<mjx-container"))
    count = densest.read_text(encoding="utf-8").count("<mjx-container")
    variants = page_variants(densest, html)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass   # a request cut off when a browser context closes

    handler = functools.partial(Quiet, directory=str(html))
    httpd = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/{densest.parent.relative_to(html).as_posix()}"
    from playwright.sync_api import sync_playwright

    times: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        processes = browser.new_browser_cdp_session()

        def cpu_seconds() -> dict:
            info = processes.send("SystemInfo.getProcessInfo")["processInfo"]
            return {(x["type"], x["id"]): x["cpuTime"] for x in info if x["type"] in ("renderer", "gpu")}

        for i in range(runs + 1):                         # the first round warms the server and the disk
            for label, name in variants.items():
                ctx = browser.new_context()
                page = ctx.new_page()
                page.add_init_script(_VISIBLE)
                before = cpu_seconds()
                page.goto(f"{base}/{name}", wait_until="load", timeout=180000)
                page.wait_for_function("window.__visible", timeout=180000)
                cpu = sum(t - before.get(k, 0.0) for k, t in cpu_seconds().items())
                seen = page.evaluate("window.__visible")
                ctx.close()
                if seen["hidden"] or seen["loading"] or (label != "math removed" and seen["math"] < count):
                    sys.exit(f"math not all visible on {name}: {seen}")
                if i:
                    times[label].append((seen["ms"] / 1000, cpu))
        browser.close()
    httpd.shutdown()
    for name in list(variants.values())[1:]:
        (densest.parent / name).unlink()
    return densest.relative_to(html).as_posix(), count, {
        k: (statistics.median(t for t, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}


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
        load_before = os.getloadavg()[0]
        page_name, n_math, seconds = math_timing(site / "_build" / "html")
    print(json.dumps({"notebooks": len(list(RELEASE.glob("*/*.ipynb"))), "cpus": os.cpu_count(),
                      "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}))
    print(f"baseline  execute reader copies (nbclient)   {base:7.1f} s")
    for label, (wall, cpu), goal in [("full build from clean", full, "goal <= 90 s"),
                                     ("rebuild, nothing changed", again, "goal <= 15 s"),
                                     ("rebuild, one page changed", one, "")]:
        print(f"{label:<44} {wall:7.1f} s   {wall / base:5.2f}x baseline   (CPU {cpu:6.1f} s)   {goal}")
    plain, plain_cpu = seconds["math removed"]
    print(f"heaviest page {page_name} ({n_math} formulas), navigation start -> all math visible (median of 7):")
    for label, (t, cpu) in seconds.items():
        goal = "   goal: ratio <= 1.2, <= 0.3 s" if label == "math typeset at build" else ""
        print(f"  {label:<26} {t:6.3f} s  {t / plain:5.2f}x the page without math   "
              f"(browser CPU {cpu:5.2f} s, {cpu / plain_cpu:4.2f}x){goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
