"""`collect`: nbgrader trees and LMS exports, folders and zips, newer/older, misnamed files, unsafe zips."""
from __future__ import annotations

import datetime as dt
import os
import stat
import zipfile

import nbformat
import pytest
from test_pipe_fixture import course_dir  # noqa: F401  (pytest fixture)

from autograder.__main__ import main
from autograder.cmd_collect import parse_timestamp, safe_student_id, timestamp_from_name


def nb_bytes(marker: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"# {marker}", id="cell-1")]
    return nbformat.writes(nb).encode()


def collect(course, source, *extra):
    return main(["--course", str(course), "collect", str(source), *extra])


def submitted(course, student, assignment):
    return course / "submitted" / student / assignment


def write_zip(path, entries):
    """entries: (name, bytes, (y, m, d, H, M, S)) or (ZipInfo, bytes)."""
    with zipfile.ZipFile(path, "w") as zf:
        for entry in entries:
            if isinstance(entry[0], zipfile.ZipInfo):
                zf.writestr(entry[0], entry[1])
            else:
                name, data, when = entry
                zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


def test_safe_student_id_and_names():
    assert safe_student_id("Jane Smith") == "jane_smith"
    assert safe_student_id("Zoë O'Brien") == "zoe_o_brien"
    assert safe_student_id("../../etc") == "etc"
    assert safe_student_id("...") == ""
    when = timestamp_from_name("smithj_2026-01-15-10-30-05_02_jacobians.ipynb")
    assert when == dt.datetime(2026, 1, 15, 10, 30, 5, tzinfo=dt.UTC)
    assert timestamp_from_name("smithj_12345_67890_02_jacobians.ipynb") is None
    assert parse_timestamp("2026-01-15 10:30:00.000000 UTC") == dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)
    assert parse_timestamp("not a date") is None


def test_nbgrader_tree_folder_with_timestamps(course_dir, tmp_path, capsys):  # noqa: F811
    src = tmp_path / "incoming" / "submitted"
    (src / "alice" / "01_tiny").mkdir(parents=True)
    (src / "alice" / "01_tiny" / "01_tiny.ipynb").write_bytes(nb_bytes("alice"))
    (src / "alice" / "01_tiny" / "timestamp.txt").write_text("2026-02-01 12:00:00.000000 UTC\n")
    (src / "bob" / "02_small").mkdir(parents=True)
    (src / "bob" / "02_small" / "02_small.ipynb").write_bytes(nb_bytes("bob"))
    (src / "bob" / "02_small" / "notes.ipynb").write_bytes(nb_bytes("stray"))
    assert collect(course_dir, tmp_path / "incoming") == 0
    out = capsys.readouterr().out
    a = submitted(course_dir, "alice", "01_tiny")
    assert (a / "01_tiny.ipynb").read_bytes() == nb_bytes("alice")
    assert parse_timestamp((a / "timestamp.txt").read_text()) == dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC)
    b = submitted(course_dir, "bob", "02_small")
    assert (b / "02_small.ipynb").read_bytes() == nb_bytes("bob")
    assert (b / "timestamp.txt").is_file()  # from the file's mtime
    assert not (b / "notes.ipynb").exists()
    assert "notes.ipynb" in out and "not a notebook of assignment 02_small" in out
    assert "2 new" in out.splitlines()[-1]


