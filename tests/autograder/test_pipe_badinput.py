"""The instructor pipeline under bad input and hostile data: broken and odd submissions, odd student
ids, hostile text in every HTML and CSV output, collisions in collect, a broken gradebook.

Fast tests first; `batch` grades every odd submission in ONE real `grade` run (slow)."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import zipfile

import nbformat
import pytest
from coursekit import graded_rows
from test_pipe_fixture import course_dir, make_course, record, release, submit  # noqa: F401

from autograder.__main__ import main
from autograder.assemble import assemble
from autograder.exports import csv_safe
from autograder.notebooks import NotebookError, parse_notebook, read_notebook, write_notebook
from autograder.results import ResultsStore

# its module fixture grades a class once: every test of this file on one xdist worker
pytestmark = pytest.mark.xdist_group("pipe_badinput")

A = "01_tiny"
FULL = {"01_cube_answer": "d_cube = 3 * x**2",
        "01_jac_answer": "def jac_h(x):\n    return np.array([[x[1], x[0], 0.0], [0.0, 1.0, 1.0]])",
        "01_shape_answer": "jac_shape = (2, 3)"}
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
XSS = "<script>alert(1)</script>"
MATH = "$$\\unicode{x41}$$"


def _cli(course, *args):
    return main(["--course", str(course), *args])


# -- notebooks: every bad file is one clear NotebookError ------------------------------------------------

def _v4(**extra):
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [], **extra})


@pytest.mark.parametrize("text, words", [
    ("", "empty file"),
    ("   \n", "empty file"),
    ("hello", "not valid JSON"),
    ('{"cells": [', "not valid JSON"),
    ("[]", "not a notebook"),
    ("[" * 100_000, "not valid JSON"),
    (_v4(nbformat=5), "not a notebook"),
    (_v4(metadata=[]), "not a notebook"),
    (_v4(cells=[{"cell_type": "heading", "source": "x", "metadata": {}}]), "cell 0 is not a notebook cell"),
    (_v4(cells=[{"cell_type": "code", "source": 5, "metadata": {}, "outputs": []}]), "not text"),
])
def test_bad_notebook_text_is_one_clear_error(text, words):
    with pytest.raises(NotebookError) as err:
        parse_notebook(text, "sub.ipynb")
    msg = str(err.value)
    assert words in msg and msg.startswith("sub.ipynb") and "\n" not in msg and len(msg) < 300


def test_nbformat_v3_and_a_utf8_bom_are_read():
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "x = 1", "outputs": [], "language": "python",
         "metadata": {"nbgrader": {"grade_id": "a_answer", "solution": True}}},
        {"cell_type": "heading", "level": 2, "source": "Title", "metadata": {}}]}]}
    nb = parse_notebook(json.dumps(v3))
    assert [(c.cell_type, c.source) for c in nb.cells] == [("code", "x = 1"), ("markdown", "## Title")]
    assert nb.cells[0].metadata["nbgrader"]["grade_id"] == "a_answer"
    assert len(parse_notebook("\ufeff" + _v4(cells=[{"cell_type": "markdown", "source": "m",
                                                      "metadata": {}}])).cells) == 1


@pytest.mark.parametrize("outputs", [["hello"], {"a": 1}, [{"output_type": "display_data", "data": ["x"]}]])
def test_malformed_outputs_metadata_and_attachments_do_not_cost_the_answers(outputs):
    cells = [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": outputs, "execution_count": 1,
              "id": "c1"},
             {"cell_type": "markdown", "source": "m", "metadata": {}, "attachments": "zz", "id": "c2"}]
    nb = parse_notebook(_v4(cells=cells, metadata=[]), lenient=True)
    assert nb.cells[0].source == "x = 1" and nb.cells[0].outputs == [] and "attachments" not in nb.cells[1]
    with pytest.raises(NotebookError):   # an instructor's notebook is not silently changed
        parse_notebook(_v4(cells=cells, metadata=[]))


def test_big_notebook_says_to_clear_outputs(tmp_path, monkeypatch):
    import autograder.notebooks as notebooks

    monkeypatch.setattr(notebooks, "MAX_NOTEBOOK_BYTES", 1000)
    path = tmp_path / "big.ipynb"
    path.write_text(_v4(metadata={"pad": "x" * 2000}))
    for follow in (True, False):
        with pytest.raises(NotebookError, match="larger than .*Clear Outputs"):
            read_notebook(path, follow_symlinks=follow)


def test_lone_surrogate_in_student_text_is_written_and_read_back(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("s = '\ud800'")]
    write_notebook(nb, tmp_path / "a.ipynb")
    assert read_notebook(tmp_path / "a.ipynb").cells[0].source == "s = '\ud800'"


def test_a_duplicated_answer_cell_runs_as_in_the_students_kernel(course_dir):  # noqa: F811
    release(course_dir, A)
    rel = read_notebook(course_dir / "release" / A / f"{A}.ipynb")
    sub = read_notebook(course_dir / "release" / A / f"{A}.ipynb")
    i = next(k for k, c in enumerate(sub.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "01_jac_answer")
    copy = nbformat.from_dict(json.loads(json.dumps(sub.cells[i])))
    copy.source = FULL["01_jac_answer"]
    sub.cells.insert(i + 1, copy)        # the student solved it in a copy of the answer cell
    sub.cells.append(nbformat.from_dict(json.loads(json.dumps(sub.cells[i + 2]))))  # a copied test cell
    out = assemble(sub, rel)
    sources = [src for _, src, _, _ in out.code_cells]
    assert FULL["01_jac_answer"] in sources                  # the copy runs, after the stub
    gids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in out.notebook.cells]
    assert gids.count("01_jac_answer") == 1 and gids.count("01_jac") == 1   # ids stay unique
    assert sources.index(FULL["01_jac_answer"]) > sources.index(sub.cells[i].source)


# -- gradebook and course folder problems: one line, exit 2 -------------------------------------------------

def _run_cli(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["export", "--output", "-"], ["report"], ["feedback"], ["grade"]])
def test_corrupt_gradebook_is_one_line_error(course_dir, command):  # noqa: F811
    (course_dir / "gradebook.db").write_bytes(b"this is not sqlite" * 100)
    proc = _run_cli(course_dir, *command)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "gradebook" in proc.stderr and "not a database" in proc.stderr


@pytest.mark.parametrize("url, words", [
    ("postgresql://teacher:hunter2@127.0.0.1:1/x", "cannot be used"),     # no server there
    ("sqlite:////no/such/folder/gb.db", "unable to open"),
    ("not a url", "is not a database URL"),
])
def test_bad_db_url_is_one_line_error_without_password(course_dir, capsys, url, words):  # noqa: F811
    assert _cli(course_dir, "--db", url, "export") == 2
    err = capsys.readouterr().err
    assert words in err and "hunter2" not in err and err.count("\n") == 1


def test_not_a_course_and_unwritable_output(tmp_path, course_dir, capsys):  # noqa: F811
    assert _cli(tmp_path, "report") == 2
    assert f"--course {tmp_path}: not an nbgrader course" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert _cli(course_dir, "export", "--output", str(tmp_path / "afile" / "grades.csv")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "afile" in err


def test_commands_on_a_class_nobody_submitted(course_dir, capsys):  # noqa: F811
    for args in (["export", "--output", "-"], ["report", A], ["feedback", A]):
        assert _cli(course_dir, *args) == 0
    out = capsys.readouterr().out
    assert "feedback: 0 pages" in out and "report: 0 submissions" in out


# -- export: formula injection and odd characters ---------------------------------------------------------

@pytest.mark.parametrize("cell, safe", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+cmd", "'+1+cmd"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\uff1d1+1", "'\uff1d1+1"),
    ("-1.5", "-1.5"), ("alice", "alice"), ("", ""), ("ungraded: x", "ungraded: x"),
])
def test_csv_safe(cell, safe):
    assert csv_safe(cell) == safe


def test_export_neutralises_formulas_and_quotes_odd_ids(course_dir):  # noqa: F811
    ids = ["=HYPERLINK(\"http://evil\";\"x\")", "@cmd", "a,b\"c\nd", "José García", "+plus"]
    for s in ids:
        record(course_dir, A, s, [("01_cube", "auto", 1.0, 1.0, None, None)])
    record(course_dir, A, "-minus", status="ungraded", reason="=1+1 <b>", max_score=5)
    out = course_dir / "exports" / "grades.csv"
    assert _cli(course_dir, "export") == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    students = [r[0] for r in rows[1:]]
    # a line break in an id is a space in the CSV (textclean: no text in an export can forge a row)
    shown = [s.replace("\n", " ") for s in ids + ["-minus"]]
    assert sorted(students) == sorted(["'" + s if s[0] in "=@+-" else s for s in shown])
    for row in rows:
        assert not any(c[:1] in ("=", "+", "@") or (c[:1] == "-" and not re.fullmatch(r"-[\d.]+", c))
                       for c in row), row
    status = rows[[r[0] for r in rows].index("'-minus")][2]
    assert status == "ungraded: =1+1 <b>"
    assert _cli(course_dir, "export", "--format", "canvas") == 0
    canvas = list(csv.reader(io.StringIO((out.parent / "grades_canvas.csv").read_text(encoding="utf-8"))))
    assert canvas[0][0] == "Student" and len(canvas) == len(rows) + 1    # + the Points Possible row
    assert all(c[:1] not in ("=", "+", "@") for row in canvas for c in row)


# -- collect -----------------------------------------------------------------------------------------------

def _nb_bytes(marker):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"# {marker}", id="c1")]
    return nbformat.writes(nb).encode()


def test_collect_never_merges_different_students_whose_ids_collide(course_dir, tmp_path, capsys):  # noqa: F811
    z = tmp_path / "lms.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("José_11_01_tiny.ipynb", _nb_bytes("jose accented"))
        zf.writestr("jose_22_01_tiny.ipynb", _nb_bytes("jose plain"))
        zf.writestr(("y" * 70) + "a_1_01_tiny.ipynb", _nb_bytes("long a"))   # same first 64 characters
        zf.writestr(("y" * 70) + "b_2_01_tiny.ipynb", _nb_bytes("long b"))
        zf.writestr("Kim_3_01_tiny.ipynb", _nb_bytes("kim upper"))            # one person, case differs
        zf.writestr("kim_3_01_tiny-1.ipynb", _nb_bytes("kim lower"))
        zf.writestr("Jose\u0301e_4_02_small.ipynb", _nb_bytes("nfd"))          # NFD and NFC: one person
        zf.writestr("Jos\u00e9e_4_02_small-2.ipynb", _nb_bytes("nfc"))
    assert _cli(course_dir, "collect", str(z)) == 0
    out = capsys.readouterr().out
    sub = course_dir / "submitted"
    # issue 11: both used to be refused as a collision, so each student's work was lost. Different
    # accounts (Canvas user ids) are different students: each is kept, in its own folder, one line each.
    assert "jose plain" in (sub / "jose" / A / f"{A}.ipynb").read_text()
    assert "jose accented" in (sub / "jose_2" / A / f"{A}.ipynb").read_text()
    assert "long a" in (sub / ("y" * 64) / A / f"{A}.ipynb").read_text()
    assert "long b" in (sub / ("y" * 62 + "_2") / A / f"{A}.ipynb").read_text()
    notes = [line for line in out.splitlines() if line.startswith("note  ")]
    assert len(notes) == 2 and "'José' (Canvas user 11) is collected as jose_2" in notes[0]
    assert "kim lower" in (sub / "kim" / A / f"{A}.ipynb").read_text()
    assert "nfc" in (sub / "josee" / "02_small" / "02_small.ipynb").read_text()


def test_collect_odd_zips(course_dir, tmp_path, capsys):  # noqa: F811
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    assert _cli(course_dir, "collect", str(empty)) == 1
    assert "no usable submission" in capsys.readouterr().err
    junk = tmp_path / "junk.zip"
    with zipfile.ZipFile(junk, "w") as zf:
        zf.writestr("__MACOSX/._ann_1_01_tiny.ipynb", b"\x00\x05\x16\x07")
        zf.writestr("Export/Week 1/ann_1_01_TINY.IPYNB", _nb_bytes("ann"))
        zf.writestr("ann_1_99_unknown.ipynb", _nb_bytes("other"))
        zf.writestr("inner.zip", b"PK\x05\x06" + b"\x00" * 18)
    assert _cli(course_dir, "collect", str(junk)) == 0
    out = capsys.readouterr().out
    assert "ann" in (course_dir / "submitted" / "ann" / A / f"{A}.ipynb").read_text()
    assert "__MACOSX/._ann_1_01_tiny.ipynb: system file" in out
    assert "ann_1_99_unknown.ipynb: name matches no notebook" in out and "inner.zip: not a notebook" in out
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bo_2_01_tiny.ipynb", b" " * (30 * 10**6))
    # issue 11: an oversized file used to be skipped, and its student vanished from every export; it
    # is now stored as it came (not a notebook: nothing to strip) for `grade` to record as ungraded
    assert _cli(course_dir, "collect", str(bomb), "--max-file-mb", "5") == 0
    assert "larger than 5 MB" in capsys.readouterr().out
    assert (course_dir / "submitted" / "bo" / A / f"{A}.ipynb").stat().st_size == 30 * 10**6
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x03\x04 not really")
    assert _cli(course_dir, "collect", str(fake)) == 1
    assert capsys.readouterr().err.startswith("error: ")


# -- one real grade run over odd submissions, then feedback, export and report ------------------------------

def _full_nb(course, answers=None):
    folder = submit(course, A, "_tmp", FULL | (answers or {}))
    nb = read_notebook(folder / f"{A}.ipynb")
    return nb


def _write(course, student, content, name=f"{A}.ipynb"):
    folder = course / "submitted" / student / A
    folder.mkdir(parents=True, exist_ok=True)
    if not isinstance(content, bytes):  # a lone surrogate is written as its JSON escape
        content = nbformat.writes(content).encode("utf-8", "backslashreplace")
    (folder / name).write_bytes(content)
    (folder / "timestamp.txt").write_text("2026-02-01 10:00:00.000000 UTC\n")
    return folder


def _index(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


WEIRD_IDS = {"José García": "space_accent", "<img src=x onerror=alert(1)>": "html",
             "=HYPERLINK(\"evil\")": "formula", "Alice": "upper", "alice": "lower", "x" * 150: "long",
             "a,b\"c": "csv"}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    import shutil

    course = make_course(tmp_path_factory.mktemp("bad"))
    release(course, A, "02_small")
    small = course / "source" / "02_small" / "02_small.ipynb"   # released, then its source breaks
    nb = read_notebook(small)
    nb.cells[4].source = nb.cells[4].source.replace('"kind": "value"', '"kind": "no_such_kind"')
    assert "no_such_kind" in nb.cells[4].source
    nbformat.write(nb, str(small))
    (course / "submitted" / "full" / "02_small").mkdir(parents=True)
    nbformat.write(nb, str(course / "submitted" / "full" / "02_small" / "02_small.ipynb"))
    full = _full_nb(course)
    shutil.rmtree(course / "submitted" / "_tmp")
    text = nbformat.writes(full)
    subs = {
        "full": full,
        "bom": ("\ufeff" + text).encode(),
        "v3": nbformat.writes(nbformat.convert(nbformat.reads(text, 4), 3)).encode(),  # convert mutates
        "empty": b"",
        "binary": b"PK\x03\x04" + bytes(range(256)) * 4,
        "truncated": text[: len(text) // 2].encode(),
        "all_deleted": nbformat.v4.new_notebook(),
    }
    dup = _full_nb(course, {"01_jac_answer": STUB})
    i = _index(dup, "01_jac_answer")
    copy = nbformat.from_dict(json.loads(json.dumps(dup.cells[i])))
    copy.source = FULL["01_jac_answer"]
    dup.cells.insert(i + 1, copy)
    subs["dup_answer"] = dup
    md = _full_nb(course)
    i = _index(md, "01_shape_answer")
    md.cells[i] = nbformat.v4.new_markdown_cell(md.cells[i].source, metadata=md.cells[i].metadata)
    subs["answer_md"] = md
    raw = _full_nb(course)
    i = _index(raw, "01_jac")
    raw.cells[i] = nbformat.v4.new_raw_cell("deleted the test", metadata=raw.cells[i].metadata)
    subs["test_raw"] = raw
    renamed_id = _full_nb(course)
    renamed_id.cells[_index(renamed_id, "01_shape_answer")].metadata["nbgrader"]["grade_id"] = "my_cell"
    subs["gid_changed"] = renamed_id
    bad_out = json.loads(nbformat.writes(_full_nb(course)))
    bad_out["cells"][1]["outputs"] = ["not an output"]            # a buggy front end's output
    bad_out["metadata"] = []
    subs["broken_outputs"] = json.dumps(bad_out).encode()
    gone = _full_nb(course)
    del gone.cells[_index(gone, "01_shape_answer")]
    subs["answer_deleted"] = gone
    moved = _full_nb(course)
    moved.cells.append(moved.cells.pop(_index(moved, "01_shape_answer")))
    subs["reordered"] = moved
    nogid = _full_nb(course)
    for c in nogid.cells:
        c.metadata.pop("nbgrader", None)
    subs["no_gids"] = nogid
    sur = _full_nb(course, {"01_cube_answer": f"raise ValueError('bad ' + chr(0xd800) + {XSS + ' ' + MATH!r})"})
    sur.cells.append(nbformat.v4.new_markdown_cell("a lone surrogate: \ud800"))
    subs["surrogate"] = sur
    subs["hostile_code"] = _full_nb(course, {"01_cube_answer": f"d_cube = 3 * x**3  # </code></pre>{XSS} {MATH}"})
    for student, content in subs.items():
        _write(course, student, content)
    _write(course, "renamed", text.encode(), name="my work.ipynb")
    (course / "submitted" / "no_notebook" / A).mkdir(parents=True)
    _write(course, "two_notebooks", full)
    _write(course, "two_notebooks", b"{}", name=f"{A}-Copy1.ipynb")
    for student in WEIRD_IDS:
        _write(course, student, full)
    huge = _full_nb(course)
    huge.cells[1].outputs = [nbformat.v4.new_output("stream", text="y" * (21 * 2**20))]
    _write(course, "huge", huge)
    shutil.rmtree(course / "submitted" / "_tmp", ignore_errors=True)
    (course / "submitted" / "full" / "01-Tiny").mkdir()       # a misnamed assignment folder
    (course / "submitted" / "full" / "01-Tiny" / f"{A}.ipynb").write_text(text)
    assert json.loads((course / "submitted" / "full" / A / f"{A}.ipynb").read_text())["nbformat"] == 4
    assert json.loads((course / "submitted" / "v3" / A / f"{A}.ipynb").read_text())["nbformat"] == 3
    proc = _run_grade(course)
    rows, res = graded_rows(course, A)
    cli = {args[0]: _run_cli(course, *args) for args in (["feedback"], ["export"], ["report"])}
    return {"course": course, "proc": proc, "subs": rows, "res": res, "cli": cli}


def _run_grade(course, *names):
    return subprocess.run([sys.executable, "-m", "autograder", "--course", str(course), "grade", *names, "--jobs", "2",
                           "--timeout", "60", "--cell-timeout", "10", "--memory", "1024"],
                          capture_output=True, text=True, timeout=900)


def _auto(batch, student):
    return {g: r.score for g, r in batch["res"][student].items() if r.kind == "auto"}


FULL_SCORES = {"01_cube": 1.0, "01_jac": 2.0, "01_shape": 1.0}


@pytest.mark.slow
def test_every_submission_gets_a_verdict_and_the_batch_finishes(batch):
    proc = batch["proc"]
    assert proc.returncode == 2, proc.stderr[-3000:]     # 02_small's source fails: reported, 01_tiny graded
    assert re.search(r"NOT GRADED: .*02_small.*no_such_kind", proc.stderr)
    students = {p.name for p in (batch["course"] / "submitted").iterdir()}
    assert set(batch["subs"]) == students and not ResultsStore(
        f"sqlite:///{batch['course'] / 'gradebook.db'}").submissions("02_small")
    assert "Traceback" not in proc.stderr
    assert "1 submission folder(s) named after no assignment of the course, not graded: full/01-Tiny" in proc.stderr
    assert "differ only in case are graded as different students: Alice and alice" in proc.stderr


@pytest.mark.slow
def test_readable_odd_notebooks_are_graded(batch):
    for student in ("full", "bom", "v3", "broken_outputs", "no_gids", "dup_answer", "two_notebooks", "test_raw", "gid_changed",
                    *WEIRD_IDS):
        assert batch["subs"][student].status == "graded", (student, batch["subs"][student].reason)
        assert _auto(batch, student) == FULL_SCORES, student
    assert set(_auto(batch, "all_deleted").values()) == {0.0}


@pytest.mark.slow
@pytest.mark.parametrize("student, words", [
    ("empty", "empty file"), ("binary", "binary data, not UTF-8"), ("truncated", "not valid JSON"),
    ("renamed", "found my work.ipynb: rename it"), ("no_notebook", "expected 01_tiny.ipynb)"),
    ("huge", "Clear Outputs"),
])
def test_unreadable_submissions_are_ungraded_with_a_clear_reason(batch, student, words):
    sub = batch["subs"][student]
    assert sub.status == "ungraded" and words in sub.reason and "\n" not in sub.reason
    assert f"ungraded {A}/{student}: " in batch["proc"].stderr


@pytest.mark.slow
def test_answer_cell_turned_markdown_is_explained(batch):
    shape = batch["res"]["answer_md"]["01_shape"]
    assert shape.score == 0 and "markdown cell" in shape.message
    assert _auto(batch, "answer_md")["01_cube"] == 1.0


@pytest.mark.slow
def test_deleted_or_moved_answer_cell(batch):
    gone = batch["res"]["answer_deleted"]["01_shape"]
    assert gone.score == 0 and "no answer cell for this exercise" in gone.message
    assert _auto(batch, "answer_deleted")["01_jac"] == 2.0
    assert _auto(batch, "reordered") == FULL_SCORES | {"01_shape": 0.0}   # as in Restart & Run All


@pytest.mark.slow
def test_surrogates_and_hostile_text_are_graded_and_stored(batch):
    assert batch["subs"]["surrogate"].status == "graded"
    cube = batch["res"]["surrogate"]["01_cube"]
    assert cube.score == 0 and _auto(batch, "surrogate")["01_jac"] == 2.0
    assert "ValueError: bad \ufffd" + XSS in cube.message     # the error, stored with the surrogate replaced
    auto = batch["course"] / "autograded" / "surrogate" / A / f"{A}.ipynb"
    assert auto.is_file() and "\\ud800" in auto.read_text(encoding="utf-8")


def _html_files(batch):
    course = batch["course"]
    return [p for folder in ("feedback", "reports") for p in (course / folder).rglob("*.html")
            if "_static" not in p.parts]


@pytest.mark.slow
def test_outputs_are_written_and_no_student_markup_is_live(batch):
    for name, proc in batch["cli"].items():
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, (name, proc.stderr)
    pages = _html_files(batch)
    assert len(pages) >= 15
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert XSS not in text and "<img src=x" not in text, page
        for m in re.finditer(re.escape(MATH), text):     # student math only inside MathJax-ignored elements
            before = text[: m.start()]
            opened = max(before.rfind('class="untrusted"'), before.rfind(' untrusted"'))
            closed = max(before.rfind("</span>"), before.rfind("</pre>"), before.rfind("</p>"),
                         before.rfind("</td>"))
            assert opened > closed, (page, text[m.start() - 200: m.start()])
    fb = batch["course"] / "feedback"
    assert (fb / "José García" / A / f"{A}.html").is_file()
    index = (fb / "index.html").read_text(encoding="utf-8")
    assert "Jos%C3%A9%20Garc%C3%ADa/01_tiny/01_tiny.html" in index
    hostile = (fb / "hostile_code" / A / f"{A}.html").read_text(encoding="utf-8")
    assert "&lt;/code>&lt;/pre>&lt;script>" in hostile
    assert batch["cli"]["feedback"].returncode == 1            # the ids that cannot be folders are listed
    assert "not a safe folder name" in batch["cli"]["feedback"].stderr


@pytest.mark.slow
def test_export_of_the_batch(batch):
    rows = list(csv.reader(io.StringIO((batch["course"] / "exports" / "grades.csv").read_text("utf-8"))))
    by_id = {r[0]: r for r in rows[1:]}
    assert "'=HYPERLINK(\"evil\")" in by_id and "a,b\"c" in by_id and "x" * 150 in by_id
    assert by_id["Alice"][1] == by_id["alice"][1] == "4"
    assert by_id["empty"][2].startswith("ungraded: ")
    assert by_id["full"][rows[0].index("02_small status")] == "not graded yet"


@pytest.mark.slow
def test_grade_again_grades_nothing(batch):
    course = batch["course"]
    again = _run_grade(course, A)
    assert again.returncode == 0 and "nothing to grade" in again.stderr
    broken = _run_grade(course, "02_small")
    assert broken.returncode == 2 and broken.stderr.strip().splitlines()[-1].startswith("error: 02_small")


def test_collect_goes_on_when_one_submission_cannot_be_written(course_dir, tmp_path, capsys):  # noqa: F811
    z = tmp_path / "lms.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("amy_1_01_tiny.ipynb", _nb_bytes("amy"))
        zf.writestr("bo_2_01_tiny.ipynb", _nb_bytes("bo"))
        zf.writestr("cy_3_01_tiny.ipynb", _nb_bytes("cy"))
    (course_dir / "submitted").mkdir()
    (course_dir / "submitted" / "bo").write_text("a file where a folder should be")
    assert _cli(course_dir, "collect", str(z)) == 1
    out = capsys.readouterr().out
    assert "error  bo/01_tiny: not written" in out and "1 NOT WRITTEN" in out
    assert (course_dir / "submitted" / "amy" / A / f"{A}.ipynb").is_file()
    assert (course_dir / "submitted" / "cy" / A / f"{A}.ipynb").is_file()


def test_report_plots_labels_with_dollars_and_a_fifo_timestamp_does_not_block(course_dir):  # noqa: F811
    import os

    record(course_dir, A, "dan", [("01_cube", "auto", 0.0, 1.0, "cost_$x^{$", "msg $$ \\frac{")])
    folder = submit(course_dir, A, "dan")
    (folder / "timestamp.txt").unlink()
    os.mkfifo(folder / "timestamp.txt")
    assert _cli(course_dir, "report") == 0
    assert _cli(course_dir, "export") == 0
    # the verdict was for a version this folder no longer holds (its timestamp.txt cannot be read):
    # `grade` would grade it again, so the export says so rather than showing the old score
    assert "dan,,not graded yet" in (course_dir / "exports" / "grades.csv").read_text()


def test_release_of_a_broken_source_names_the_problem(course_dir, capsys):  # noqa: F811
    src = course_dir / "source" / "02_small" / "02_small.ipynb"
    src.write_text('{"cells": [')
    assert _cli(course_dir, "release", "02_small") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "source notebook 02_small.ipynb: not valid JSON" in err
    from test_pipe_fixture import small_notebook

    nb = small_notebook()
    nb.cells.append(nbformat.from_dict(json.loads(json.dumps(nb.cells[3]))))  # a duplicated grade_id
    nbformat.write(nb, str(src))
    assert _cli(course_dir, "release", "02_small") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Please see the" not in err and "Error" in err


def test_hostile_timestamp_is_not_typeset(course_dir):  # noqa: F811
    from autograder.results import SubmissionRow

    submit(course_dir, A, "tim")
    store = ResultsStore(f"sqlite:///{course_dir / 'gradebook.db'}")
    store.record(SubmissionRow(A, "tim", "ungraded", "x", None, 5, "2026-02-10T10:00:00+00:00", 1.0,
                               f"{MATH}{XSS}"), [])
    store.close()
    # the folder holds the version the verdict was given for (so the page shows it, with its time)
    (course_dir / "submitted" / "tim" / A / "timestamp.txt").write_text(f"{MATH}{XSS}")
    assert _cli(course_dir, "feedback", A) == 0
    page = (course_dir / "feedback" / "tim" / A / f"{A}.html").read_text()
    assert XSS not in page and f'submitted <span class="untrusted">{MATH}' in page


@pytest.mark.parametrize("config, words", [
    ("c = get_config(\n", "(line 1): SyntaxError"),
    ("c = get_config()\nraise RuntimeError('boom')\n", "RuntimeError: boom"),
    ("c = get_config()\nc.CourseDirectory.course_id = 5\n", "TraitError"),
])
def test_broken_nbgrader_config_is_one_line(course_dir, capsys, config, words):  # noqa: F811
    (course_dir / "nbgrader_config.py").write_text(config)
    assert _cli(course_dir, "release", A) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nbgrader_config.py" in err and words in err


def test_one_page_that_fails_does_not_stop_feedback(course_dir, capsys, monkeypatch):  # noqa: F811
    import autograder.feedback_pages as fb

    for s in ("ann", "bob", "cat"):
        record(course_dir, A, s, [("01_cube", "auto", 1.0, 1.0, None, None)])
    real = fb.render_page

    def flaky(course, data, assignment, student, *rest):
        if student == "bob":
            raise ValueError("odd row")
        return real(course, data, assignment, student, *rest)

    monkeypatch.setattr(fb, "render_page", flaky)
    assert _cli(course_dir, "feedback") == 1
    err = capsys.readouterr().err
    assert "'bob'/01_tiny: page not written (ValueError: odd row)" in err
    assert all((course_dir / "feedback" / s / A / f"{A}.html").is_file() for s in ("ann", "cat"))
    assert not list((course_dir / "feedback").rglob("*.part"))


def test_feedback_for_an_unknown_student_says_so(course_dir, capsys):  # noqa: F811
    record(course_dir, A, "ann", [("01_cube", "auto", 1.0, 1.0, None, None)])
    assert _cli(course_dir, "feedback", "--student", "Ann") == 2
    assert "no such student(s): 'Ann'" in capsys.readouterr().err
    assert _cli(course_dir, "feedback", "--student", "ann") == 0


def test_assignment_given_as_a_tab_completed_folder(course_dir, capsys):  # noqa: F811
    from autograder.course import Course, CourseError

    course = Course.open(course_dir)
    assert course.resolve_assignments(["source/01_tiny/", "02_small"]) == ["01_tiny", "02_small"]
    with pytest.raises(CourseError, match="unknown assignment"):
        course.resolve_assignments(["source/03_none/"])


@pytest.mark.parametrize("copy_metadata", [True, False])
def test_a_hand_answer_rebound_in_another_cell_with_a_routine_is_forbidden(copy_metadata):
    """A copy of the answer cell (with its metadata or without) that rebinds the answer with a routine."""
    import tempfile
    from pathlib import Path

    from coursekit import code, tiny_notebook

    from autograder import sandbox
    from autograder.grading import NotebookPlan, NotebookReference, judge_notebook, student_job
    from autograder.spec import load_exercises

    path = Path(tempfile.mkdtemp()) / "00_tiny.ipynb"
    nbformat.write(tiny_notebook(), str(path))
    exercises = load_exercises(path)
    sub = tiny_notebook()
    i = _index(sub, "t_expr_answer")
    sub.cells[i].source = "d_expr = 0"
    cheat = nbformat.from_dict(json.loads(json.dumps(sub.cells[i]))) if copy_metadata else code("")
    cheat.source = "d_expr = sp.diff(sp.sin(x**3), x)"
    sub.cells.insert(i + 1, cheat)
    plan = NotebookPlan("00_tiny", path, tiny_notebook(), tiny_notebook(), exercises, [], [], [])
    import numpy as np

    from autograder.kinds import kind_of

    rng = np.random.default_rng(0)
    ref = NotebookReference({ex.grade_id: {"drawn": kind_of(ex.kind).draw(ex, rng), "expected": None, "wrong": []}
                             for ex in exercises})
    job = student_job(plan, ref, sub)
    run = sandbox.run(job.steps, limits=sandbox.Limits(timeout=90))
    verdicts = judge_notebook(job, ref, run)
    assert verdicts["t_expr"].mistake == "forbidden" and "diff" in verdicts["t_expr"].message
    assert verdicts["t_jac"].mistake != "forbidden"         # the other hand exercise stays clean


def test_relative_course_from_another_cwd_and_an_output_folder_that_is_a_file(course_dir):  # noqa: F811
    record(course_dir, A, "ann", [("01_cube", "auto", 1.0, 1.0, None, None)])
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", course_dir.name, "export"],
                          cwd=course_dir.parent, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and (course_dir / "exports" / "grades.csv").is_file(), proc.stderr
    (course_dir / "reports").write_text("a file where the reports folder goes")   # like an unwritable folder
    proc = _run_cli(course_dir, "report")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "reports" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["verify", "grade"])
@pytest.mark.parametrize("args", [["--jobs", "0"], ["--timeout", "-1"], ["--cell-timeout", "0"],
                                  ["--timeout", "nan"], ["--cell-timeout", "inf"]])
def test_verify_and_grade_reject_bad_limits(course_dir, capsys, command, args):  # noqa: F811
    assert _cli(course_dir, command, A, *args) == 2
    assert capsys.readouterr().err.startswith("error: --jobs")


def test_collect_rejects_bad_caps(course_dir, tmp_path, capsys):  # noqa: F811
    assert _cli(course_dir, "collect", str(tmp_path), "--max-file-mb", "-5") == 2
    assert _cli(course_dir, "collect", str(tmp_path), "--max-total-mb", "nan") == 2
    assert capsys.readouterr().err.count("must be > 0") == 2


def test_a_verdict_that_cannot_be_written_is_recorded_as_ungraded(course_dir, monkeypatch):  # noqa: F811
    import autograder.nbgradebook as nbgradebook
    from autograder import sandbox
    from autograder.class_grading import Grader
    from autograder.course import Course
    from autograder.grading import load_plan

    release(course_dir, A)
    submit(course_dir, A, "eve")
    course = Course.open(course_dir)
    grader = Grader(course, sandbox.Limits(timeout=10, cell_timeout=5, memory_mb=256))
    real, calls = nbgradebook.record_nbgrader, []

    def flaky(course, assignment, student, auto, timestamp):
        calls.append(auto)
        if auto is not None:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real(course, assignment, student, auto, timestamp)

    monkeypatch.setattr(nbgradebook, "record_nbgrader", flaky)
    label = grader._record(load_plan(course, A), {}, "eve", {"notebooks": {A: None}, "ungraded": None,
                                                             "duration": 0.0})
    assert "ungraded: grader error while recording: UnicodeEncodeError" in label and calls[-1] is None
    row = ResultsStore(course.gradebook_url).submissions(A)[0]
    assert (row.student, row.status) == ("eve", "ungraded") and "surrogates" in row.reason


def test_feedback_shows_the_copy_of_an_answer_cell_that_ran_last(course_dir):  # noqa: F811
    from autograder.course import Course
    from autograder.feedback_pages import student_answer

    folder = submit(course_dir, A, "ann", {"01_cube_answer": "d_cube = 1  # first"})
    nb = read_notebook(folder / f"{A}.ipynb")
    i = _index(nb, "01_cube_answer")
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[i])))
    copy.source = "d_cube = 2  # the copy"
    nb.cells.insert(i + 1, copy)
    nbformat.write(nb, str(folder / f"{A}.ipynb"))
    assert student_answer(Course.open(course_dir), A, "ann", A, "01_cube_answer") == "d_cube = 2  # the copy"
