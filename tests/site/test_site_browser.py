"""The built site in headless chromium: math typeset when built, images load with meaningful alt text,
no request fails or leaves the host, axe finds no serious accessibility problem, titles and numbering agree."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sitekit import AXE, html_pages, visit

from autograder.mathrender import MathRenderer

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


SERVER_MATH = MathRenderer().reason is None   # node and tools/node's packages: math typeset at build time


def test_all_math_is_typeset(page_records):
    assert not _failures(page_records, lambda r: r["untypeset"] + r["mathjaxErrors"])
    assert not _failures(page_records, lambda r: RAW_TEX.findall(r["text"]))
    # the pages that hold math do get MathJax containers
    with_math = {p: r for p, r in page_records.items() if r["math"]}
    assert any("reference" in p for p in with_math)
    assert all(r["mjx"] >= r["math"] for r in with_math.values())


@pytest.mark.skipif(not SERVER_MATH, reason="no node/npm packages: math is typeset in the browser")
def test_math_is_in_the_html_with_mathml_and_tex(page_records):
    """No page loads MathJax; every formula carries MathML for screen readers and its TeX for copying."""
    with_math = {p: r for p, r in page_records.items() if r["math"]}
    assert len(with_math) >= 5
    assert not _failures(page_records, lambda r: [u for u in r["requests"] if "tex-chtml" in u] or r["mathjaxLoaded"])
    assert not _failures(with_math, lambda r: r["mjx"] - r["mjxWithTex"] or r["mjx"] - r["mjxWithMathml"])


@pytest.mark.skipif(not SERVER_MATH, reason="no node/npm packages: math is typeset in the browser")
def test_copying_a_formula_copies_its_tex(server, browser):
    rec = visit(browser, f"{server}/_generated/reference.html")
    page = rec["page"]
    try:
        copied = page.evaluate("""() => {
          let got = null;
          document.addEventListener('copy', e => { got = e.clipboardData.getData('text/plain'); });
          const m = document.querySelector('mjx-container[display="true"]');
          const range = document.createRange();
          range.setStartBefore(m.closest('.math'));
          range.setEndAfter(m.closest('.math'));
          getSelection().removeAllRanges(); getSelection().addRange(range);
          document.execCommand('copy');
          return [got, m.getAttribute('data-tex')];
        }""")
        assert copied[1] and copied[0].strip() == f"$${copied[1]}$$"
    finally:
        rec["context"].close()


def test_favicon_titles_and_no_instructor_commands(page_records, built_site):
    """A favicon on every page (no /favicon.ico 404); one site title, the home page's heading; the site
    never sends a student to the instructor's project folder."""
    assert not _failures(page_records, lambda r: [] if r["icons"] else ["no icon"])
    home = page_records["pages/intro.html"]
    site_title = home["headings"][0][1]
    assert site_title.startswith("chainrule: the matrix calculus behind deep learning")
    assert not _failures(page_records, lambda r: [] if r["siteTitle"].strip() == site_title else [r["siteTitle"]])
    assert not _failures(page_records, lambda r: [] if r["title"].endswith(site_title) else [r["title"]])
    instructor = re.compile(r"\bmake (setup|lab|site|demo)\b|project folder|course/source", re.IGNORECASE)
    assert not _failures(page_records, lambda r: instructor.findall(r["text"]))


def test_long_lines_wrap(page_records, built_site, server, browser):
    """No code or output block cuts a line off, on a desktop screen or a phone."""
    assert not _failures(page_records, lambda r: r["cutOff"])
    rec = visit(browser, f"{server}/_generated/04_chain_rules/04_chain_rules.html", width=375, height=812)
    try:
        assert not rec["cutOff"]
    finally:
        rec["context"].close()


def test_sections_are_numbered_and_cite_no_sources_in_headings(page_records):
    chapters = {p: r for p, r in page_records.items() if re.match(r"_generated/\d\d_", p)}

    def bad(rec):
        h2 = [text for level, text in rec["headings"] if level == 2]
        first = next((i for i, t in enumerate(h2) if re.match(r"\d", t)), len(h2))   # front matter before it
        numbered = [t for t in h2[first:] if t != "References"]
        wrong = [t for t in numbered if not re.match(r"\d+\. \S", t)]
        numbers = [int(t.split(".")[0]) for t in numbered if t not in wrong]
        gaps = [] if numbers == list(range(1, len(numbers) + 1)) else [f"numbers {numbers}"]
        cites = [t for _, t in rec["headings"] if re.search(r"\(sources? \d{3}", t)]
        return wrong + gaps + cites
    assert chapters and not _failures(chapters, bad)
    jac = next(r for p, r in chapters.items() if "02_jacobians" in p)
    assert jac["headings"][-1] == [2, "References"] and "Parr and J. Howard" in jac["text"]


@pytest.mark.skipif(not AXE.is_file(), reason=f"axe-core is not installed ({AXE}; `make setup` installs it)")
def test_no_serious_accessibility_violations(built_site, server, browser):
    """axe-core (from npm) on every page: no violation of serious or critical impact."""
    found = {}
    for path in html_pages(built_site) + [built_site / "search.html"]:
        rel = path.relative_to(built_site).as_posix()
        rec = visit(browser, f"{server}/{rel}")
        try:
            rec["page"].add_script_tag(path=str(AXE))
            violations = rec["page"].evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
                .violations.filter(v => ['serious', 'critical'].includes(v.impact))
                .map(v => `${v.id} (${v.impact}): ${v.nodes.length} x ${v.nodes[0].target.join(' ')}`)""")
        finally:
            rec["context"].close()
        if violations:
            found[rel] = violations
    assert not found


def test_images_load_and_have_alt_text(page_records):
    """Every image loads and its alt text says what it shows: written for it (the cell's metadata), not
    made up from plot titles (build.figure_alt marks those with "(section: ...)"), at least a sentence."""
    def bad(rec):
        return [i for i in rec["images"]
                if i["w"] == 0 or re.search(r"\.(png|svg|jpe?g)$", i["alt"]) or "(section:" in i["alt"]
                or len(i["alt"].split()) < 12]
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
                if target not in cache:        # (setdefault would parse the page again for every link)
                    cache[target] = _parse(target).ids
                ids = cache[target]
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