def test_lms_zip_canvas_and_moodle_names(course_dir, tmp_path, capsys):  # noqa: F811
    when = (2026, 2, 3, 8, 15, 0)
    z = write_zip(tmp_path / "export.zip", [
        ("smithj_12345_67890_01_tiny.ipynb", nb_bytes("smith"), when),
        ("Jane Doe_4411_assignsubmission_file_02_small.ipynb", nb_bytes("doe"), when),
        ("Max Mustermann_77_assignsubmission_file_/01_tiny.ipynb", nb_bytes("max"), when),
        ("leej_555_666_02_SMALL-2.ipynb", nb_bytes("lee"), when),
        ("readme.txt", b"hello", when),
        ("smithj_12345_67890_homework.ipynb", nb_bytes("x"), when),
        ("01_tiny.ipynb", nb_bytes("nobody"), when),
        ("__MACOSX/._smithj_12345_67890_01_tiny.ipynb", b"junk", when),
    ])
    assert collect(course_dir, z) == 0
    out = capsys.readouterr().out
    assert (submitted(course_dir, "smithj", "01_tiny") / "01_tiny.ipynb").read_bytes() == nb_bytes("smith")
    assert (submitted(course_dir, "jane_doe", "02_small") / "02_small.ipynb").read_bytes() == nb_bytes("doe")
    assert (submitted(course_dir, "max_mustermann", "01_tiny") / "01_tiny.ipynb").read_bytes() == nb_bytes("max")
    assert (submitted(course_dir, "leej", "02_small") / "02_small.ipynb").read_bytes() == nb_bytes("lee")
    stamp = parse_timestamp((submitted(course_dir, "smithj", "01_tiny") / "timestamp.txt").read_text())
    assert stamp == dt.datetime(*when, tzinfo=dt.UTC)
    # every unused file is listed with a reason, and copied nowhere
    for name in ("readme.txt", "smithj_12345_67890_homework.ipynb", "01_tiny.ipynb", "__MACOSX"):
        assert any(line.startswith("skipped") and name in line for line in out.splitlines()), name
    assert sorted(p.name for p in (course_dir / "submitted").iterdir()) == ["jane_doe", "leej", "max_mustermann", "smithj"]


def test_newest_of_several_in_one_zip_wins(course_dir, tmp_path, capsys):  # noqa: F811
    z = write_zip(tmp_path / "s.zip", [
        ("smithj_1_2_01_tiny-1.ipynb", nb_bytes("new"), (2026, 2, 5, 10, 0, 0)),
        ("smithj_1_3_01_tiny.ipynb", nb_bytes("old"), (2026, 2, 4, 10, 0, 0)),
    ])
    assert collect(course_dir, z) == 0
    out = capsys.readouterr().out
    assert (submitted(course_dir, "smithj", "01_tiny") / "01_tiny.ipynb").read_bytes() == nb_bytes("new")
    assert "superseded by the newer smithj_1_2_01_tiny-1.ipynb" in out


def test_newer_replaces_older_but_older_never_replaces_newer(course_dir, tmp_path, capsys):  # noqa: F811
    old = write_zip(tmp_path / "old.zip", [("smithj_1_2_01_tiny.ipynb", nb_bytes("v1"), (2026, 2, 1, 9, 0, 0))])
    new = write_zip(tmp_path / "new.zip", [("smithj_1_2_01_tiny.ipynb", nb_bytes("v2"), (2026, 2, 2, 9, 0, 0))])
    target = submitted(course_dir, "smithj", "01_tiny") / "01_tiny.ipynb"
    assert collect(course_dir, old) == 0
    assert collect(course_dir, new) == 0
    assert target.read_bytes() == nb_bytes("v2")
    assert "replaced  smithj/01_tiny" in capsys.readouterr().out
    assert collect(course_dir, old) == 0
    assert target.read_bytes() == nb_bytes("v2")
    out = capsys.readouterr().out
    assert "kept the newer existing one  smithj/01_tiny" in out
    assert "1 kept the existing one" in out
    assert collect(course_dir, new) == 0
    assert "unchanged  smithj/01_tiny" in capsys.readouterr().out


@pytest.mark.parametrize("bad_name", ["../evil_1_2_01_tiny.ipynb", "/tmp/evil_1_2_01_tiny.ipynb",
                                      "sub/../../evil_1_2_01_tiny.ipynb", "C:\\evil_1_2_01_tiny.ipynb"])
