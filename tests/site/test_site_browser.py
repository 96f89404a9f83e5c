"""The built site in headless chromium: math typeset, images load with alt text, no request leaves the host."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sitekit import html_pages, visit

pytestmark = pytest.mark.xdist_group("site")

RAW_TEX = re.compile(r"\\(frac|partial|mathbf|begin|end|sum|nabla|operatorname|left|right)\b|\$\$|\\\(|\\\["
                     r"|\$[^$\s][^$]{0,80}\$")


def _failures(records, check):
    return {page: bad for page, rec in records.items() if (bad := check(rec))}


def test_every_page_loads_without_console_errors(page_records):
    assert not _failures(page_records, lambda r: r["errors"])


def test_no_request_leaves_localhost(page_records):
    def foreign(rec):
        return [u for u in rec["requests"] if not u.startswith(("http://127.0.0.1:", "data:", "blob:"))]
    assert not _failures(page_records, foreign)


def test_all_math_is_typeset(page_records):
    assert not _failures(page_records, lambda r: r["untypeset"] + r["mathjaxErrors"])
    assert not _failures(page_records, lambda r: RAW_TEX.findall(r["text"]))
    # the pages that hold math do get MathJax containers
    with_math = {p: r for p, r in page_records.items() if r["math"]}
    assert any("reference" in p for p in with_math)
    assert all(r["mjx"] >= r["math"] for r in with_math.values())


def test_images_load_and_have_alt_text(page_records):
    def bad(rec):
        return [i for i in rec["images"]
                if i["w"] == 0 or not i["alt"] or re.search(r"\.(png|svg|jpe?g)$", i["alt"])]
    assert not _failures(page_records, bad)


def test_notebook_chapters_have_figures_and_no_tracebacks(page_records):
    chapters = {p: r for p, r in page_records.items() if p.startswith("_generated/") and "reference" not in p}
    assert chapters, "no notebook chapter was built"
    assert not _failures(chapters, lambda r: r["tracebacks"])
    assert any(r["images"] for r in chapters.values()), "no chapter shows an executed figure"


def test_headings_are_in_order(page_records):
    def skipped(rec):
        levels = [lvl for lvl, _ in rec["headings"]]
        if not levels or levels[0] != 1:
            return [("first heading is not h1", rec["headings"][:1])]
        return [(a, b) for a, b in zip(rec["headings"], rec["headings"][1:]) if b[0] > a[0] + 1]
    assert not _failures(page_records, skipped)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_internal_links_resolve(built_site):
    broken = []
    cache = {}
    for page in html_pages(built_site) + [built_site / "search.html", built_site / "genindex.html"]:
        for href in _parse(page).hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append((page.name, href))
                continue
            if parts.fragment and target.suffix == ".html":
                ids = cache.setdefault(target, _parse(target).ids)
                if unquote(parts.fragment) not in ids:
                    broken.append((page.name, href))
    assert not broken


def test_search_finds_jacobian(server, browser):
    rec = visit(browser, f"{server}/search.html?q=Jacobian")
    page = rec["page"]
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=15000)
        hits = page.locator("#search-results ul.search li").count()
        assert hits > 0
        assert not rec["errors"]
    finally:
        rec["context"].close()


def test_pages_fit_a_phone_screen(built_site, server, browser, tmp_path_factory):
    wide = {}
    shots = tmp_path_factory.mktemp("phone")
    for path in html_pages(built_site):
        rel = path.relative_to(built_site).as_posix()
        rec = visit(browser, f"{server}/{rel}", width=375, height=812)
        try:
            if rec["overflow"] > 0:
                wide[rel] = rec["overflow"]
            if "reference" in rel:
                rec["page"].screenshot(path=str(shots / "reference_375.png"), full_page=False)
        finally:
            rec["context"].close()
    assert not wide, f"pages wider than 375 px (extra px): {wide}"
    assert (shots / "reference_375.png").stat().st_size > 0


def test_every_notebook_executed(built_site):
    log = (built_site.parent / "build.log").read_text(encoding="utf-8")
    failed = [ln for ln in log.splitlines() if "Executing notebook failed" in ln]
    assert not failed, failed
    chapters = sorted((built_site / "_generated").glob("*/*.html"))
    assert chapters
    no_output = [p.name for p in chapters if 'class="cell_output' not in p.read_text(encoding="utf-8")]
    assert not no_output, f"chapters without any executed output: {no_output}"
