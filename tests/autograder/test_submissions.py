"""autograder/submissions.py: one definition of a submission's version and of "newer", shared by
collect (replace only a newer one) and grade (grade again what is no longer the graded version)."""
from __future__ import annotations

import datetime as dt
import os
import zipfile

import nbformat
from test_pipe_fixture import course_dir, record, submit  # noqa: F401  (course_dir is a fixture)

from autograder import submissions as S
from autograder.__main__ import main

UTC = dt.UTC


def test_version_is_timestamp_txt_else_the_newest_notebook_mtime(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    assert S.version(folder, ["a"]) is None and S.version_time(folder, ["a"]) is None
    for stem, t in (("a", 1_770_000_000), ("b", 1_770_000_500)):
        (folder / f"{stem}.ipynb").write_text("{}")
        os.utime(folder / f"{stem}.ipynb", (t, t))
    assert S.version_time(folder, ["a", "b"]) == dt.datetime.fromtimestamp(1_770_000_500, UTC)
    assert S.version_time(folder, ["a"]) == dt.datetime.fromtimestamp(1_770_000_000, UTC)
    (folder / "timestamp.txt").write_text("  2026-02-01 12:00:00.000000 UTC\n")
    assert S.version(folder, ["a"]) == "2026-02-01 12:00:00.000000 UTC"
    assert S.version_time(folder, ["a"]) == dt.datetime(2026, 2, 1, 12, tzinfo=UTC)


def test_a_symlinked_or_fifo_timestamp_is_not_read(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("2030-01-01 00:00:00 UTC")
    (folder / "timestamp.txt").symlink_to(secret)
    assert S.timestamp_text(folder) is None
    (folder / "timestamp.txt").unlink()
    os.mkfifo(folder / "timestamp.txt")
    assert S.timestamp_text(folder) is None   # and it returns: a FIFO never blocks


def test_same_version_and_newer():
    a = "2026-02-01 12:00:00.000000 UTC"
    assert S.same_version(a, a) and S.same_version(a, "2026-02-01T12:00:00Z")
    assert S.same_version(None, None) and not S.same_version(a, None) and not S.same_version(None, a)
    assert not S.same_version(a, "2026-02-01 12:00:01 UTC")
    assert not S.same_version("garbage", "other garbage")
    t0, t1 = dt.datetime(2026, 2, 1, tzinfo=UTC), dt.datetime(2026, 2, 2, tzinfo=UTC)
    assert S.is_newer(t1, t0) and not S.is_newer(t0, t1) and not S.is_newer(t0, t0)
    assert S.is_newer(t0, None) and not S.is_newer(None, t0) and not S.is_newer(None, None)


def _todo(course):
    from autograder.class_grading import Grader
    from autograder.course import Course
    from autograder.sandbox import Limits

    grader = Grader(Course.open(course), Limits())
    try:
        return grader.todo(["02_small"], False, [])
    finally:
        grader.store.close()


def test_grade_and_collect_share_the_rule(course_dir, tmp_path):  # noqa: F811
    """A verdict stays current while the version is the same instant, whatever its spelling; a newer
    submission collected from an LMS makes it stale, and then export does not report it either."""
    submit(course_dir, "02_small", "eve")   # timestamp.txt 2026-02-01 10:00 UTC, as in the stored verdict
    record(course_dir, "02_small", "eve", [("02_size", "auto", 2.0, 2.0, None, None)])
    assert _todo(course_dir) == []
    stamp = course_dir / "submitted" / "eve" / "02_small" / "timestamp.txt"
    stamp.write_text("2026-02-01T10:00:00+00:00\n")   # the same instant written differently
    assert _todo(course_dir) == []

    nb = nbformat.v4.new_notebook()
    older = tmp_path / "older.zip"
    with zipfile.ZipFile(older, "w") as zf:  # older than the stored one: collect keeps it, grade has nothing to do
        zf.writestr(zipfile.ZipInfo("eve_5_6_02_small.ipynb", (2026, 1, 31, 9, 0, 0)), nbformat.writes(nb))
    assert main(["--course", str(course_dir), "collect", str(older)]) == 0
    assert _todo(course_dir) == []
    newer = tmp_path / "newer.zip"
    with zipfile.ZipFile(newer, "w") as zf:
        zf.writestr(zipfile.ZipInfo("eve_5_7_02_small.ipynb", (2026, 2, 3, 9, 0, 0)), nbformat.writes(nb))
    assert main(["--course", str(course_dir), "collect", str(newer)]) == 0
    assert _todo(course_dir) == [("02_small", "eve")]
    assert S.version_time(stamp.parent, ["02_small"]) == dt.datetime(2026, 2, 3, 9, tzinfo=UTC)
