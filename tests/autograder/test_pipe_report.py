"""`report`: mistake frequencies counted from the stored rows, plots with alt text, ungraded listed."""
from __future__ import annotations

import html as htmllib
import re

from test_pipe_fixture import course_dir, record  # noqa: F401  (course_dir is a fixture)

from autograder.__main__ import main
from autograder.class_report import mistake_counts, question_scores
from autograder.classdata import load_class
from autograder.course import Course

T = "Your matrix is the transpose of the Jacobian."
S = "Check the sign."


def _class(course):
    """8 graded submissions of 01_tiny: 01_jac transpose x3, sign x1, right x4; one ungraded; one 02_small."""
    jac = [("transpose", T)] * 3 + [("sign", S)] + [(None, None)] * 4
    for i, (mistake, message) in enumerate(jac):
        record(course, "01_tiny", f"s{i}", [
            ("01_cube", "auto", 1.0 if i % 2 else 0.0, 1.0, None if i % 2 else "power_not_lowered", "Lower it."),
            ("01_jac", "auto", 0.0 if mistake else 2.0, 2.0, mistake, message),
            ("01_shape", "auto", 1.0, 1.0, None, None),
            ("01_explain_written", "manual", None, 1.0, None, None)])
    record(course, "01_tiny", "s8", status="ungraded", reason="not a valid notebook (not valid JSON)", max_score=5)
    record(course, "02_small", "s0", [("02_size", "auto", 2.0, 2.0, None, None)])


def test_mistake_frequencies_match_the_rows(course_dir):  # noqa: F811
    _class(course_dir)
    data = load_class(Course.open(course_dir))
    counts = mistake_counts(data, "01_tiny")
    jac = counts["01_jac"]
    assert [(m.mistake, m.count, m.of) for m in jac] == [("transpose", 3, 8), ("sign", 1, 8)]
    assert jac[0].percent == 37.5 and jac[0].message == T
    assert [(m.mistake, m.count) for m in counts["01_cube"]] == [("power_not_lowered", 4)]
    assert "01_shape" not in counts
    scores = question_scores(data, "01_tiny")
    assert sorted(scores["01_jac"]) == [0.0] * 4 + [2.0] * 4
    assert scores["01_explain_written"] == []


def test_report_page(course_dir, capsys):  # noqa: F811
    _class(course_dir)
    assert main(["--course", str(course_dir), "report"]) == 0
    out = course_dir / "reports" / "index.html"
    assert str(out) in capsys.readouterr().out
    page = out.read_text()
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", page))
    text = " ".join(text.split())
    assert "01_jac 38% 3 of 8 transpose " + T in text
    assert "01_jac 12% 1 of 8 sign " + S in text
    assert "8 graded, 1 ungraded, 0 missing (of 9 students)" in text
    assert "8 of them await hand grading (8 points): their totals below are not final." in text
    assert "s8 not a valid notebook (not valid JSON)" in text
    # per question: mean and median; 01_cube scores 0,1,0,1,... -> mean 0.5, median 0.5
    assert "01_cube auto 1 8 0 0.5 0.5" in text      # 8 scores, 0 not answered, mean, median
    assert "01_jac auto 2 8 0 1 1" in text
    # total of 01_tiny per student: cube (0|1) + jac (2|0) + shape 1
    totals = sorted((i % 2) + (0 if i < 4 else 2) + 1 for i in range(8))
    import statistics

    assert f"total 5 8 {statistics.fmean(totals):g} {statistics.median(totals):g}" in text
    imgs = re.findall(r"<img src=\"([^\"]+)\" alt=\"([^\"]*)\"", page)
    assert {src for src, _ in imgs} == {"img/01_tiny_scores.png", "img/01_tiny_mistakes.png",
                                        "img/02_small_scores.png"}
    for src, alt in imgs:
        assert (course_dir / "reports" / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(alt) > 30
    assert "01_jac transpose 38%" in dict(imgs)["img/01_tiny_mistakes.png"]
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_report_of_one_assignment_and_an_empty_class(course_dir):  # noqa: F811
    assert main(["--course", str(course_dir), "report"]) == 0     # nothing graded yet: still a page
    page = (course_dir / "reports" / "index.html").read_text()
    assert "0 graded, 0 ungraded, 0 missing (of 0 students)" in page
    _class(course_dir)
    assert main(["--course", str(course_dir), "report", "02_small"]) == 0
    page = (course_dir / "reports" / "index.html").read_text()
    assert "02_small" in page and "01_jac" not in page


def test_not_answered_is_not_a_mistake_and_shares_count_those_who_answered(course_dir):  # noqa: F811
    """10 graded: 01_jac transpose x2, sign x1, right x3, unanswered x3 (answer cell as released), stopped x1.
    Without the split, "unanswered" would top the list at 30%; among the 6 who answered, transpose is 2/6."""
    verdicts = ([("transpose", T)] * 2 + [("sign", S)] + [(None, None)] * 3
                + [("unanswered", "Not answered yet.")] * 3 + [("stopped", "The notebook stopped at cell 3.")])
    for i, (mistake, message) in enumerate(verdicts):
        record(course_dir, "01_tiny", f"u{i}", [
            ("01_cube", "auto", 1.0, 1.0, None, None),
            ("01_jac", "auto", 2.0 if mistake is None else 0.0, 2.0, mistake, message),
            ("01_shape", "auto", 1.0, 1.0, None, None),
            ("01_explain_written", "manual", None, 1.0, None, None)])
    data = load_class(Course.open(course_dir))
    jac = mistake_counts(data, "01_tiny")["01_jac"]
    assert [(m.mistake, m.count, m.of) for m in jac] == [("transpose", 2, 6), ("sign", 1, 6)]
    assert round(jac[0].percent) == 33
    from autograder.class_report import not_answered

    assert not_answered(data, "01_tiny")["01_jac"] == 4
    assert main(["--course", str(course_dir), "report"]) == 0
    page = (course_dir / "reports" / "index.html").read_text()
    text = " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert "01_jac auto 2 10 4 " in text                     # 10 scores, 4 not answered
    assert "01_jac 33% 2 of 6 transpose" in text
    assert "unanswered" not in text.split("Most frequent mistakes")[1].split("Ungraded submissions")[0]
