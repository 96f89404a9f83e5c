"""autograder/exchange.py on a real file-system exchange (no hub): identity from the submission folder's
owner, files that are not the submitter's own are refused, the newest submission wins, published copies
get nbgrader's layout and permissions, and returned feedback is found by nbgrader's own fetch_feedback.

Ownership needs root (chown to other accounts); the accounts are the system's `daemon` and `bin`.
"""
from __future__ import annotations

import datetime as dt
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from coursekit import TINY

from autograder import exchange
from autograder.course import Course

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: submissions are owned by other accounts")
ALICE, BOB = "daemon", "bin"     # two existing unprivileged accounts stand in for students
NB = f"{TINY}.ipynb"


@pytest.fixture
def setup(tiny_course, tmp_path, monkeypatch):
    """(course, exchange root): the tiny course with Exchange.root set the way the hub sets it."""
    for name in (ALICE, BOB):
        try:
            pwd.getpwnam(name)
        except KeyError:
            pytest.skip(f"no {name!r} account on this machine")
    root = tmp_path / "exchange"
    root.mkdir()
    os.chmod(root, 0o1777)
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(root)!r}\n")
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))
    (root / "chainrule" / "inbound").mkdir(parents=True)
    return Course.open(tiny_course), root


def submit(root: Path, owner: str, *, claimed: str | None = None, when: str = "2026-01-15 10:30:00.000000 UTC",
           notebook: bytes = b'{"cells": []}', secret: str = "ab" * 64) -> Path:
    """A submission folder as nbgrader's submit writes it, owned by `owner`."""
    folder = root / "chainrule" / "inbound" / f"{claimed or owner}+{TINY}+{when}+{os.urandom(4).hex()}"
    folder.mkdir()
    (folder / NB).write_bytes(notebook)
    (folder / "timestamp.txt").write_text(when)
    (folder / "submission_secret.txt").write_text(secret)
    account = pwd.getpwnam(owner)
    for path in (folder, *folder.iterdir()):
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    return folder


def collect(course) -> tuple[dict, str]:
    import io

    out = io.StringIO()
    stats = exchange.collect(course, max_file=10_000_000, out=out)
    return stats, out.getvalue()


def test_the_owner_is_the_student_whatever_the_folder_name_says(setup):
    course, root = setup
    submit(root, ALICE, claimed=BOB, notebook=b'{"alice": 1}')
    stats, text = collect(course)
    assert stats["collected"] == [f"{ALICE}/{TINY}"]
    assert (course.submitted / ALICE / TINY / NB).read_bytes() == b'{"alice": 1}'
    assert not (course.submitted / BOB).exists()
    assert f"its name says {BOB!r} but {ALICE!r} owns it" in text


def test_a_symlink_or_another_accounts_file_is_not_collected(setup, tmp_path):
    course, root = setup
    elsewhere = tmp_path / "bobs_work.ipynb"
    elsewhere.write_text('{"bob": "secret work"}')
    folder = submit(root, ALICE)
    (folder / NB).unlink()
    (folder / NB).symlink_to(elsewhere)
    os.chown(folder / NB, pwd.getpwnam(ALICE).pw_uid, 0, follow_symlinks=False)
    stats, text = collect(course)
    assert "a symbolic link (not followed)" in text
    assert not (course.submitted / ALICE / TINY / NB).exists()

    folder2 = submit(root, BOB, when="2026-01-16 10:00:00.000000 UTC")
    os.chown(folder2 / NB, pwd.getpwnam(ALICE).pw_uid, 0)   # a file another account put there
    stats, text = collect(course)
    assert f"owned by {ALICE}, not by the submitting account" in text
    assert not (course.submitted / BOB / TINY / NB).exists()


def test_the_newest_submission_wins_and_a_recollect_changes_nothing(setup):
    course, root = setup
    submit(root, ALICE, when="2026-01-15 10:00:00.000000 UTC", notebook=b'{"v": 1}')
    submit(root, ALICE, when="2026-01-15 12:00:00.000000 UTC", notebook=b'{"v": 2}')
    submit(root, ALICE, when="2026-01-15 11:00:00.000000 UTC", notebook=b'{"v": 3}')
    stats, text = collect(course)
    assert (course.submitted / ALICE / TINY / NB).read_bytes() == b'{"v": 2}'
    assert text.count("superseded by the newer") == 2
    stored = (course.submitted / ALICE / TINY / "timestamp.txt").read_text()
    assert stored.startswith("2026-01-15 12:00:00")
    stats, _ = collect(course)
    assert stats["unchanged"] == [f"{ALICE}/{TINY}"] and not stats["collected"] and not stats["replaced"]