def test_unsafe_zip_is_refused_as_a_whole(course_dir, tmp_path, capsys, bad_name):  # noqa: F811
    workdir = tmp_path / "work"
    workdir.mkdir()
    z = write_zip(tmp_path / "evil.zip", [
        ("smithj_1_2_01_tiny.ipynb", nb_bytes("ok"), (2026, 2, 1, 9, 0, 0)),
        (bad_name, nb_bytes("evil"), (2026, 2, 1, 9, 0, 0)),
    ])
    cwd = os.getcwd()
    os.chdir(course_dir / "source")  # a relative '..' would land in course/
    try:
        assert collect(course_dir, z) == 1
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert "refused" in err and "unsafe" in err
    assert not (course_dir / "submitted").exists()
    assert not list(tmp_path.rglob("evil_1_2_01_tiny.ipynb"))
    assert not list(course_dir.rglob("evil_1_2_01_tiny.ipynb"))


def test_symlink_in_zip_is_refused(course_dir, tmp_path, capsys):  # noqa: F811
    info = zipfile.ZipInfo("smithj_1_2_01_tiny.ipynb", date_time=(2026, 2, 1, 9, 0, 0))
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = write_zip(tmp_path / "link.zip", [(info, b"/etc/passwd")])
    assert collect(course_dir, z) == 1
    assert "symbolic link" in capsys.readouterr().err


def test_size_cap_and_nothing_usable(course_dir, tmp_path, capsys):  # noqa: F811
    junk = write_zip(tmp_path / "junk.zip", [("smithj_1_2_01_tiny.txt", b"x", (2026, 2, 1, 9, 0, 0))])
    assert collect(course_dir, junk) == 1
    assert "no usable submission" in capsys.readouterr().err
    assert not (course_dir / "submitted").exists()
    big = nb_bytes("x" * 3_000_000)
    z = write_zip(tmp_path / "big.zip", [("smithj_1_2_01_tiny.ipynb", big, (2026, 2, 1, 9, 0, 0))])
    # issue 11: an oversized notebook used to be skipped, and its student had no row in the grades; it
    # is stored (without outputs if that brings it under the cap, else as it came) and grade decides
    assert collect(course_dir, z, "--max-file-mb", "1") == 0
    assert "larger than 1 MB" in capsys.readouterr().out
    assert (submitted(course_dir, "smithj", "01_tiny") / "01_tiny.ipynb").read_bytes() == big
    assert collect(course_dir, z, "--max-total-mb", "1") == 1
    assert "refused" in capsys.readouterr().err


def test_missing_source_and_not_a_zip(course_dir, tmp_path, capsys):  # noqa: F811
    assert collect(course_dir, tmp_path / "nope.zip") == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "plain.txt").write_text("hi")
    assert collect(course_dir, tmp_path / "plain.txt") == 1
    assert "neither a folder nor a zip" in capsys.readouterr().err


def test_symlinks_in_a_folder_are_not_followed(course_dir, tmp_path, capsys):  # noqa: F811
    secret = tmp_path / "secret.ipynb"
    secret.write_bytes(nb_bytes("secret"))
    src = tmp_path / "in"
    src.mkdir()
    (src / "smithj_1_2_01_tiny.ipynb").symlink_to(secret)
    assert collect(course_dir, src) == 1
    assert "symbolic link" in capsys.readouterr().out
    assert not (course_dir / "submitted").exists()


