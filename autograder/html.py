"""Shared HTML for feedback pages and class reports: one page template, escaping, Markdown with math.

Pages work offline. Math is typeset when the page is written (autograder/mathrender.py: MathJax 3 in one
node process per run, CHTML with assistive MathML, TeX kept for copying), so a page needs no math
JavaScript; its fonts come from the MathJax copy in autograder/assets/mathjax/, which `copy_static(dest)`
puts in `dest/_static/mathjax/` with assets/copy-tex.js. Where node or its npm packages are missing, pages
load that MathJax copy and typeset in the browser as before (`math_mode()` says which). Nothing loads from
another host.

Trust: `markdown(text)` is for instructor text only (prompts from the released notebook, which may hold
HTML such as `<details>` hints). Everything a student controls goes through `text()` (element content)
or `escape()` (attribute values), and is wrapped in `untrusted()` so that MathJax does not typeset it: at
build time only math elements made by `markdown()` are typeset, and the browser-side fallback ignores
`.untrusted`.
"""
from __future__ import annotations

import atexit
import html
import re
import shutil
import sys
from pathlib import Path

from autograder import mathrender

ASSETS = Path(__file__).resolve().parent / "assets"
MATHJAX_DIR = ASSETS / "mathjax"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 0 auto;
       padding: 1rem; line-height: 1.5; color: #1b1b1b; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.1rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; border-radius: 4px; }
.ok { color: #116611; } .bad { color: #a40000; } .muted { color: #666; }
.exercise { border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem 1rem; margin: 1rem 0; }
.exercise.failed { border-left: 6px solid #c33; } .exercise.passed { border-left: 6px solid #3a3; }
.exercise.pending { border-left: 6px solid #c90; }
.prompt { background: #fbfbfb; padding: 0.2rem 0.8rem; border-radius: 4px; }
.message { font-weight: 600; }
.notice { border: 1px solid #c90; background: #fff8e5; padding: 0.6rem 1rem; border-radius: 6px; }
img { max-width: 100%; height: auto; }
"""

# Inline math with $...$ as in the notebooks; `ui/safe` filters \\href and friends in TeX.
_MATHJAX_CONFIG = """window.MathJax = {
  loader: {load: ['ui/safe']},
  tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']]},
  options: {ignoreHtmlClass: 'untrusted', processHtmlClass: 'math'}
};"""


def escape(value: object) -> str:
    """`str(value)` with &, <, >, " and ' escaped for use in HTML text or attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def text(value: object) -> str:
    """`str(value)` safe as HTML *text content* (not attributes): & and < escaped, everything else kept
    verbatim (quotes and > cannot start markup in text), so messages and code read as written."""
    return ("" if value is None else str(value)).replace("&", "&amp;").replace("<", "&lt;")


def untrusted(value: object, tag: str = "span") -> str:
    """Student-controlled text, escaped, in an element MathJax leaves alone."""
    return f'<{tag} class="untrusted">{text(value)}</{tag}>'


def code_block(source: str) -> str:
    """A <pre> block of (student) code, escaped."""
    return f'<pre class="untrusted"><code>{text(source)}</code></pre>'


_md = None

# a <details><summary>T</summary>body</details> hint block on lines of its own (the notebooks' convention)
DETAILS = re.compile(r"^[ \t]*<details>\s*<summary>(.*?)</summary>(.*?)</details>[ \t]*$",
                     re.DOTALL | re.MULTILINE | re.IGNORECASE)


def markdown(text: str) -> str:
    """Instructor Markdown (a notebook's markdown cell) to HTML, keeping $...$ / $$...$$ math for MathJax
    as <span|div class="math"> elements, also inside <details> hint blocks (their body is parsed as Markdown)."""
    global _md
    if _md is None:
        import mistune

        _md = mistune.create_markdown(escape=False, plugins=["math", "table", "strikethrough"])
    text = DETAILS.sub(lambda m: f"<details><summary>{m.group(1)}</summary>\n\n{m.group(2).strip()}\n\n</details>",
                       text or "")
    return _md(text)


def markdown_inline(text: str) -> str:
    """One line of instructor Markdown (a heading's text) as inline HTML, without the <p> wrapper."""
    out = markdown(text).strip()
    if out.startswith("<p>") and out.endswith("</p>"):
        out = out[3:-4]
    return out


def fmt_points(value: float | None) -> str:
    """Points without noise: 3 -> '3', 2.5 -> '2.5', 0.3333 -> '0.33', None -> '–'."""
    if value is None:
        return "–"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


_renderer: mathrender.MathRenderer | None = None
_fallback_said = False


def math_renderer() -> mathrender.MathRenderer:
    """The renderer every page of this run shares: one node process, ended when the program exits."""
    global _renderer
    if _renderer is None:
        _renderer = mathrender.MathRenderer()
        atexit.register(_renderer.close)
    return _renderer


def math_mode() -> str:
    """One line for a command's output: where the math of its pages is typeset."""
    reason = math_renderer().reason
    return ("math typeset when the pages are written" if reason is None
            else f"math typeset in the browser by MathJax ({reason})")


def page(title: str, body: str, *, static: str = "_static", math: bool = True) -> str:
    """A complete HTML page. `static` is the relative URL of the folder copy_static() filled. With `math`,
    the math elements of `body` (from markdown()) are typeset now, or else in the browser (see module doc)."""
    if not math or not mathrender.MATH_ELEMENT.search(body):
        return _page(title, body, "")
    try:
        return mathrender.render_page(_page(title, body, ""), math_renderer(), escape(static))[0]
    except mathrender.MathRenderError as exc:
        global _fallback_said
        if not _fallback_said:
            print(f"note: math typeset in the browser by MathJax ({exc})", file=sys.stderr)
            _fallback_said = True
    src = f"{escape(static)}/mathjax/tex-chtml.js"
    return _page(title, body, f"<script>{_MATHJAX_CONFIG}</script>\n"
                              f'<script id="MathJax-script" defer src="{src}"></script>')


def _page(title: str, body: str, head_math: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n{head_math}\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_page(path: Path, html_text: str) -> None:
    """Write a page atomically (a temp file renamed into place): an interrupted run leaves no half page."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(html_text, encoding="utf-8")
    tmp.replace(path)


def copy_static(dest: Path) -> Path:
    """Copy the shipped MathJax into dest/_static/mathjax and the copy script into dest/_static (only files
    that changed). Returns dest/_static."""
    static = Path(dest) / "_static"
    target = static / "mathjax"
    files = [(src, target / src.relative_to(MATHJAX_DIR)) for src in MATHJAX_DIR.rglob("*")]
    files.append((ASSETS / mathrender.COPY_SCRIPT, static / mathrender.COPY_SCRIPT))
    for src, out in files:
        if src.is_dir() or src.name == "README.md":
            continue
        if out.exists():
            have, want = out.stat(), src.stat()
            if have.st_size == want.st_size and have.st_mtime >= want.st_mtime:
                continue
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, out)
    return static


def relative_static(page_dir: Path, root: Path) -> str:
    """URL of root/_static as seen from a page in page_dir (e.g. '../../_static')."""
    depth = len(Path(page_dir).resolve().relative_to(Path(root).resolve()).parts)
    return "/".join([".."] * depth + ["_static"]) if depth else "_static"
