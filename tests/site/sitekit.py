"""Helpers shared by the site tests (a uniquely named module: tests/ has more than one conftest.py)."""
from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "course"
SITE = COURSE / "site"
HTML = SITE / "_build" / "html"
CHROMIUM = "/usr/bin/chromium"
AXE = REPO / "tools" / "node" / "node_modules" / "axe-core" / "axe.min.js"   # installed by `make setup`
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def release_copies(tmp_root: Path) -> Path:
    """Fresh student copies: `autograder release` if it is available, else nbgrader in a temp course copy."""
    env = {k: v for k, v in os.environ.items() if k != "CHAINRULE_DB_URL"}
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(COURSE), "release", "--quiet"],
                          capture_output=True, text=True, cwd=REPO, env=env)
    if proc.returncode == 0 and any((COURSE / "release").glob("*/*.ipynb")):
        return COURSE / "release"
    # Fallback while `release` is not written: nbgrader's generate_assignment in a copy of the course.
    course = tmp_root / "course"
    shutil.copytree(COURSE / "source", course / "source")
    shutil.copy(COURSE / "nbgrader_config.py", course)
    nbgrader = Path(sys.executable).with_name("nbgrader")
    for folder in sorted((course / "source").iterdir()):
        if (folder / f"{folder.name}.ipynb").is_file():
            subprocess.run([str(nbgrader), "generate_assignment", folder.name, "--force", "--log-level=ERROR"],
                           cwd=course, env=env, capture_output=True, text=True)
    return course / "release"


def html_pages(html: Path) -> list[Path]:
    """Every content page of the built site (not the search page, the index, or execution reports)."""
    skip_dirs = {"_static", "_sources", "_images", "reports"}
    return sorted(p for p in html.rglob("*.html")
                  if not (set(p.relative_to(html).parts) & skip_dirs) and p.name not in {"search.html",
                                                                                        "genindex.html"}
                  and 'http-equiv="refresh"' not in p.read_text(encoding="utf-8")[:2000].lower())


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# What one visit records, measured in the page after MathJax has finished.
_PROBE = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const skip = 'pre, code, script, style, mjx-container, textarea, .highlight, noscript';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el && !el.closest(skip) && el.offsetParent !== null) texts.push(n.nodeValue);
  }
  const math = [...document.querySelectorAll('.math')];
  const main = document.querySelector('main, article, .bd-article') || document.body;
  return {
    text: texts.join(' '),
    math: math.length,
    untypeset: math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    mjx: document.querySelectorAll('mjx-container').length,
    mjxWithTex: document.querySelectorAll('mjx-container[data-tex]').length,
    mjxWithMathml: document.querySelectorAll('mjx-container mjx-assistive-mml math').length,
    mathjaxLoaded: !!window.MathJax,
    title: document.title,
    siteTitle: (document.querySelector('.logo__title') || {}).textContent || '',
    icons: [...document.querySelectorAll('link[rel~="icon"]')].map(l => l.href),
    cutOff: [...document.querySelectorAll('main pre, article pre')]
              .filter(p => p.offsetParent !== null && p.scrollWidth > p.clientWidth + 1)
              .map(p => p.textContent.slice(0, 60)),
    mathjaxErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth,
                                             alt: (i.getAttribute('alt') || '').trim()})),
    headings: [...main.querySelectorAll('h1, h2, h3, h4, h5, h6')]
                .filter(h => !h.closest('nav, .bd-sidebar, .bd-toc, .cell_output, .onlyprint') && h.offsetParent !== null)
                .map(h => [Number(h.tagName[1]), h.textContent.replace(/#$/, '').trim().slice(0, 60)]),
    tracebacks: [...document.querySelectorAll('.output, .cell_output')].map(o => o.textContent)
                  .filter(t => /Traceback|NotImplementedError|Error:/.test(t)).map(t => t.slice(0, 120)),
  };
}
"""


def visit(browser, url: str, *, width: int = 1280, height: int = 900) -> dict:
    """Load url in a fresh context; return the probe's record plus console errors and every request."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    local = url.split("/")[0] + "//" + url.split("/")[2]
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith((local, "data:", "blob:"))
               else route.abort())
    page.goto(url, wait_until="load")
    record = page.evaluate(_PROBE)
    page.wait_for_timeout(200)
    record["requests"] = list(requests)
    record["errors"] = list(errors)
    record["overflow"] = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    record["page"] = page
    record["context"] = ctx
    return record