def test_root_owned_and_foreign_entries_are_listed_not_collected(setup):
    course, root = setup
    inbound = root / "chainrule" / "inbound"
    (inbound / f"root+{TINY}+2026-01-15 10:00:00 UTC+x").mkdir()
    (inbound / "stray.txt").write_text("x")
    submit(root, ALICE).rename(inbound / f"{ALICE}+99_unknown+2026-01-15 10:00:00 UTC+y")
    stats, text = collect(course)
    assert not stats["collected"]
    assert "owned by root, not by a student's account" in text
    assert "stray.txt: not a submission folder" in text
    assert "'99_unknown' is not an assignment of the course" in text


def test_the_cli_wants_a_source_or_the_exchange(tiny_course):
    run = [sys.executable, "-m", "autograder", "--course", str(tiny_course), "collect"]
    for extra in ([], ["somewhere.zip", "--exchange"]):
        proc = subprocess.run(run + extra, capture_output=True, text=True)
        assert proc.returncode == 2 and "give either SOURCE" in proc.stderr


def test_publish_uses_nbgraders_layout_and_makes_inbound_sticky(setup):
    course, root = setup
    from autograder.cmd_release import release

    (root / "chainrule" / "inbound").rmdir()   # nbgrader makes it
    assert release(course, TINY) == []
    outbound = exchange.publish(course, TINY)
    assert (outbound / NB).is_file()
    assert stat.S_IMODE((outbound / NB).stat().st_mode) == 0o644
    mode = (root / "chainrule" / "inbound").stat().st_mode
    assert mode & stat.S_ISVTX and mode & stat.S_ISGID and stat.S_IMODE(mode) & 0o777 == 0o733


def test_returned_feedback_is_what_nbgraders_fetch_feedback_finds(setup, tmp_path):
    """The student's side is nbgrader's own ExchangeFetchFeedback, reading the student's cache."""
    course, root = setup
    secret = "cd" * 64
    when = "2026-01-15 10:30:00.000000 UTC"
    submit(root, ALICE, when=when, secret=secret)
    collect(course)
    page = course.feedback / ALICE / TINY / f"{TINY}.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><head><script src='_static/x.js'></script></head><body><h1>for daemon</h1></body></html>")
    assert exchange.return_feedback(course, [(ALICE, TINY, page)]) == 0
    assert stat.S_IMODE((root / "chainrule" / "feedback").stat().st_mode) == 0o711

    # the student's cache, as nbgrader's submit leaves it
    cache = tmp_path / "cache"
    cached = cache / "chainrule" / f"{ALICE}+{TINY}+{when}"
    cached.mkdir(parents=True)
    (cached / NB).write_text("{}")
    (cached / "submission_secret.txt").write_text(secret)
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeFetchFeedback

    cfg = exchange.nbgrader_config(course)
    cfg.Exchange.cache = str(cache)
    cfg.Exchange.assignment_dir = str(tmp_path / "home")
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id, coursedir.student_id = TINY, ALICE
    ExchangeFetchFeedback(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg).start()
    fetched = list((tmp_path / "home" / TINY / "feedback").glob(f"*/{TINY}.html"))
    assert len(fetched) == 1
    html = fetched[0].read_text()
    assert "<h1>for daemon</h1>" in html and "<script" not in html


def test_feedback_for_a_submission_not_from_the_exchange_is_reported(setup):
    course, root = setup
    page = course.feedback / BOB / TINY / f"{TINY}.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    (course.submitted / BOB / TINY).mkdir(parents=True)
    assert exchange.return_feedback(course, [(BOB, TINY, page)]) == 1
    assert not list((root / "chainrule" / "feedback").iterdir())


def test_timestamps_read_from_the_folder_when_timestamp_txt_is_missing(setup):
    course, root = setup
    folder = submit(root, ALICE, when="2026-02-01 08:00:00.000000 UTC")
    (folder / "timestamp.txt").unlink()
    subs = exchange.scan_inbound(exchange.open_exchange(course), {TINY}, [])
    assert subs[0].timestamp == dt.datetime(2026, 2, 1, 8, 0, tzinfo=dt.UTC)
