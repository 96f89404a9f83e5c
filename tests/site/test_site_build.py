"""build.py without a browser: reader copies, one-line errors, math normalisation, unchanged files kept."""
from __future__ import annotations

import subprocess
import sys

from sitekit import SITE

sys.path.insert(0, str(SITE))
import build  # noqa: E402


def _nb(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(src, **grader):
    meta = {"nbgrader": dict(grader, schema_version=3)} if grader else {}
    return {"cell_type": "code", "metadata": meta, "source": src, "outputs": [], "execution_count": None}


def _md(src, **grader):
    meta = {"nbgrader": dict(grader, schema_version=3)} if grader else {}
    return {"cell_type": "markdown", "metadata": meta, "source": src}


STUDENT = _nb(
    _md("# 02 · Jacobians\n\n## 1. Shapes"),
    _code("import numpy as np\nx0 = np.ones(3)"),
    _code("fig, ax = plt.subplots()\nax.set_title('Error of a forward difference')"),
    _md("### Exercise 2.1 — jac_h (2 points)\n<details><summary>Hint</summary>Use $\\frac{d}{dx}$.</details>"),
    _code("def jac_h(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", solution=True, grade=False,
          grade_id="02_jac_h_answer"),
    _code("check_jacobian(h, jac_h, x0).assert_ok()", grade=True, solution=False, points=2, grade_id="02_jac_h"),
    _code("J = jac_h(x0)\nprint(J.shape)"),
    _code("print(J.T)"),
    _code("x0 = np.zeros(2)\nprint(x0)"),
    _md("YOUR ANSWER HERE", solution=True, grade=True, points=2, grade_id="02_written"),
)


def test_reader_copy_keeps_lessons_and_prompts_and_drops_checks():
    copy = build.reader_copy(STUDENT, {})
    sources = [c["source"] for c in copy["cells"]]
    assert not any("assert_ok" in s for s in sources), "test cells are dropped"
    assert "YOUR ANSWER HERE" not in sources, "written-answer stubs are dropped"
    assert any(s.startswith("def jac_h") for s in sources), "answer stubs stay, as the prompt's signature"
    assert all("nbgrader" not in c["metadata"] for c in copy["cells"])
    tags = {c["source"].splitlines()[0]: c["metadata"].get("tags", []) for c in copy["cells"] if c["cell_type"] == "code"}
    assert "skip-execution" in tags["def jac_h(x):"]
    assert "skip-execution" in tags["J = jac_h(x0)"], "a cell using the stub is not executed"
    assert "skip-execution" in tags["print(J.T)"], "nor one using what that cell defined"
    assert "skip-execution" not in tags["x0 = np.zeros(2)"] and "skip-execution" not in tags["import numpy as np"]
    hint = next(s for s in sources if "Exercise 2.1" in s)
    assert "::::{dropdown} Hint" in hint and "<details>" not in hint


def test_figures_get_alt_text_from_titles_or_section():
    copy = build.reader_copy(STUDENT, {"fd_error_curve": "Finite-difference error against step size"})
    alts = [c["metadata"]["mystnb"]["image"]["alt"] for c in copy["cells"]
            if c["cell_type"] == "code" and "mystnb" in c["metadata"]]
    assert "Error of a forward difference (section: 1. Shapes)" in alts
    assert build.figure_alt("fd_error_curve(f, df, 1.0)", "Steps", {"fd_error_curve": "FD error"}) == \
        "FD error (section: Steps)"
    assert build.figure_alt("plt.plot(x)", "", {}) == "Figure"


def test_a_release_with_a_solution_region_is_refused():
    bad = _nb(_code("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"))
    try:
        build.reader_copy(bad, {})
    except build.BuildError as exc:
        assert "solution" in str(exc)
    else:
        raise AssertionError("a notebook with a solution region must not reach the site")


def test_missing_release_is_a_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, str(SITE / "build.py"), "--release", str(tmp_path / "nothing")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: no student copies")
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, str(SITE / "build.py"), "--release", str(tmp_path / "empty")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_display_math_is_made_parseable_outside_code():
    md = "Jacobians:\n$$a\n= b.$$\nThen $x$.\n\n```\n$$keep\nthis$$\n```\n* item\n  $$p\n  q$$\n"
    out = build.one_line_display_math(md)
    assert "\n\n$$ a = b. $$\n\nThen $x$." in out
    assert "$$keep\nthis$$" in out, "code fences are left alone"
    assert "\n  $$ p q $$\n" in out, "a block inside a list item keeps its indent"


def test_unchanged_files_keep_their_mtime(tmp_path):
    f = tmp_path / "a.txt"
    assert build.write_if_changed(f, "x")
    before = f.stat().st_mtime_ns
    assert not build.write_if_changed(f, "x")
    assert f.stat().st_mtime_ns == before
    assert build.write_if_changed(f, "y")


def test_sections_get_clean_numbers():
    sources = ["# 04 · Title\n## Learning goals\n## 1 Composition\ntext", "## 2. Rules\n```\n## 9 in a fence\n```",
               "### 2.1 Sub\n## 3.5 Kept as written\n## Common mistakes", "## Summary"]
    out = build.number_sections(sources)
    assert out[0] == "# 04 · Title\n## Learning goals\n## 1. Composition\ntext", "before the first number: as is"
    assert out[1] == "## 2. Rules\n```\n## 9 in a fence\n```"
    assert out[2] == "### 2.1 Sub\n## 3.5 Kept as written\n## 3. Common mistakes"
    assert out[3] == "## 4. Summary"


def test_source_citations_leave_headings_for_a_references_section():
    nb = _nb(_md("# 02 · Jacobians\n\nTexts: **000** a post; **001** Parr and Howard."),
             _md("## 1. Partials\n### Worked example 2.1: a function (source 000)\nBody."),
             _md("### Worked example 7.1 (sources 003 and 001)\n\nMore."))
    copy = build.reader_copy(nb, {}, "02_jacobians")
    text = [c["source"] for c in copy["cells"]]
    assert "### Worked example 2.1: a function\n\n*Source: 000 (see {ref}`References <references-02-jacobians>`).*" in text[1]
    assert text[2].startswith("### Worked example 7.1\n\n*Sources: 003 and 001 (see")
    assert not any("(source" in line for t in text for line in t.splitlines() if line.startswith("#"))
    refs = text[-1]
    assert refs.startswith("(references-02-jacobians)=\n## References")
    assert [ln[4:7] for ln in refs.splitlines() if ln.startswith("- **")] == ["000", "001", "003"]
    assert "Parr and J. Howard" in refs
    assert len(build.reader_copy(_nb(_md("# 01\n## 1. No citations")), {})["cells"]) == 1, "no citation, no section"


def test_figure_alt_text_comes_from_cell_metadata_else_a_warning():
    drawn = _code("fig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()")
    described = dict(drawn, metadata={"mystnb": {"image": {"alt": "A rising line from (0, 1) to (1, 2)."}}})
    warnings = []
    copy = build.reader_copy(_nb(_md("## 1. Plots"), drawn, described, _code("x = 1")), {}, "09_plots", warnings)
    alts = [c["metadata"]["mystnb"]["image"]["alt"] for c in copy["cells"] if c["cell_type"] == "code"]
    assert alts[1] == "A rising line from (0, 1) to (1, 2)."
    assert alts[0] == "Figure (section: 1. Plots)"
    assert len(warnings) == 1 and warnings[0].startswith("09_plots: figure cell") and "mystnb.image.alt" in warnings[0]


SPHINX_PAGE = ('<html><head><script>window.MathJax = {}</script><script defer="defer" '
               'src="../_static/mathjax/tex-chtml.js?v=1"></script></head><body><p>Let '
               '<span class="math notranslate nohighlight">\\(J \\in \\mathbb{R}^{m\\times n}\\)</span>.</p></body></html>')


def test_math_is_typeset_into_the_pages_or_the_build_says_why_not(tmp_path, monkeypatch):
    page = tmp_path / "html" / "a" / "p.html"
    page.parent.mkdir(parents=True)
    page.write_text(SPHINX_PAGE)
    real = build.mathrender.MathRenderer
    monkeypatch.setattr(build.mathrender, "MathRenderer", lambda cache_dir: real(cache_dir, node_dir=tmp_path))
    line = build.typeset_math(tmp_path / "html", tmp_path / "cache")
    assert line.startswith("math typeset in the browser by MathJax: ") and "\n" not in line
    assert page.read_text() == SPHINX_PAGE, "left for the browser-side MathJax"
    monkeypatch.setattr(build.mathrender, "MathRenderer", real)
    if real().reason is None:
        assert build.typeset_math(tmp_path / "html", tmp_path / "cache") == "math typeset into 1 page(s) (1 formulas)"
        out = page.read_text()
        assert "<mjx-container" in out and "tex-chtml" not in out and 'url("../_static/mathjax/output/chtml/' in out
        assert build.typeset_math(tmp_path / "html", tmp_path / "cache") == "", "a typeset page is not done twice"
