"""autograder/html.py: escaping, Markdown with math, math typeset when the page is written (or the shipped
MathJax copy in the browser where node is missing)."""
from __future__ import annotations

import re

import pytest

from autograder import html as H
from autograder import mathrender

needs_node = pytest.mark.skipif(H.math_renderer().reason is not None,
                                reason=f"server-side math: {H.math_renderer().reason}")


def test_escape_and_untrusted():
    assert H.escape('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"
    assert H.escape(None) == ""
    assert H.text("a < b && c > 'd'") == "a &lt; b &amp;&amp; c > 'd'"
    assert H.untrusted("<b>") == '<span class="untrusted">&lt;b></span>'
    assert H.code_block("</code><script>") == '<pre class="untrusted"><code>&lt;/code>&lt;script></code></pre>'


def test_markdown_keeps_math_intact():
    out = H.markdown("Let $a_i < b_i$ and $x_1 * x_2$.\n\n$$J_{ij} = \\frac{\\partial f_i}{\\partial x_j}$$")
    assert '<span class="math">\\(a_i &lt; b_i\\)</span>' in out      # '<' escaped, no <em> from '_'
    assert "\\(x_1 * x_2\\)" in out and "<em>" not in out
    assert "\\frac{\\partial f_i}{\\partial x_j}" in out
    assert H.markdown_inline("Exercise 1.2 — *A* Jacobian") == "Exercise 1.2 — <em>A</em> Jacobian"


def test_fmt_points():
    assert [H.fmt_points(v) for v in (3.0, 2.5, 1 / 3, 0.0, -0.0, None)] == ["3", "2.5", "0.33", "0", "0", "–"]


def test_page_and_static_copy(tmp_path):
    static = H.copy_static(tmp_path)
    js = static / "mathjax" / "tex-chtml.js"
    assert js.read_bytes() == (H.MATHJAX_DIR / "tex-chtml.js").read_bytes()
    assert (static / "mathjax" / "ui" / "safe.js").is_file()
    assert len(list((static / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) >= 20
    before = js.stat().st_mtime_ns
    H.copy_static(tmp_path)                       # unchanged files are not copied again
    assert js.stat().st_mtime_ns == before
    page_dir = tmp_path / "s" / "a"
    page_dir.mkdir(parents=True)
    rel = H.relative_static(page_dir, tmp_path)
    assert rel == "../../_static"
    assert (static / "copy-tex.js").read_bytes() == (H.ASSETS / "copy-tex.js").read_bytes()
    page = H.page("T <x>", "<p>body</p>", static=rel)
    assert "<title>T &lt;x&gt;</title>" in page
    assert "http" not in page and "<script" not in page and "<style id" not in page, "no math, no math assets"
    assert "<script" not in H.page("T", H.markdown("$x$"), math=False)


def test_hint_blocks_keep_their_math():
    out = H.markdown("Try it.\n<details><summary>Hint</summary>Use $\\frac{d}{dx}$ here.</details>\n\nThen $y$.")
    assert '<details><summary>Hint</summary>' in out and "</details>" in out
    assert '<span class="math">\\(\\frac{d}{dx}\\)</span>' in out and '<span class="math">\\(y\\)</span>' in out


@needs_node
def test_math_is_typeset_when_the_page_is_written(tmp_path):
    body = (H.markdown("Let $a_i < b_i$ and\n\n$$J_{ij} = \\frac{\\partial f_i}{\\partial x_j}$$")
            + H.untrusted("student wrote $y^2$ and \\(z\\)"))
    page = H.page("T", body, static="../../_static")
    assert page.count("<mjx-container") == 2 and "<mjx-assistive-mml" in page and "<math" in page
    assert 'data-tex="a_i < b_i"' in page and 'data-tex="J_{ij} = \\frac{\\partial f_i}{\\partial x_j}"' in page
    assert "\\(a_i" not in page and "$$" not in page, "no TeX left for a script to find"
    assert '<span class="untrusted">student wrote $y^2$ and \\(z\\)</span>' in page, "student text untouched"
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts == ['<script defer src="../../_static/copy-tex.js">'], "no math JavaScript"
    css = re.search(r'<style id="chainrule-math">(.*?)</style>', page, re.DOTALL).group(1)
    fonts = set(re.findall(r'url\("([^"]+)"\)', css))
    assert fonts and all(f.startswith("../../_static/mathjax/output/chtml/fonts/woff-v2/") for f in fonts)
    shipped = {p.name for p in (H.MATHJAX_DIR / "output" / "chtml" / "fonts" / "woff-v2").iterdir()}
    assert {f.rsplit("/", 1)[1] for f in fonts} <= shipped
    assert "mjx-c1D44E" in css, "the CSS covers the glyphs the page uses (a = U+1D44E italic)"


@needs_node
def test_tex_errors_are_reported(tmp_path):
    with mathrender.MathRenderer() as r:
        out, _ = mathrender.render_page("<p>" + H.markdown("$\\nosuchmacro + 1$") + "</p>", r, "_static")
        assert "mjx-merror" in out and r.errors == ["Undefined control sequence \\nosuchmacro"]


def test_without_node_the_browser_typesets(tmp_path, monkeypatch, capsys):
    (tmp_path / mathrender.SCRIPT).write_bytes((mathrender.NODE_DIR / mathrender.SCRIPT).read_bytes())
    monkeypatch.setattr(H, "_renderer", mathrender.MathRenderer(node_dir=tmp_path))
    monkeypatch.setattr(H, "_fallback_said", False)
    if H.math_renderer().reason != "node is not installed":
        assert "the npm packages are not installed" in H.math_mode()
        with monkeypatch.context() as m:
            m.setenv("PATH", str(tmp_path))
            assert H.math_mode() == "math typeset in the browser by MathJax (node is not installed)"
    body = H.markdown("$x$") + H.untrusted("$y$")
    first, second = H.page("T", body, static="_static"), H.page("T", body, static="_static")
    for page in (first, second):
        assert 'src="_static/mathjax/tex-chtml.js"' in page and "ignoreHtmlClass: 'untrusted'" in page
        assert "<mjx-container" not in page
    assert capsys.readouterr().err.count("math typeset in the browser") == 1, "said once, in one line"


@needs_node
def test_a_typeset_page_is_left_alone_and_answers_are_cached(tmp_path):
    page = ('<html><head><script>window.MathJax = {"a": 1}</script>\n<script defer="defer" '
            'src="../_static/mathjax/tex-chtml.js?v=1"></script>\n</head><body><p>See '
            '<span class="math notranslate nohighlight">\\(x^2\\)</span> and</p><div class="math notranslate '
            'nohighlight" id="eq-1"><span class="eqno">(1)</span>\\[\\frac{a}{b}\\]</div></body></html>')
    with mathrender.MathRenderer(cache_dir=tmp_path / "cache") as r:
        out, n = mathrender.render_page(page, r, "../_static")
    assert n == 2 and out.count("<mjx-container") == 2 and "tex-chtml" not in out and "window.MathJax" not in out
    assert '<span class="eqno">(1)</span>' in out, "Sphinx's equation number stays"
    assert mathrender.render_page(out, mathrender.MathRenderer(node_dir=tmp_path), "../_static") == (out, 0)
    offline = mathrender.MathRenderer(cache_dir=tmp_path / "cache", node_dir=tmp_path)   # cannot start node
    assert mathrender.render_page(page, offline, "../_static") == (out, 2), "answered from the cache"
    with pytest.raises(mathrender.MathRenderError):
        mathrender.render_page(page.replace("x^2", "y^2"), offline, "../_static")
