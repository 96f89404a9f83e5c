"""`export`: one row per student, per-assignment and per-question scores, status, total; Canvas layout."""
from __future__ import annotations

import csv

from test_pipe_fixture import course_dir, record, submit  # noqa: F401  (course_dir is a fixture)

from autograder.__main__ import main


def _class(course):
    """ada: full marks on 01 (manual pending) and a wrong 02; bob: ungraded 01, nothing for 02;
    cy: in submitted/ for 01 but not graded yet; dee: graded 02 only."""
    record(course, "01_tiny", "ada", [("01_cube", "auto", 1.0, 1.0, None, None),
                                      ("01_jac", "auto", 2.0, 2.0, None, None),
                                      ("01_shape", "auto", 1.0, 1.0, None, None),
                                      ("01_explain_written", "manual", None, 1.0, None, None)])
    record(course, "02_small", "ada", [("02_size", "auto", 0.0, 2.0, "factor", "Count every entry.")])
    record(course, "01_tiny", "bob", status="ungraded", reason="time limit 120 s exceeded at cell 4", max_score=5)
    submit(course, "01_tiny", "cy")
    record(course, "02_small", "dee", [("02_size", "auto", 2.0, 2.0, None, None)])


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_plain_csv_columns_values_and_status(course_dir, capsys):  # noqa: F811
    _class(course_dir)
    assert main(["--course", str(course_dir), "export"]) == 0
    rows = read_csv(course_dir / "exports" / "grades.csv")
    header = rows[0]
    assert header == ["student",
                      "01_tiny", "01_tiny status", "01_tiny: 01_cube", "01_tiny: 01_jac", "01_tiny: 01_shape",
                      "01_tiny: 01_explain_written",
                      "02_small", "02_small status", "02_small: 02_size",
                      "total", "max_total"]
    by = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert sorted(by) == ["ada", "bob", "cy", "dee"]
    ada, bob, cy, dee = by["ada"], by["bob"], by["cy"], by["dee"]
    assert (ada["01_tiny"], ada["01_tiny status"], ada["01_tiny: 01_jac"]) == ("4", "graded", "2")
    assert ada["01_tiny: 01_explain_written"] == ""          # needs manual grading
    assert (ada["02_small"], ada["02_small: 02_size"]) == ("0", "0")
    assert (ada["total"], ada["max_total"]) == ("4", "7")
    assert bob["01_tiny status"] == "ungraded: time limit 120 s exceeded at cell 4"
    assert bob["01_tiny"] == "" and bob["01_tiny: 01_cube"] == ""
    assert bob["02_small status"] == "missing" and bob["total"] == "0"
    assert cy["01_tiny status"] == "not graded yet"
    assert (dee["01_tiny status"], dee["02_small"], dee["total"]) == ("missing", "2", "2")
    assert "4 students" in capsys.readouterr().out


def test_canvas_layout_with_points_possible(course_dir, tmp_path):  # noqa: F811
    _class(course_dir)
    out = tmp_path / "canvas.csv"
    assert main(["--course", str(course_dir), "export", "--format", "canvas", "--output", str(out)]) == 0
    rows = read_csv(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "Section", "01_tiny", "02_small"]
    assert rows[1] == ["Points Possible", "", "", "", "5", "2"]
    by = {r[2]: r for r in rows[2:]}
    assert by["ada"][4:] == ["4", "0"]
    assert by["bob"][4:] == ["", ""]        # ungraded and missing are left empty, not 0
    assert by["dee"][4:] == ["", "2"]


def test_manual_grades_and_names_from_nbgrader_are_used(course_dir, tmp_path):  # noqa: F811
    """A written answer graded in nbgrader's formgrader counts in the export."""
    from nbgrader.api import Gradebook

    _class(course_dir)
    url = f"sqlite:///{course_dir / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.update_or_create_assignment("01_tiny")
        gb.update_or_create_notebook("01_tiny", "01_tiny")
        gb.update_or_create_student("ada", first_name="Ada", last_name="Lovelace")
        gb.add_solution_cell("01_explain_written", "01_tiny", "01_tiny")
        gb.add_grade_cell("01_explain_written", "01_tiny", "01_tiny", max_score=1, cell_type="markdown")
        gb.add_submission("01_tiny", "ada")
        grade = gb.find_grade("01_explain_written", "01_tiny", "01_tiny", "ada")
        grade.manual_score = 0.5
        gb.db.commit()
    assert main(["--course", str(course_dir), "export", "--output", "-"]) == 0
    from autograder.cmd_export import load_class
    from autograder.course import Course

    data = load_class(Course.open(course_dir))
    assert data.score("01_tiny", "ada") == 4.5
    assert data.question_scores("01_tiny", "ada")["01_explain_written"] == 0.5


def test_a_verdict_for_an_older_submission_is_not_exported_as_the_grade(course_dir, tmp_path):  # noqa: F811
    submit(course_dir, "02_small", "eve")       # timestamp.txt: 2026-02-01 10:00 UTC, as in the verdict
    record(course_dir, "02_small", "eve", [("02_size", "auto", 2.0, 2.0, None, None)])
    out = tmp_path / "g.csv"
    assert main(["--course", str(course_dir), "export", "--output", str(out)]) == 0
    eve = dict(zip(*read_csv(out), strict=True))
    assert (eve["02_small"], eve["02_small status"]) == ("2", "graded")
    # collect replaced it with a newer submission: until it is regraded there is no grade for it
    (course_dir / "submitted" / "eve" / "02_small" / "timestamp.txt").write_text("2026-02-02 09:00:00.000000 UTC")
    assert main(["--course", str(course_dir), "export", "--output", str(out)]) == 0
    eve = dict(zip(*read_csv(out), strict=True))
    assert (eve["02_small"], eve["02_small status"], eve["total"]) == ("", "not graded yet", "0")
