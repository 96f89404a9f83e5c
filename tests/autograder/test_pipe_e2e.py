"""End to end on the fixture course with real sandboxes: sample -> collect -> grade -> export agrees
with the sample's manifest; feedback and report run on the result; the demo runs twice."""
from __future__ import annotations

import csv
import json
import re

import pytest
from test_pipe_fixture import SECRET_LINES, make_course, release

from autograder.__main__ import main
from autograder.course import Course
from autograder.sample_class import BROKEN_KINDS, generate

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipe_e2e")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("e2e"))
    release(course)
    # 9 students on 01_tiny: correct, blank, wrong, one of each broken kind, and one who never submits
    manifest = generate(Course.open(course), 9, seed=11, assignments=["01_tiny"], broken_per_assignment=5)
    base = ["--course", str(course)]
    assert main(base + ["collect", str(course / ".sample" / "submissions.zip")]) == 0
    assert main(base + ["grade", "01_tiny", "--jobs", "2", "--cell-timeout", "5", "--timeout", "90"]) == 0
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # the roster knows who never submitted
        for m in manifest["missing"]:
            gb.update_or_create_student(m["student"])
    assert main(base + ["export"]) == 0
    with open(course / "exports" / "grades.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    return course, manifest, rows


def test_grades_agree_with_the_manifest(graded):
    course, manifest, rows = graded
    assert {s["profile"] for s in manifest["submissions"]} >= {"correct", "blank", "wrong"} | {
        f"broken:{k}" for k in BROKEN_KINDS}
    problems = []
    for sub in manifest["submissions"]:
        row = rows[sub["student"]]
        status = row["01_tiny status"]
        want = sub["expect_status"]
        if want == "ungraded" and not status.startswith("ungraded: "):
            problems.append(f"{sub['student']} ({sub['profile']}): expected ungraded, got {status}")
        # graded by the autograder; the written answer (even a blank one: someone must look) waits for
        # hand grading, and the status says so
        expected = "awaiting hand grading: 1 point"
        if want == "graded" and status != expected:
            problems.append(f"{sub['student']} ({sub['profile']}): expected {expected}, got {status}")
        if want != "graded" or status != expected:
            continue
        if (row["01_tiny to grade"], row["01_tiny manual"]) != ("1", "0"):
            problems.append(f"{sub['student']}: to grade {row['01_tiny to grade']}")
        for gid, given in sub["exercises"].items():
            score = float(row[f"01_tiny: {gid}"])
            points = sub["points"][gid]
            if not given["min"] * points - 1e-9 <= score <= given["max"] * points + 1e-9:
                problems.append(f"{sub['student']} ({sub['profile']}) {gid}: {given['given']} scored {score} "
                                f"of {points}, expected {given['min']}..{given['max']} of it")
    assert not problems, "\n".join(problems)
    correct = [s for s in manifest["submissions"] if s["profile"] == "correct"]
    blank = [s for s in manifest["submissions"] if s["profile"] == "blank"]
    assert correct and all(rows[s["student"]]["01_tiny"] == "4" for s in correct)       # 4 autograded points
    assert blank and all(rows[s["student"]]["01_tiny"] == "0" for s in blank)
    assert manifest["missing"]
    for m in manifest["missing"]:
        assert rows[m["student"]]["01_tiny status"] == "missing"
        assert rows[m["student"]]["total"] == "0"


def test_feedback_and_report_on_the_graded_class(graded):
    course, manifest, rows = graded
    assert main(["--course", str(course), "feedback"]) == 0
    assert main(["--course", str(course), "report"]) == 0
    wrong = [s for s in manifest["submissions"] if s["profile"] == "wrong"]
    for sub in wrong:
        html = (course / "feedback" / sub["student"] / "01_tiny" / "01_tiny.html").read_text()
        for given in sub["exercises"].values():
            if given["given"].startswith("wrong:"):
                assert given["message"] in html        # the catalogued message reaches the student
    for path in (course / "feedback").rglob("*.html"):
        text = path.read_text()
        for line in SECRET_LINES:
            assert line not in text, (path, line)
    report = (course / "reports" / "index.html").read_text()
    assert "Ungraded submissions" in report and "01_tiny_scores.png" in report


def test_demo_runs_on_a_fresh_course_and_again(tmp_path, capsys):
    from autograder.demo import main as demo

    course = make_course(tmp_path, assignments=("02_small",))
    args = ["--course", str(course), "--students", "4", "--jobs", "2", "--cell-timeout", "5"]
    assert demo(args) == 0
    first = (course / "exports" / "grades.csv").read_text()
    out = capsys.readouterr().out
    for step in ("release", "sample", "collect", "grade", "feedback", "export", "report"):
        assert f"   {step}" in out
    headers = [line for line in out.splitlines() if line.startswith("== [")]
    assert len(headers) == 8 and not any(line.endswith(("...", "…")) for line in headers)
    grade = next(line for line in headers if "] grade: " in line)
    assert grade.count("--student") == 4                      # the whole command, every student
    assert "export --format canvas" in out and (course / "exports" / "grades_canvas.csv").is_file()
    assert re.search(r"student +score +auto +manual +to grade +status", out)   # the new columns, at the end
    assert (course / "reports" / "index.html").is_file() and (course / "feedback" / "index.html").is_file()
    assert demo(args) == 0                                     # idempotent
    assert (course / "exports" / "grades.csv").read_text() == first
    out = capsys.readouterr().out
    assert "unchanged" in out
    assert "replaced the previous sample class" in out and "replaced the previous plain grades CSV" in out
    manifest = json.loads((course / ".sample" / "manifest.json").read_text())
    assert len(manifest["submissions"]) == 4


def test_demo_stops_with_a_clear_message(tmp_path, capsys):
    from autograder.demo import main as demo

    course = make_course(tmp_path, assignments=("02_small",))
    (course / "source" / "02_small" / "02_small.ipynb").write_text("{ not json")
    assert demo(["--course", str(course), "--students", "2"]) != 0
    err = capsys.readouterr().err
    assert "demo: step 'release' failed" in err or "demo: step 'sample' failed" in err
