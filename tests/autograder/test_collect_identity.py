"""`collect` takes identity and time from the LMS's structure, never from a name a student chose (issue 11).

Each attack is run as an instructor would meet it: an LMS export (zip) collected into a fixture course.
"""
from __future__ import annotations

import json
import zipfile

import nbformat
import pytest
from test_pipe_fixture import course_dir  # noqa: F401  (pytest fixture)

from autograder.__main__ import main

A = "01_tiny"
T0, T1, T2 = (2026, 2, 2, 9, 0, 0), (2026, 2, 3, 9, 0, 0), (2026, 2, 4, 9, 0, 0)


def nb_bytes(marker: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"# {marker}", id="cell-1")]
    return nbformat.writes(nb).encode()


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, when in entries:
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


def collect(course, source, *extra):
    return main(["--course", str(course), "collect", str(source), *extra])


def content(course, student, assignment=A):
    path = course / "submitted" / student / assignment / f"{assignment}.ipynb"
    return path.read_text() if path.exists() else None


def students(course):
    return sorted(p.name for p in (course / "submitted").iterdir() if p.is_dir())


def moodle(name, number, file, form="folder"):
    """Moodle's names: "folder" (4.x downloader), "folder_" (3.x: the folder ends in `_`), "flat"."""
    sep = {"folder": "/", "folder_": "_/", "flat": "_"}[form]
    return f"{name}_{number}_assignsubmission_file{sep}{file}"


@pytest.mark.parametrize("form", ["folder", "folder_", "flat"])
def test_moodle_upload_named_after_another_student_with_a_future_date(course_dir, tmp_path, capsys,  # noqa: F811
                                                                     form):
    """A uploads, from A's own account, a file named after B with a 2099 date: it stays A's; B's own
    work is kept, and B's later real resubmission is accepted."""
    forged = moodle("Ada Lovelace", 111, "Grace Hopper_2099-12-31-23-59-59_01_tiny.ipynb", form)

    def export(name, grace, when):  # A's forged file, and B's own work from `when`
        return write_zip(tmp_path / name, [(forged, nb_bytes("ada's forged file"), T1),
                                           (moodle("Grace Hopper", 222, "01_tiny.ipynb", form),
                                            nb_bytes(grace), when)])

    assert collect(course_dir, export("export1.zip", "grace v1", T0)) == 0
    out = capsys.readouterr().out
    assert "grace v1" in content(course_dir, "grace_hopper")
    assert "ada's forged file" in content(course_dir, "ada_lovelace")
    note = [line for line in out.splitlines() if line.startswith("note  ") and "Grace Hopper_2099" in line]
    assert len(note) == 1 and "attributed to ada_lovelace" in note[0]
    assert "grace_hopper" in note[0] and "2099-12-31 23:59:59" in note[0]
    assert (course_dir / "submitted" / "ada_lovelace" / A / "timestamp.txt").read_text().startswith("2026-02-03")

    assert collect(course_dir, export("export2.zip", "grace v2", T2)) == 0
    out = capsys.readouterr().out
    assert "grace v2" in content(course_dir, "grace_hopper")
    assert "replaced  grace_hopper/01_tiny" in out and "unchanged  ada_lovelace/01_tiny" in out
    assert students(course_dir) == ["ada_lovelace", "grace_hopper"]


def test_a_moodle_account_folder_inside_another_is_the_outer_accounts(course_dir, tmp_path):  # noqa: F811
    """Moodle keeps the folders a student makes in the file picker: the outermost account folder,
    which Moodle wrote, is the account."""
    z = write_zip(tmp_path / "export.zip", [
        (moodle("Ada Lovelace", 111, moodle("Grace Hopper", 222, "01_tiny.ipynb")), nb_bytes("ada nested"), T1),
        (moodle("Grace Hopper", 222, "01_tiny.ipynb"), nb_bytes("grace"), T0),
    ])
    assert collect(course_dir, z) == 0
    assert "ada nested" in content(course_dir, "ada_lovelace") and "grace" in content(course_dir, "grace_hopper")


def test_canvas_upload_named_after_another_student(course_dir, tmp_path, capsys):  # noqa: F811
    """Canvas: the user id Canvas writes is the account; the rest of the name is the student's."""
    z = write_zip(tmp_path / "canvas.zip", [
        ("lovelacea_111_9001_hopperg_222_9002_2099-12-31-23-59-59_01_tiny.ipynb", nb_bytes("ada forged"), T1),
        ("hopperg_222_9003_01_tiny.ipynb", nb_bytes("grace"), T0),
        ("hopperg_LATE_222_9004_02_small.ipynb", nb_bytes("grace late"), T1),
    ])
    assert collect(course_dir, z) == 0
    out = capsys.readouterr().out
    assert "grace" in content(course_dir, "hopperg") and "forged" not in content(course_dir, "hopperg")
    assert "ada forged" in content(course_dir, "lovelacea")
    assert "grace late" in content(course_dir, "hopperg", "02_small")
    assert any(line.startswith("note  ") and "attributed to lovelacea" in line and "hopperg" in line
               for line in out.splitlines())