def test_zip_whose_headers_lie_about_sizes_is_not_decompressed_beyond_the_cap(course_dir, tmp_path, capsys):  # noqa: F811
    import struct

    path = tmp_path / "bomb.zip"
    info = zipfile.ZipInfo("smithj_1_2_01_tiny.ipynb", date_time=(2026, 2, 1, 9, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    write_zip(path, [(info, b"0" * 5_000_000)])
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 22, 100)                       # local header: uncompressed size
    struct.pack_into("<I", raw, raw.find(b"PK\x01\x02") + 24, 100)  # central directory: the same
    path.write_bytes(bytes(raw))
    assert zipfile.ZipFile(path).infolist()[0].file_size == 100
    assert collect(course_dir, path, "--max-file-mb", "1") == 1
    assert "could not be read" in capsys.readouterr().out
    assert not (course_dir / "submitted").exists()


@pytest.mark.parametrize("name", ["smithj_123_456_01_tiny_1.ipynb", "smithj_123_456_01_tiny (2).ipynb",
                                  "smithj_123_456_01_tiny-3.ipynb", "smithj_123_456_01_TINY+(1).ipynb"])
def test_resubmission_counters_are_understood(course_dir, tmp_path, name):  # noqa: F811
    z = write_zip(tmp_path / "c.zip", [(name, nb_bytes("c"), (2026, 2, 1, 9, 0, 0))])
    assert collect(course_dir, z) == 0
    assert (submitted(course_dir, "smithj", "01_tiny") / "01_tiny.ipynb").read_bytes() == nb_bytes("c")


def test_same_time_higher_counter_wins(course_dir, tmp_path, capsys):  # noqa: F811
    same = (2026, 2, 1, 9, 0, 0)
    z = write_zip(tmp_path / "c.zip", [("smithj_1_2_01_tiny-2.ipynb", nb_bytes("two"), same),
                                       ("smithj_1_2_01_tiny.ipynb", nb_bytes("zero"), same),
                                       ("smithj_1_2_01_tiny-1.ipynb", nb_bytes("one"), same)])
    assert collect(course_dir, z) == 0
    assert (submitted(course_dir, "smithj", "01_tiny") / "01_tiny.ipynb").read_bytes() == nb_bytes("two")
    assert capsys.readouterr().out.count("superseded") == 2


def test_tree_as_zip_and_lms_names_in_a_folder(course_dir, tmp_path):  # noqa: F811
    z = write_zip(tmp_path / "tree.zip", [
        ("course/submitted/alice/01_tiny/01_tiny.ipynb", nb_bytes("a"), (2026, 2, 1, 9, 0, 0)),
        ("course/submitted/alice/01_tiny/timestamp.txt", b"2026-02-03 08:00:00.000000 UTC", (2026, 2, 1, 9, 0, 0)),
    ])
    assert collect(course_dir, z) == 0
    folder = submitted(course_dir, "alice", "01_tiny")
    assert (folder / "01_tiny.ipynb").read_bytes() == nb_bytes("a")
    assert parse_timestamp((folder / "timestamp.txt").read_text()) == dt.datetime(2026, 2, 3, 8, tzinfo=dt.UTC)
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "bob_77_88_02_small.ipynb").write_bytes(nb_bytes("b"))
    os.utime(flat / "bob_77_88_02_small.ipynb", (1_770_000_000, 1_770_000_000))
    assert collect(course_dir, flat) == 0
    folder = submitted(course_dir, "bob", "02_small")
    assert (folder / "02_small.ipynb").read_bytes() == nb_bytes("b")
    assert parse_timestamp((folder / "timestamp.txt").read_text()) == dt.datetime.fromtimestamp(1_770_000_000,
                                                                                               tz=dt.UTC)


def test_dry_run_writes_nothing_and_stray_timestamps_are_listed(course_dir, tmp_path, capsys):  # noqa: F811
    src = tmp_path / "in"
    (src / "alice" / "01_tiny").mkdir(parents=True)
    (src / "alice" / "01_tiny" / "01_tiny.ipynb").write_bytes(nb_bytes("a"))
    (src / "alice" / "03_gone").mkdir(parents=True)
    (src / "alice" / "03_gone" / "timestamp.txt").write_text("2026-02-01 12:00:00 UTC")
    assert collect(course_dir, src, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "collected  alice/01_tiny" in out and "[dry run: nothing written]" in out
    assert "alice/03_gone/timestamp.txt: no submitted notebook beside it" in out
    assert not (course_dir / "submitted").exists()
