"""The whole instructor pipeline on a real PostgreSQL gradebook (collect, grade, feedback, export,
report, verify with --db postgresql://...), two graders writing different assignments at once, and
nbgrader's own API (what formgrader serves) reading and writing the same database."""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from scalekit import disagreements, sample_class, verdicts
from test_pipe_fixture import make_course, release

from autograder.__main__ import main
from autograder.course import Course
from autograder.sample_class import generate

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pg")]


@pytest.fixture(scope="module")
def pg_class(tmp_path_factory, pg_server):
    """A fixture course (01_tiny, 02_small), a sample class of 7 collected and graded on PostgreSQL."""
    url = pg_server.url(pg_server.create_database())
    course = make_course(tmp_path_factory.mktemp("pg"))
    manifest = sample_class(course, 7, db=url)
    base = ["--course", str(course), "--db", url]
    assert main(base + ["grade", "--jobs", "2", "--cell-timeout", "5", "--timeout", "60"]) == 0
    return course, url, manifest


def test_grade_collect_and_verify_write_only_to_postgres(pg_class):
    course, url, manifest = pg_class
    got = verdicts(url)
    assert not disagreements(manifest, got)
    assert len(got) == len(manifest["submissions"])
    assert not (course / "gradebook.db").exists()              # nothing fell back to sqlite
    assert main(["--course", str(course), "--db", url, "verify", "02_small"]) == 0


def test_feedback_export_and_report_read_postgres(pg_class, capsys):
    course, url, manifest = pg_class
    base = ["--course", str(course), "--db", url]
    assert main(base + ["feedback"]) == 0
    assert main(base + ["export"]) == 0
    assert main(base + ["report"]) == 0
    with open(course / "exports" / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    got = verdicts(url)
    for (a, s), (status, _, score, _) in got.items():
        shown = rows[s][f"{a} status"]
        # a graded submission with written answers still to grade reads "awaiting hand grading: N points"
        assert shown == status or shown.startswith("ungraded") or (
            status == "graded" and shown.startswith("awaiting hand grading"))
        if status == "graded":
            assert float(rows[s][a]) == pytest.approx(score)
    correct = next(x for x in manifest["submissions"] if x["profile"] == "correct")
    page = course / "feedback" / correct["student"] / correct["assignment"] / f"{correct['assignment']}.html"
    assert page.is_file()
    assert (course / "reports" / "index.html").is_file()
    assert not (course / "gradebook.db").exists()


def test_formgrader_api_reads_the_same_database_and_its_manual_scores_reach_the_export(pg_class, monkeypatch):
    """nbgrader's NbGraderAPI (formgrader's backend), configured by the course's own nbgrader_config.py
    with the bare URL in $CHAINRULE_DB_URL as an instructor would start formgrader, sees our verdicts;
    a written answer it scores is exported with the next `export`."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    course, url, manifest = pg_class
    monkeypatch.setenv("CHAINRULE_DB_URL", url)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    assert cfg.CourseDirectory.db_url == url
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    got = verdicts(url)
    subs = {s["student"]: s for s in api.get_submissions("01_tiny")}
    graded = [s for (a, s), v in got.items() if a == "01_tiny" and v[0] == "graded"]
    assert graded
    for student in graded:
        auto = sum(v[0] for v in got[("01_tiny", student)][3].values() if v[0] is not None)
        assert subs[student]["autograded"] and subs[student]["score"] == pytest.approx(auto)
        assert subs[student]["needs_manual_grade"]                 # the written answer waits for a human
    student = graded[0]
    with Gradebook(url) as gb:                                     # what formgrader does on "save"
        grade = gb.find_grade("01_explain_written", "01_tiny", "01_tiny", student)
        grade.manual_score = 1.0
        gb.db.commit()
    assert main(["--course", str(course), "--db", url, "export"]) == 0
    with open(course / "exports" / "grades.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["student"] == student)
    auto = sum(v[0] for v in got[("01_tiny", student)][3].values() if v[0] is not None)
    assert float(row["01_tiny"]) == pytest.approx(auto + 1.0)


def test_two_graders_write_different_assignments_at_once(tmp_path, pg_url):
    """Two `grade` processes on a NEW database (both create the tables), the same students, one
    assignment each: both finish, every submission has its verdict, each student is in nbgrader's
    gradebook once with both submissions."""
    course = make_course(tmp_path)
    release(course)
    manifest = generate(Course.open(course), 6, seed=9, broken_per_assignment=0, fmt="tree")
    assert {x["assignment"] for x in manifest["submissions"] if x["student"] == "lovelacea"} == {"01_tiny", "02_small"}
    (course / ".sample" / "submitted").rename(course / "submitted")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.pop("CHAINRULE_DB_URL", None)
    procs = [subprocess.Popen([sys.executable, "-m", "autograder", "--course", str(course), "--db", pg_url,
                               "grade", a, "--jobs", "1", "--cell-timeout", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for a in ("01_tiny", "02_small")]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert "grader error" not in err, err[-2000:]
    got = verdicts(pg_url)
    assert not disagreements(manifest, got)
    assert {k for k in got} == {(s["assignment"], s["student"]) for s in manifest["submissions"]}
    from nbgrader.api import Gradebook

    with Gradebook(Course(course, pg_url).gradebook_url) as gb:
        students = [s.id for s in gb.students]
        assert sorted(students) == sorted(set(students))
        for s in {x["student"] for x in manifest["submissions"]}:
            want = {x["assignment"] for x in manifest["submissions"] if x["student"] == s}
            assert {sub.assignment.name for sub in gb.find_student(s).submissions} == want


def test_sample_on_an_unreleased_course_releases_into_the_same_database(tmp_path, pg_url):
    from nbgrader.api import Gradebook

    course = make_course(tmp_path, assignments=("02_small",))
    assert main(["--course", str(course), "--db", pg_url, "sample", "--students", "2"]) == 0
    assert not (course / "gradebook.db").exists()
    with Gradebook(Course(course, pg_url).gradebook_url) as gb:
        assert gb.find_assignment("02_small").max_score == 2
