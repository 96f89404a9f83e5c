"""`feedback`: a page per student and assignment with scores, diagnoses and the student's own answer;
no hidden test, no solution; math assets local; everything the student controls escaped."""
from __future__ import annotations

import re

import pytest
from test_pipe_fixture import SECRET_LINES, make_course, record, release, submit

from autograder import html as H
from autograder.__main__ import main

# its module fixture grades a class once: every test of this file on one xdist worker
pytestmark = pytest.mark.xdist_group("pipe_feedback")

TRANSPOSE_MSG = "Your matrix is the transpose of the Jacobian: numerator layout puts the outputs of h on rows."
EVIL = '</code></pre><script>alert("pwned")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("fb"))
    release(course)
    # good: everything right; wrong: transposed Jacobian + an injected answer; late: ungraded.
    submit(course, "01_tiny", "good")
    record(course, "01_tiny", "good", [("01_cube", "auto", 1.0, 1.0, None, None),
                                       ("01_jac", "auto", 2.0, 2.0, None, None),
                                       ("01_shape", "auto", 1.0, 1.0, None, None),
                                       ("01_explain_written", "manual", None, 1.0, None, None)])
    submit(course, "01_tiny", "wrong", {
        "01_jac_answer": "def jac_h(x):\n    return np.array([[x[1], 0.0], [x[0], 1.0], [0.0, 1.0]])\n",
        "01_shape_answer": f"jac_shape = '{EVIL}'\n",
    })
    record(course, "01_tiny", "wrong", [
        ("01_cube", "auto", 0.0, 1.0, "missing", "`d_cube` is not defined: the answer cell still raises."),
        ("01_jac", "auto", 0.0, 2.0, "transpose", TRANSPOSE_MSG),
        ("01_shape", "auto", 0.0, 1.0, "wrong", f"Expected a tuple, got the string {EVIL}"),
        ("01_explain_written", "manual", None, 1.0, None, None)])
    submit(course, "01_tiny", "late")
    record(course, "01_tiny", "late", status="ungraded", reason=f"kernel died (SIGKILL) at cell 3 {EVIL}",
           max_score=5)
    submit(course, "02_small", "wrong")
    record(course, "02_small", "wrong", [("02_size", "auto", 2.0, 2.0, None, None)])
    assert main(["--course", str(course), "feedback"]) == 0
    return course


def page(course, student, assignment="01_tiny"):
    return (course / "feedback" / student / assignment / f"{assignment}.html").read_text()


def test_a_page_per_student_and_submitted_assignment(pages):
    found = sorted(p.relative_to(pages / "feedback").as_posix() for p in (pages / "feedback").glob("*/*/*.html"))
    assert found == ["good/01_tiny/01_tiny.html", "late/01_tiny/01_tiny.html",
                     "wrong/01_tiny/01_tiny.html", "wrong/02_small/02_small.html"]
    index = (pages / "feedback" / "index.html").read_text()
    assert "good/01_tiny/01_tiny.html" in index and "missing" in index
    assert '4 / 5 <span class="muted">(+1 to grade)</span>' in index     # the written answer is not graded yet


def test_scores_messages_and_own_code_on_a_failed_page(pages):
    html = page(pages, "wrong")
    assert "Score: 0 / 5" in html
    assert "Exercise 1.2 — A Jacobian: 0 / 2" in html
    assert TRANSPOSE_MSG in html
    assert "`d_cube` is not defined" in html
    assert "return np.array([[x[1], 0.0], [x[0], 1.0], [0.0, 1.0]])" in html    # the student's own answer
    assert "awaiting hand grading" in html
    assert "For <span class=\"math\">" in html                                  # the prompt, with math


def test_full_marks_page(pages):
    html = page(pages, "good")
    assert "Score: 4 / 5" in html and "(1 written answer still to be graded by hand)" in html
    assert html.count(">correct<") == 3
    assert "Your answer:" not in html


