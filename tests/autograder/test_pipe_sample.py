"""`sample`: a deterministic sample class whose manifest says exactly what each submission holds."""
from __future__ import annotations

import json
import shutil
import zipfile

import pytest
from test_pipe_fixture import make_course, release

from autograder.__main__ import main
from autograder.course import Course
from autograder.notebooks import NotebookError, cell_by_grade_id, parse_notebook, read_notebook
from autograder.sample_class import BROKEN_KINDS, generate
from autograder.spec import load_exercises

# its module fixture grades a class once: every test of this file on one xdist worker
pytestmark = pytest.mark.xdist_group("pipe_sample")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("sample"))
    release(course)
    return course


def _without_path(manifest):
    return {k: v for k, v in manifest.items() if k != "path"}


def test_same_seed_same_class_other_seed_other_class(released, tmp_path):
    course = Course.open(released)
    a = generate(course, 9, seed=5, output=tmp_path / "a")
    b = generate(course, 9, seed=5, output=tmp_path / "b")
    c = generate(course, 9, seed=6, output=tmp_path / "c")
    assert (tmp_path / "a" / "submissions.zip").read_bytes() == (tmp_path / "b" / "submissions.zip").read_bytes()
    assert _without_path(a) == _without_path(b)
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["submissions"] == a["submissions"]
    assert [s["exercises"] for s in a["submissions"]] != [s["exercises"] for s in c["submissions"]]


def test_manifest_matches_the_notebooks_in_the_zip(released, tmp_path):
    course = Course.open(released)
    manifest = generate(course, 12, seed=2, output=tmp_path, broken_per_assignment=5)
    zf = zipfile.ZipFile(tmp_path / "submissions.zip")
    names = set(zf.namelist())
    profiles = {s["profile"] for s in manifest["submissions"]}
    assert {"correct", "blank", "wrong"} <= profiles
    assert {f"broken:{k}" for k in BROKEN_KINDS} <= profiles
    assert manifest["missing"] == [{"student": manifest["submissions"][11]["student"], "assignment": "02_small"}]
    for sub in manifest["submissions"]:
        assert sub["file"] in names
        text = zf.read(sub["file"]).decode()
        if sub["profile"] == "broken:malformed_json":
            with pytest.raises(NotebookError):
                parse_notebook(text)
            assert sub["expect_status"] == "ungraded"
            continue
        nb = parse_notebook(text)
        src = course.source_notebooks(sub["assignment"])[0]
        rel = read_notebook(course.release_notebooks(sub["assignment"])[0])
        for ex in load_exercises(src):
            given = sub["exercises"][ex.grade_id]
            answer = cell_by_grade_id(nb, ex.answer_cell).source
            assert "BEGIN SOLUTION" not in answer
            if given["given"].startswith("wrong:"):
                codes = [w.code for w in ex.wrong if w.mistake == given["given"][len("wrong:"):]]
                assert answer in codes and given["max"] == 0.0
            elif given["given"] == "blank":
                assert answer == cell_by_grade_id(rel, ex.answer_cell).source
                assert given["max"] == 0.0
            elif sub["profile"] == "broken:infinite_loop" and ex is load_exercises(src)[0]:
                assert answer.startswith("while True:")
            else:
                assert answer != cell_by_grade_id(rel, ex.answer_cell).source, "a solution was expected"
                assert given["min"] == 1.0 or sub["profile"].startswith("broken:")
        codes = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        if sub["profile"] == "broken:deleted_test_cell":
            assert cell_by_grade_id(nb, load_exercises(src)[0].grade_id) is None
        if sub["profile"] == "broken:os_exit":
            assert "os._exit(1)" in codes
        if sub["profile"] == "broken:sigkill":
            assert "SIGKILL" in codes
        if sub["profile"] == "correct":
            assert all(g["min"] == g["max"] == 1.0 for g in sub["exercises"].values())
        if sub["profile"] == "blank":
            assert all(g["max"] == 0.0 for g in sub["exercises"].values())


def test_tree_format_collects_to_the_manifest_students(released, tmp_path, capsys):
    course = Course.open(released)
    manifest = generate(course, 4, seed=1, output=tmp_path / "s", fmt="tree")
    tree = tmp_path / "s" / "submitted"
    for sub in manifest["submissions"]:
        folder = tree / sub["student"] / sub["assignment"]
        assert (folder / sub["notebook"]).is_file()
        assert (folder / "timestamp.txt").read_text().strip() == sub["timestamp"]
    # a second run replaces its own tree
    generate(course, 4, seed=1, output=tmp_path / "s", fmt="tree")
    assert sorted(p.name for p in tree.iterdir()) == sorted({s["student"] for s in manifest["submissions"]})


@pytest.mark.parametrize("lms", ["canvas", "moodle"])
def test_collect_finds_the_manifest_students_in_the_lms_zip(released, tmp_path, lms, capsys):
    course = tmp_path / "course"
    shutil.copytree(released, course)
    manifest = generate(Course.open(course), 7, seed=3, lms=lms)
    assert main(["--course", str(course), "collect", str(course / ".sample" / "submissions.zip")]) == 0
    out = capsys.readouterr().out
    assert "superseded by the newer" in out  # the resubmitting student's older attempt
    expected = sorted({(s["student"], s["assignment"]) for s in manifest["submissions"]})
    got = sorted((p.parent.parent.name, p.parent.name) for p in (course / "submitted").glob("*/*/*.ipynb"))
    assert got == expected
    for sub in manifest["submissions"]:
        folder = course / "submitted" / sub["student"] / sub["assignment"]
        assert (folder / "timestamp.txt").read_text().strip() == sub["timestamp"]


def test_sample_command_releases_when_needed_and_rejects_bad_input(tmp_path, capsys):
    course = make_course(tmp_path, assignments=("02_small",))
    assert main(["--course", str(course), "sample", "--students", "3", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "3 submissions from 3 students" in out
    assert (course / "release" / "02_small" / "02_small.ipynb").is_file()
    manifest = json.loads((course / ".sample" / "manifest.json").read_text())
    assert [s["profile"] for s in manifest["submissions"]][:2] == ["correct", "blank"]
    assert main(["--course", str(course), "sample", "--students", "0", "--force"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_sample_never_silently_replaces_a_sample(tmp_path, capsys):
    course = make_course(tmp_path, assignments=("02_small",))
    base = ["--course", str(course), "sample"]
    assert main(base + ["--students", "3", "--seed", "4"]) == 0
    capsys.readouterr()
    zip_path = course / ".sample" / "submissions.zip"
    before = zip_path.read_bytes()
    assert main(base + ["--students", "5", "--seed", "9"]) == 2
    err = capsys.readouterr().err
    assert "already holds a sample class (3 students, seed 4, zip)" in err and "--force" in err
    assert zip_path.read_bytes() == before                      # untouched
    assert main(base + ["--students", "5", "--seed", "9", "--force"]) == 0
    out = capsys.readouterr().out
    assert "replaced the previous sample class" in out and "(3 students, seed 4, zip)" in out
    assert zip_path.read_bytes() != before
    other = tmp_path / "elsewhere"
    assert main(base + ["--students", "2", "--output", str(other)]) == 0     # another folder: no question
