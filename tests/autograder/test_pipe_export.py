"""`export`: one row per student, per-assignment and per-question scores, status, total; Canvas layout;
pending hand grading visible in both formats; each format its own file, nothing else overwritten."""
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
                      "01_tiny", "01_tiny status", "01_tiny auto", "01_tiny manual", "01_tiny to grade",
                      "01_tiny: 01_cube", "01_tiny: 01_jac", "01_tiny: 01_shape", "01_tiny: 01_explain_written",
                      "02_small", "02_small status", "02_small auto", "02_small manual", "02_small to grade",
                      "02_small: 02_size",
                      "total", "max_total"]
    by = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert sorted(by) == ["ada", "bob", "cy", "dee"]
    ada, bob, cy, dee = by["ada"], by["bob"], by["cy"], by["dee"]
    # the written answer waits for the formgrader: the score is not final and says so
    assert (ada["01_tiny"], ada["01_tiny status"], ada["01_tiny: 01_jac"]) == ("4", "awaiting hand grading: 1 point", "2")
    assert (ada["01_tiny auto"], ada["01_tiny manual"], ada["01_tiny to grade"]) == ("4", "0", "1")
    assert ada["01_tiny: 01_explain_written"] == ""          # needs manual grading
    assert (ada["02_small status"], ada["02_small to grade"]) == ("graded", "0")
    assert (ada["02_small"], ada["02_small: 02_size"]) == ("0", "0")
    assert (ada["total"], ada["max_total"]) == ("4", "7")
    assert bob["01_tiny status"] == "ungraded: time limit 120 s exceeded at cell 4"
    assert bob["01_tiny"] == "" and bob["01_tiny: 01_cube"] == "" and bob["01_tiny to grade"] == ""
    assert bob["02_small status"] == "missing" and bob["total"] == "0"
    assert cy["01_tiny status"] == "not graded yet"
    assert (dee["01_tiny status"], dee["02_small"], dee["total"]) == ("missing", "2", "2")
    assert "4 students" in capsys.readouterr().out


def test_canvas_layout_with_points_possible(course_dir, tmp_path, capsys):  # noqa: F811
    _class(course_dir)
    out = tmp_path / "canvas.csv"
    assert main(["--course", str(course_dir), "export", "--format", "canvas", "--output", str(out)]) == 0
    rows = read_csv(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "Section", "01_tiny", "02_small",
                       "01_tiny: points to grade by hand", "02_small: points to grade by hand"]
    # Canvas's importer skips a column whose Points Possible cell says "read only" (as its own exports mark
    # Current Score etc.): the pending points are shown, never imported as an assignment
    assert rows[1] == ["Points Possible", "", "", "", "5", "2", "(read only)", "(read only)"]
    by = {r[2]: r for r in rows[2:]}
    assert by["ada"][4:] == ["4", "0", "1", ""]
    assert by["bob"][4:] == ["", "", "", ""]        # ungraded and missing are left empty, not 0
    assert by["dee"][4:] == ["", "2", "", ""]
    err = capsys.readouterr().err
    assert "warning: 1 graded submission(s) still have 1 point of written answers to grade by hand" in err
    assert "--complete-only" in err


def test_complete_only_leaves_pending_scores_empty(course_dir, tmp_path, capsys):  # noqa: F811
    _class(course_dir)
    out = tmp_path / "canvas.csv"
    base = ["--course", str(course_dir), "export", "--output", str(out)]
    assert main(base + ["--format", "canvas", "--complete-only"]) == 0
    by = {r[2]: r for r in read_csv(out)[2:]}
    assert by["ada"][4:6] == ["", "0"]      # 01_tiny waits for hand grading; 02_small is final
    assert by["dee"][4:6] == ["", "2"]
    err = capsys.readouterr().err
    assert "warning" not in err and "left empty (--complete-only)" in err
    assert main(base + ["--complete-only", "--force"]) == 0
    ada = {r[0]: dict(zip(read_csv(out)[0], r, strict=True)) for r in read_csv(out)[1:]}["ada"]
    assert (ada["01_tiny"], ada["01_tiny status"], ada["total"]) == ("", "awaiting hand grading: 1 point", "0")