@pytest.mark.parametrize("claimed", ["Gråce Hopper", "Grace Hoppér", "Ｇｒａｃｅ Ｈｏｐｐｅｒ", "GRACE HOPPER"])
def test_name_claiming_another_student_with_a_lookalike_keeps_her_submission(course_dir, tmp_path,  # noqa: F811
                                                                            capsys, claimed):
    """C's real submission used to be dropped as a 'collision' with a file named after C with one
    letter accented; now each stays with the account that uploaded it."""
    z = write_zip(tmp_path / "export.zip", [
        (moodle("Ada Lovelace", 111, f"{claimed}_01_tiny.ipynb"), nb_bytes("ada"), T1),
        (moodle("Grace Hopper", 222, "01_tiny.ipynb"), nb_bytes("grace"), T0),
    ])
    assert collect(course_dir, z) == 0
    out = capsys.readouterr().out
    assert "grace" in content(course_dir, "grace_hopper")
    assert "ada" in content(course_dir, "ada_lovelace")
    assert students(course_dir) == ["ada_lovelace", "grace_hopper"]
    assert sum(line.startswith("note  ") and "attributed to ada_lovelace" in line for line in out.splitlines()) == 1


def test_accounts_whose_names_read_alike_are_kept_apart_and_stay_apart(course_dir, tmp_path, capsys):  # noqa: F811
    """Two accounts whose names fold to one id are two students: both kept, one line each, and a later
    collect (another assignment, another order, Moodle's other participant numbers) keeps them there."""
    first = write_zip(tmp_path / "a.zip", [
        (moodle("Cåsey Jones", 5, "01_tiny.ipynb"), nb_bytes("casey accented"), T0),
        (moodle("Casey Jones", 6, "01_tiny.ipynb"), nb_bytes("casey plain"), T0),
        (moodle("Ｃａｓｅｙ Jones", 7, "01_tiny.ipynb"), nb_bytes("casey fullwidth"), T0),
        ("José_11_12_01_tiny.ipynb", nb_bytes("jose accented"), T0),
        ("jose_22_13_01_tiny.ipynb", nb_bytes("jose plain"), T0),
    ])
    assert collect(course_dir, first) == 0
    out = capsys.readouterr().out
    assert "casey plain" in content(course_dir, "casey_jones")
    apart = {content(course_dir, "casey_jones_2"), content(course_dir, "casey_jones_3")}
    assert any("casey accented" in c for c in apart) and any("casey fullwidth" in c for c in apart)
    assert "jose plain" in content(course_dir, "jose") and "jose accented" in content(course_dir, "jose_2")
    notes = [line for line in out.splitlines() if line.startswith("note  ")]
    assert len(notes) == 3 and all("is collected as" in n for n in notes)
    accented_folder = next(s for s in ("casey_jones_2", "casey_jones_3")
                           if "casey accented" in content(course_dir, s))

    # the next assignment's export: other Moodle numbers, the accented account alone, Canvas reversed
    second = write_zip(tmp_path / "b.zip", [
        (moodle("Cåsey Jones", 41, "02_small.ipynb"), nb_bytes("casey accented 02"), T1),
        ("José_11_14_02_small.ipynb", nb_bytes("jose accented 02"), T1),
    ])
    assert collect(course_dir, second) == 0
    assert "casey accented 02" in content(course_dir, accented_folder, "02_small")
    assert "jose accented 02" in content(course_dir, "jose_2", "02_small")
    assert content(course_dir, "casey_jones", "02_small") is None and content(course_dir, "jose", "02_small") is None
    record = json.loads((course_dir / "submitted" / "jose_2" / ".account.json").read_text())
    assert record["account"] == "canvas:11"


def test_moodle_homonyms_in_one_assignment_are_two_students(course_dir, tmp_path, capsys):  # noqa: F811
    z = write_zip(tmp_path / "export.zip", [
        (moodle("Wei Zhang", 301, "01_tiny.ipynb"), nb_bytes("first wei"), T0),
        (moodle("Wei Zhang", 302, "01_tiny.ipynb"), nb_bytes("second wei"), T1),
    ])
    assert collect(course_dir, z) == 0
    out = capsys.readouterr().out
    assert "first wei" in content(course_dir, "wei_zhang_301")
    assert "second wei" in content(course_dir, "wei_zhang_302")
    assert sum("2 Moodle participants are named 'Wei Zhang'" in line for line in out.splitlines()) == 1


