"""autograder/html.py: escaping, Markdown with math kept for MathJax, the shipped MathJax copy."""
from __future__ import annotations

from autograder import html as H


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
    page = H.page("T <x>", "<p>body</p>", static=rel)
    assert "<title>T &lt;x&gt;</title>" in page and 'src="../../_static/mathjax/tex-chtml.js"' in page
    assert "http" not in page
    assert "<script" not in H.page("T", "", math=False)