def test_ungraded_page_says_why(pages):
    html = page(pages, "late")
    assert "could not be graded" in html and "kernel died (SIGKILL) at cell 3" in html


def test_no_solution_or_hidden_test_anywhere(pages):
    for path in (pages / "feedback").rglob("*.html"):
        html = path.read_text()
        for line in SECRET_LINES:
            assert line not in html, (path, line)
        assert "BEGIN HIDDEN TESTS" not in html and "Traceback" not in html


def test_student_html_is_escaped(pages):
    for student in ("wrong", "late"):
        html = page(pages, student)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert '&lt;script>alert("pwned")&lt;/script>' in html
        scripts = re.findall(r"<script[^>]*>", html)    # only ours: the copy script, or MathJax's config and itself
        assert set(scripts) <= ({'<script defer src="../../_static/copy-tex.js">'} if H.math_renderer().reason is None
                                else {"<script>", '<script id="MathJax-script" defer src="../../_static/mathjax/tex-chtml.js">'})


def test_math_is_rendered_from_local_files_only(pages):
    static = pages / "feedback" / "_static" / "mathjax"
    assert (static / "tex-chtml.js").stat().st_size > 100_000
    assert (static / "LICENSE").is_file()
    assert list((static / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    html = page(pages, "wrong")
    if H.math_renderer().reason is None:   # typeset when written: fonts from the local copy, no TeX left
        assert "<mjx-container" in html and 'url("../../_static/mathjax/output/chtml/fonts/woff-v2/' in html
        assert "tex-chtml.js" not in html and not re.search(r'<span class="math">\\\(', html)
    else:
        assert 'src="../../_static/mathjax/tex-chtml.js"' in html
    for path in (pages / "feedback").rglob("*.html"):
        assert not re.search(r"(src|href)=\"(https?:)?//", path.read_text()), path


def test_only_some_students_and_unknown_assignment(tmp_path, capsys):
    course = make_course(tmp_path)
    submit(course, "02_small", "a1")
    record(course, "02_small", "a1", [("02_size", "auto", 2.0, 2.0, None, None)])
    submit(course, "02_small", "b2")
    record(course, "02_small", "b2", [("02_size", "auto", 0.0, 2.0, "factor", "Count every entry.")])
    submit(course, "01_tiny", "b2")
    record(course, "01_tiny", "b2", [("01_explain_written", "manual", None, 1.0, None, None)])
    assert main(["--course", str(course), "feedback", "02_small", "--student", "b2"]) == 0
    assert [p.parent.parent.name for p in (course / "feedback").glob("*/*/*.html")] == ["b2"]
    html = page(course, "b2", "02_small")
    assert "Count every entry." in html and "size_answer" in html  # prompt from the source's markdown
    # without a released copy, prompts come from unmarked markdown only: no model answer, no solution
    assert main(["--course", str(course), "feedback", "01_tiny"]) == 0
    html = page(course, "b2", "01_tiny")
    assert "Why are outputs on rows?" in html
    for line in SECRET_LINES:
        assert line not in html
    assert main(["--course", str(course), "feedback", "09_nope"]) == 2
    assert "unknown assignment" in capsys.readouterr().err


def test_a_newer_ungraded_submission_replaces_the_old_page(tmp_path):
    course = make_course(tmp_path)
    folder = submit(course, "02_small", "eve")
    record(course, "02_small", "eve", [("02_size", "auto", 0.0, 2.0, "factor", "Count every entry.")])
    assert main(["--course", str(course), "feedback"]) == 0
    assert "Count every entry." in page(course, "eve", "02_small")
    (folder / "timestamp.txt").write_text("2026-03-01 10:00:00.000000 UTC\n")   # collect put a newer one
    assert main(["--course", str(course), "feedback"]) == 0
    html = page(course, "eve", "02_small")
    assert "has not been graded yet" in html and "Count every entry." not in html
    assert "not graded yet" in (course / "feedback" / "index.html").read_text()
