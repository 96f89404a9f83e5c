"""A notebook over the size cap is still recorded (issue 11, "a student vanishes"), and collect's own
lines say what happened and what `grade` will do (issue 16)."""
from __future__ import annotations

import csv
import subprocess
import sys
import zipfile

import nbformat
import pytest
from test_pipe_fixture import course_dir, release  # noqa: F401  (course_dir is a fixture)

from autograder import collecting
from autograder.__main__ import main
from autograder.notebooks import MAX_NOTEBOOK_BYTES

A = "01_tiny"
WHEN = (2026, 2, 2, 9, 0, 0)


def solved(course, *, output: int = 0, markdown: int = 0) -> bytes:
    """The source notebook (every answer right), with `output` bytes of saved output in its first code
    cell and a markdown cell of `markdown` bytes."""
    nb = nbformat.read(str(course / "source" / A / f"{A}.ipynb"), 4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    if output:
        code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * output)]
        code.execution_count = 1
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell("z" * markdown))
    return nbformat.writes(nb).encode()


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name, date_time=WHEN), data)
    return path


def collect(course, source, *extra):
    return main(["--course", str(course), "collect", str(source), *extra])


def stored(course, student):
    return course / "submitted" / student / A / f"{A}.ipynb"


def test_outputs_are_stripped_when_that_brings_it_under_the_cap(course_dir, tmp_path, capsys):  # noqa: F811
    data = solved(course_dir, output=3_000_000)
    z = write_zip(tmp_path / "s.zip", [("outs_1_2_01_tiny.ipynb", data)])
    assert collect(course_dir, z, "--max-file-mb", "1") == 0
    out = capsys.readouterr().out
    nb = nbformat.reads(stored(course_dir, "outs").read_text(), 4)
    assert stored(course_dir, "outs").stat().st_size < 1_000_000
    assert all(c.get("outputs") == [] for c in nb.cells if c.cell_type == "code")
    source = nbformat.reads(data.decode(), 4)
    assert [c.source for c in nb.cells] == [c.source for c in source.cells]   # every answer kept
    assert "stored without them" in out and "outputs are never graded" in out
    assert collect(course_dir, z, "--max-file-mb", "1") == 0     # the same upload again: nothing changed
    assert "unchanged  outs/01_tiny" in capsys.readouterr().out


def test_too_large_even_without_outputs_is_stored_as_it_came(course_dir, tmp_path, capsys):  # noqa: F811
    data = solved(course_dir, markdown=MAX_NOTEBOOK_BYTES + 1000)
    z = write_zip(tmp_path / "s.zip", [("big_1_2_01_tiny.ipynb", data)])
    assert collect(course_dir, z) == 0
    out = capsys.readouterr().out
    assert stored(course_dir, "big").read_bytes() == data
    line = next(line for line in out.splitlines() if line.startswith("collected  big/01_tiny"))
    assert "stored as it came" in line and "grade will record it ungraded, larger than 20 MiB" in line


def test_beyond_the_strip_limit_it_is_copied_as_a_stream(course_dir, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setattr(collecting, "STRIP_LIMIT", 500_000)
    data = solved(course_dir, output=2_000_000)
    z = write_zip(tmp_path / "s.zip", [("huge_1_2_01_tiny.ipynb", data)])
    assert collect(course_dir, z, "--max-file-mb", "0.1") == 0
    assert stored(course_dir, "huge").read_bytes() == data
    assert "stored as it came" in capsys.readouterr().out
    assert collect(course_dir, z, "--max-file-mb", "0.1") == 0
    assert "unchanged  huge/01_tiny" in capsys.readouterr().out


def test_what_collect_says(course_dir, tmp_path, capsys):  # noqa: F811
    """Issue 16: 'replaced' says what `grade` does (no --force needed); an empty source says what it
    found and what was expected in one line; reasons have no nested parentheses."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert collect(course_dir, empty) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "it holds no files" in captured.err and "expected" in captured.err and "01_tiny.ipynb" in captured.err
    assert "listed above" not in captured.err
    (empty / "notes.txt").write_text("x")
    assert collect(course_dir, empty) == 1
    captured = capsys.readouterr()
    assert "skipped  notes.txt: not a notebook" in captured.out
    assert "it holds 1 file, not usable, listed above with the reason" in captured.err
    (empty / "more.txt").write_text("x")
    assert collect(course_dir, empty) == 1
    assert "it holds 2 files, none of them usable, each listed above" in capsys.readouterr().err

    old = write_zip(tmp_path / "old.zip", [("amy_1_2_01_tiny.ipynb", solved(course_dir)),
                                           ("amy_1_2_notes.ipynb", b"{}"),
                                           ("amy_1_2_01_tiny.txt", b"")])
    assert collect(course_dir, old) == 0
    capsys.readouterr()
    new = tmp_path / "new.zip"
    with zipfile.ZipFile(new, "w") as zf:
        zf.writestr(zipfile.ZipInfo("amy_1_3_01_tiny.ipynb", date_time=(2026, 2, 5, 9, 0, 0)), solved(course_dir))
    assert collect(course_dir, new) == 0
    out = capsys.readouterr().out
    replaced = next(line for line in out.splitlines() if line.startswith("replaced  amy/01_tiny"))
    assert "the next `grade` grades it without --force" in replaced and "grade --force" not in replaced
    assert out.splitlines()[-1] == ("collect: 0 new, 1 replaced, 0 kept the existing one, 0 unchanged, "
                                    "0 skipped; 1 student")
    assert collect(course_dir, old) == 0
    lines = capsys.readouterr().out.splitlines()
    for line in lines:
        inner = line.split("(", 1)[1] if "(" in line else ""
        assert "(" not in inner.split(")", 1)[0], line   # never a parenthesis inside a parenthesis
    assert lines[-1].endswith("2 skipped, listed above; 1 student")


@pytest.mark.slow
def test_an_oversized_submission_has_a_row_in_the_grades(course_dir, tmp_path):  # noqa: F811
    """collect -> grade -> export with real sandboxes: a notebook with huge outputs is graded in full
    (stripped at collect), one too large even without outputs is 'ungraded: ... larger than 20 MiB',
    and an innocent student beside them keeps full marks."""
    release(course_dir, A)
    z = write_zip(tmp_path / "export.zip", [
        ("okay_1_2_01_tiny.ipynb", solved(course_dir)),
        ("outs_3_4_01_tiny.ipynb", solved(course_dir, output=MAX_NOTEBOOK_BYTES + 5_000_000)),
        ("big_5_6_01_tiny.ipynb", solved(course_dir, markdown=MAX_NOTEBOOK_BYTES + 1000)),
    ])
    assert collect(course_dir, z) == 0
    grade = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_dir), "grade", A,
                            "--jobs", "2", "--timeout", "60", "--cell-timeout", "10", "--memory", "1024"],
                           capture_output=True, text=True, timeout=900)
    assert grade.returncode == 0, grade.stderr
    assert "graded 2, ungraded 1" in grade.stderr
    out = tmp_path / "grades.csv"
    assert main(["--course", str(course_dir), "export", "--output", str(out)]) == 0
    with open(out, newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert sorted(rows) == ["big", "okay", "outs"]
    assert rows["okay"][A] == rows["outs"][A] == "4"          # all autograded points (4 of 5; 1 by hand)
    assert rows["okay"][f"{A} status"] == rows["outs"][f"{A} status"] == "graded"
    status = rows["big"][f"{A} status"]
    assert status.startswith("ungraded: ") and "larger than 20 MiB" in status