def test_no_warning_once_everything_is_graded(course_dir, tmp_path, capsys):  # noqa: F811
    record(course_dir, "02_small", "dee", [("02_size", "auto", 2.0, 2.0, None, None)])
    assert main(["--course", str(course_dir), "export", "--format", "canvas", "--output", str(tmp_path / "c.csv")]) == 0
    assert "hand" not in capsys.readouterr().err


def test_each_format_has_its_own_file_and_nothing_else_is_overwritten(course_dir, capsys):  # noqa: F811
    _class(course_dir)
    base = ["--course", str(course_dir), "export"]
    exports = course_dir / "exports"
    assert main(base) == 0
    assert "(new file)" in capsys.readouterr().out
    plain = (exports / "grades.csv").read_text()
    assert main(base + ["--format", "canvas"]) == 0
    assert "grades_canvas.csv (new file)" in capsys.readouterr().out
    assert (exports / "grades.csv").read_text() == plain         # the canvas export did not clobber it
    assert read_csv(exports / "grades_canvas.csv")[0][0] == "Student"
    assert main(base) == 0                                        # the same export again: says so
    assert "replaced the previous plain grades CSV" in capsys.readouterr().out
    # a file of another format, or not an export at all, is not replaced without --force
    assert main(base + ["--format", "canvas", "--output", str(exports / "grades.csv")]) == 2
    err = capsys.readouterr().err
    assert "holds plain grades CSV, not a Canvas gradebook CSV; not replaced" in err and "--force" in err
    assert (exports / "grades.csv").read_text() == plain
    mine = exports / "my_notes.csv"
    mine.write_text("name,comment\nada,good\n")
    assert main(base + ["--output", str(mine)]) == 2
    assert "not a grades export" in capsys.readouterr().err and mine.read_text() == "name,comment\nada,good\n"
    assert main(base + ["--output", str(mine), "--force"]) == 0
    assert read_csv(mine)[0][0] == "student"


def test_a_score_given_in_the_formgrader_reaches_the_next_export(course_dir, tmp_path):  # noqa: F811
    """nbgrader's formgrader saves a hand score by setting Grade.manual_score (apihandlers.GradeHandler.put);
    the next export counts it and the submission is no longer waiting."""
    from nbgrader.api import Gradebook

    _class(course_dir)
    out = tmp_path / "g.csv"
    url = f"sqlite:///{course_dir / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.update_or_create_assignment("01_tiny")
        gb.update_or_create_notebook("01_tiny", "01_tiny")
        gb.add_solution_cell("01_explain_written", "01_tiny", "01_tiny")
        gb.add_grade_cell("01_explain_written", "01_tiny", "01_tiny", max_score=1, cell_type="markdown")
        gb.update_or_create_student("ada")
        gb.add_submission("01_tiny", "ada")
        grade_id = gb.find_grade("01_explain_written", "01_tiny", "01_tiny", "ada").id
    with Gradebook(url) as gb:                       # what GradeHandler.put does with {"manual_score": 1}
        grade = gb.find_grade_by_id(grade_id)
        grade.manual_score = 1.0
        grade.extra_credit = None
        grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
        gb.db.commit()
    assert main(["--course", str(course_dir), "export", "--output", str(out)]) == 0
    ada = {r[0]: dict(zip(read_csv(out)[0], r, strict=True)) for r in read_csv(out)[1:]}["ada"]
    assert (ada["01_tiny"], ada["01_tiny status"]) == ("5", "graded")
    assert (ada["01_tiny auto"], ada["01_tiny manual"], ada["01_tiny to grade"]) == ("4", "1", "0")
    assert ada["01_tiny: 01_explain_written"] == "1" and ada["total"] == "5"


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
    from autograder.classdata import load_class
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