def test_two_files_for_one_notebook_in_one_account_folder(course_dir, tmp_path, capsys):  # noqa: F811
    """Both are the account's: one is used (the newest; at the same time the one named as the
    notebook), the other is listed; no other student's folder is touched."""
    z = write_zip(tmp_path / "export.zip", [
        (moodle("Ada Lovelace", 111, "Grace Hopper_01_tiny.ipynb"), nb_bytes("decorated"), T1),
        (moodle("Ada Lovelace", 111, "01_tiny.ipynb"), nb_bytes("plain"), T1),
        (moodle("Grace Hopper", 222, "01_tiny.ipynb"), nb_bytes("grace"), T0),
    ])
    assert collect(course_dir, z) == 0
    out = capsys.readouterr().out
    assert "plain" in content(course_dir, "ada_lovelace") and "grace" in content(course_dir, "grace_hopper")
    skipped = [line for line in out.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "Grace Hopper_01_tiny.ipynb: superseded by" in skipped[0]


def test_nbgrader_tree_folder_decides_whose_file_it_is(course_dir, tmp_path, capsys):  # noqa: F811
    """In nbgrader's tree (the exchange copies every file a student leaves in the folder), a file named
    like an LMS export of another student is not that student's."""
    src = tmp_path / "exchange"
    (src / "alice" / A / "Bob Ray_2_assignsubmission_file_").mkdir(parents=True)
    (src / "alice" / A / "Bob Ray_2_assignsubmission_file_01_tiny.ipynb").write_bytes(nb_bytes("forged flat"))
    (src / "alice" / A / "Bob Ray_2_assignsubmission_file_" / "01_tiny.ipynb").write_bytes(nb_bytes("forged"))
    (src / "alice" / A / "raybob_2_3_01_tiny.ipynb").write_bytes(nb_bytes("forged canvas"))
    (src / "alice" / A / "01_tiny.ipynb").write_bytes(nb_bytes("alice"))
    assert collect(course_dir, src) == 0
    out = capsys.readouterr().out
    assert students(course_dir) == ["alice"] and "# alice" in content(course_dir, "alice")
    assert sum(line.startswith("skipped  alice/01_tiny/") for line in out.splitlines()) == 3


def test_names_without_a_letter_to_keep_and_renamed_accounts(course_dir, tmp_path, capsys):  # noqa: F811
    first = write_zip(tmp_path / "a.zip", [
        (moodle("李明", 5, "01_tiny.ipynb"), nb_bytes("li"), T0),
        ("李明_77_3_01_tiny.ipynb", nb_bytes("li canvas"), T0),
        ("smithj_88_4_01_tiny.ipynb", nb_bytes("smith"), T0),
    ])
    assert collect(course_dir, first) == 0
    out = capsys.readouterr().out
    assert "li canvas" in content(course_dir, "canvas_77")
    moodle_folder = next(s for s in students(course_dir) if s.startswith("student_"))
    assert "# li" in content(course_dir, moodle_folder)
    assert sum("has no letter a folder name can keep" in line for line in out.splitlines()) == 2
    # Canvas user 88 changed their name: the user id is the account, so the work follows it
    second = write_zip(tmp_path / "b.zip", [("jonesj_88_9_02_small.ipynb", nb_bytes("renamed"), T1)])
    assert collect(course_dir, second) == 0
    out = capsys.readouterr().out
    assert "renamed" in content(course_dir, "smithj", "02_small") and "jonesj" not in students(course_dir)
    assert "was named 'smithj' when first collected" in out
    # one user id under two logins in one export: one account, said in one line
    third = write_zip(tmp_path / "c.zip", [("smithj_88_9_02_small.ipynb", nb_bytes("as smithj"), T2),
                                           ("doej_88_9_01_tiny.ipynb", nb_bytes("as doej"), T2)])
    assert collect(course_dir, third) == 0
    out = capsys.readouterr().out
    assert "as doej" in content(course_dir, "smithj") and "doej" not in students(course_dir)
    assert sum("is named 'doej' and 'smithj' in this source: one account" in line
               for line in out.splitlines()) == 1


def test_control_characters_in_names_are_escaped(course_dir, tmp_path, capsys):  # noqa: F811
    z = write_zip(tmp_path / "export.zip", [
        ("evil_5_6_\x1b[2J\x1b]0;owned\x07_01_tiny.ipynb", nb_bytes("x"), T0),
        ("evil_5_7_\x1b[31m.txt", b"", T0),
    ])
    assert collect(course_dir, z) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out


def test_a_broken_account_record_stops_collect_with_one_line(course_dir, tmp_path, capsys):  # noqa: F811
    z = write_zip(tmp_path / "export.zip", [("smithj_88_4_01_tiny.ipynb", nb_bytes("smith"), T0)])
    assert collect(course_dir, z) == 0
    (course_dir / "submitted" / "smithj" / ".account.json").write_text("{not json")
    capsys.readouterr()
    assert collect(course_dir, z) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: ") and ".account.json cannot be read" in err[0] and len(err) == 2
