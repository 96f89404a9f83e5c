"""One submission, the folder submitted/<student>/<assignment>/: its version, and which is newer.

A submission's *version* is the text of its timestamp.txt (nbgrader's format, written by `collect` or
by nbgrader's exchange), or, without one, the newest modification time of its notebooks (ISO 8601,
UTC). This module is the one place that decides, for every command:
- `collect` replaces a stored submission only with a strictly newer one (`is_newer`);
- `grade` grades a submission that was never graded or whose version is not the one its verdict was
  given for (`verdict_is_current`); so does `export` before it reports a verdict as the grade.
Two versions are the same when their texts are equal or both read as the same instant.

Threat: a submission folder is untrusted input. timestamp.txt and notebooks are read without following
symlinks and without blocking on a FIFO (safe_open), and at most 4 kB of timestamp.txt is read.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's format in timestamp.txt
_MAX_TIMESTAMP = 4096


def parse_timestamp(text: str) -> dt.datetime | None:
    """timestamp.txt content (nbgrader's format or ISO 8601) as an aware datetime (naive = UTC) or None."""
    text = text.strip()
    if not text:
        return None
    for candidate in (text, text.removesuffix(" UTC").removesuffix("Z"), text.replace(" UTC", "+00:00")):
        try:
            value = dt.datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        import dateutil.parser

        value = dateutil.parser.parse(text)
    except (ImportError, ValueError, OverflowError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def format_timestamp(value: dt.datetime) -> str:
    """`value` in nbgrader's timestamp.txt format (UTC)."""
    return value.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


def display_time(value: dt.datetime | None) -> str:
    """`value` for a person to read: '2026-02-01 12:00:00 UTC', or 'no time'."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "no time"


def timestamp_text(folder) -> str | None:
    """The submission's timestamp.txt (stripped, at most 64 characters), or None when there is none or
    it is a symlink / not a regular file (never followed: it could point at any file of the grader)."""
    from autograder.safe_open import read_bytes

    try:
        data = read_bytes(os.path.join(folder, "timestamp.txt"), _MAX_TIMESTAMP)
    except OSError:
        return None
    return data.decode("utf-8", "replace").strip()[:64] or None


def version(folder, stems: Iterable[str]) -> str | None:
    """What identifies this version of a submission: its timestamp.txt, else the newest mtime of its
    notebooks `<stem>.ipynb` (ISO 8601, UTC); None when it has neither. Stored with each verdict."""
    text = timestamp_text(folder)
    if text is not None:
        return text
    mtimes = []
    for stem in stems:
        try:
            mtimes.append(os.lstat(os.path.join(folder, f"{stem}.ipynb")).st_mtime)
        except OSError:
            continue
    if not mtimes:
        return None
    return dt.datetime.fromtimestamp(max(mtimes), dt.UTC).isoformat(timespec="microseconds")


def version_time(folder, stems: Iterable[str]) -> dt.datetime | None:
    """The instant of `version(folder, stems)`, or None when it has none that reads as a time."""
    text = version(folder, stems)
    return parse_timestamp(text) if text is not None else None


def same_version(a: str | None, b: str | None) -> bool:
    """True when the version texts `a` and `b` are equal or name the same instant."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    ta, tb = parse_timestamp(a), parse_timestamp(b)
    return ta is not None and ta == tb


def is_newer(when: dt.datetime | None, than: dt.datetime | None) -> bool:
    """True when a submission from `when` is strictly newer than one from `than`. A submission without
    a time is never newer; any time is newer than none."""
    return when is not None and (than is None or when > than)


def verdict_is_current(graded_version: str | None, folder, stems: Iterable[str]) -> bool:
    """True when a verdict given for `graded_version` is a verdict of the submission now in `folder`."""
    return same_version(graded_version, version(folder, stems))


def has_notebook(folder, stems: Iterable[str]) -> bool:
    """True when `folder` holds any of the notebooks `<stem>.ipynb` (a symlink counts: it is there)."""
    return any(os.path.lexists(os.path.join(folder, f"{stem}.ipynb")) for stem in stems)
