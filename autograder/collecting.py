"""`collect`'s pipeline: SOURCE -> recognised uploads -> one per student and notebook -> submitted/.

Steps, each in a module of its own: sources.read_source (the files, read safely) -> lms.Layouts (whose
file, which notebook, from when: the LMS's structure) -> accounts.AccountFolders (which folder of
submitted/ each account's work goes to) -> the newest upload per student and notebook -> stored only
when newer than what submitted/ holds (submissions.is_newer, the one definition `grade` shares).

A notebook larger than the cap (`max_file`, never more than notebooks.MAX_NOTEBOOK_BYTES, the most
`grade` reads) is stored with its outputs stripped when that brings it under the cap (outputs are
never graded); otherwise it is stored as it came and `grade` records it "ungraded" with the reason.
Either way the student has a row in every export: nothing is skipped for its size alone.

An upload whose chosen name mentions another student or a date is attributed to its account and the
mention is reported in one line. Every file not used is listed with the reason; nothing is dropped
silently. Text from SOURCE (paths, names) is shown with control characters escaped.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sys
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from autograder import submissions
from autograder.accounts import AccountFolders, fold
from autograder.course import Course
from autograder.lms import Layouts, Upload
from autograder.sources import Entry, SourceError, TooLarge, read_source
from autograder.submissions import display_time

STRIP_LIMIT = 200_000_000   # larger notebooks are stored as they came, without parsing them
_IGNORED = re.compile(r"(^|/)(__MACOSX|\.ipynb_checkpoints)(/|$)|(^|/)\.DS_Store$")
_NAME_TIME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})[-_ T](\d{2})[-:_](\d{2})(?:[-:_](\d{2}))?(?!\d)")
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def timestamp_from_name(name: str) -> dt.datetime | None:
    """A date-time written in a file name (`..._2026-01-15-10-30-00_...`), as UTC; None if absent.
    Never used as a submission's time (a student chooses file names): only reported."""
    m = _NAME_TIME.search(name)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    try:
        return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.UTC)
    except ValueError:
        return None


def shown(text: str) -> str:
    """`text` from SOURCE, safe to print on a terminal: control and format characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def collect(course: Course, source: Path, *, max_file: int, max_total: int, dry_run: bool = False,
            out=None) -> dict:
    """Collect `source` into course.submitted; one line per event goes to `out` (stdout).

    Returns lists of labels "<student>/<assignment>" under collected, replaced, kept, unchanged and
    errors; skipped: (path, reason); notes; found: number of files; expected: notebook names."""
    from autograder.notebooks import MAX_NOTEBOOK_BYTES

    out = out or sys.stdout
    notebooks = {a: [p.stem for p in course.source_notebooks(a)] for a in course.assignments()}
    if not notebooks:
        raise SourceError(f"the course has no assignments in {course.source}")
    layouts = Layouts(notebooks)
    skipped: list[tuple[str, str]] = []
    entries = read_source(source, max_total, skipped)
    n_files = len(entries) + len(skipped)
    timestamps = _tree_timestamps(entries, skipped)
    uploads: list[Upload] = []
    for e in entries:
        if PurePosixPath(e.path).name == "timestamp.txt":
            continue
        if _IGNORED.search(e.path):
            skipped.append((e.path, "system file, ignored"))
            continue
        found = layouts.recognise(e, timestamps)
        if isinstance(found, str):
            skipped.append((e.path, found))
        else:
            uploads.append(found)
    tree_folders = {str(PurePosixPath(u.entry.path).parent) for u in uploads if u.account.lms == "nbgrader"}
    for folder in sorted(set(timestamps) - tree_folders):
        skipped.append((f"{folder}/timestamp.txt", "no submitted notebook beside it"))

    folders = AccountFolders(course.submitted)
    notes = folders.assign(uploads)
    notes += _mentions(uploads, course.students())
    chosen = _newest(uploads, skipped)

    stats: dict = {"collected": [], "replaced": [], "kept": [], "unchanged": [], "skipped": skipped,
                   "errors": [], "notes": notes, "found": n_files,
                   "expected": layouts.expected()}
    store = _Store(course, min(max_file, MAX_NOTEBOOK_BYTES), MAX_NOTEBOOK_BYTES, max_total, dry_run)
    used_keys = set()
    for (student, assignment), ups in sorted(chosen.items()):
        action, line = store.put(student, assignment, ups, notebooks[assignment], skipped)
        if action is None:
            continue
        stats[action].append(f"{student}/{assignment}")
        print(line, file=out)
        if action != "errors":
            used_keys.update(u.account.key for u in ups)
    for note in notes:
        print(f"note  {shown(note)}", file=out)
    for path, reason in skipped:
        print(f"skipped  {shown(path)}: {shown(reason)}", file=out)
    if not dry_run and used_keys:
        folders.save(used_keys)
    return stats


def _tree_timestamps(entries: list[Entry], skipped) -> dict[str, dt.datetime]:
    """timestamp.txt of nbgrader tree folders, by folder path."""
    out = {}
    for e in entries:
        if PurePosixPath(e.path).name != "timestamp.txt":
            continue
        try:
            when = submissions.parse_timestamp(e.read(4096).decode("utf-8", "replace"))
        except (SourceError, OSError, zipfile.BadZipFile, zlib.error, EOFError):
            when = None
        if when is None:
            skipped.append((e.path, "a timestamp that cannot be read"))
        else:
            out[str(PurePosixPath(e.path).parent)] = when
    return out


def _mentions(uploads: list[Upload], known_students: list[str]) -> list[str]:
    """One line per upload whose student-chosen name mentions another student or a date-time."""
    names: dict[str, set[str]] = {}
    for u in uploads:
        for token in (fold(u.account.name), u.student):
            names.setdefault(token, set()).add(u.student)
    for s in known_students:
        names.setdefault(fold(s), set()).add(s)
    def words(text: str) -> str:
        return "_" + re.sub(r"[^a-z0-9]+", "_", fold(text)) + "_"

    notes = []
    for u in uploads:
        if not u.extra:
            continue
        text = words(u.extra)
        own = {fold(u.account.name), u.student}
        others = sorted({s for token, students in names.items() if len(token) >= 3 and token not in own
                         and words(token) in text for s in students if s != u.student})
        date = timestamp_from_name(u.extra)
        if not others and date is None:
            continue
        said = " and ".join(x for x in (f"student {', '.join(others)}" if others else "",
                                         f"the date {display_time(date)}" if date else "") if x)
        notes.append(f"{u.entry.path}: attributed to {u.student}, whose account {u.account.describe()} "
                     f"uploaded it; its file name names {said}, which says nothing about who submitted "
                     "it or when")
    return notes


def _newest(uploads: list[Upload], skipped) -> dict[tuple[str, str], list[Upload]]:
    """The upload used per (student, assignment, notebook): the newest; at the same time the one named
    exactly as the notebook, then the highest resubmission counter. The others are listed."""
    def order(u: Upload):
        return (u.when or _EARLIEST, u.exact, u.counter, u.entry.path)

    best: dict[tuple[str, str, str], Upload] = {}
    for u in sorted(uploads, key=order):
        key = (u.student, u.assignment, u.notebook)
        if key in best:
            old = best[key]
            if submissions.is_newer(u.when, old.when):
                why = f"superseded by the newer {u.entry.path} from the same account"
            elif u.exact and not old.exact:
                why = f"superseded by {u.entry.path}, from the same account at the same time and named as the notebook"
            else:
                why = f"superseded by {u.entry.path}, from the same account at the same time, a later resubmission"
            skipped.append((old.entry.path, why))
        best[key] = u
    grouped: dict[tuple[str, str], list[Upload]] = {}
    for (student, assignment, _), u in sorted(best.items()):
        grouped.setdefault((student, assignment), []).append(u)
    return grouped


def without_outputs(data: bytes) -> bytes | None:
    """Notebook JSON `data` with every code cell's outputs and execution count cleared (nbformat 4, or
    3 with worksheets); None when `data` is not notebook JSON."""
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(nb, dict):
        return None
    v3 = nb.get("nbformat") == 3
    sheets = nb.get("worksheets") if v3 else [nb]
    if not isinstance(sheets, list) or not all(isinstance(s, dict) and isinstance(s.get("cells"), list)
                                               for s in sheets):
        return None
    for sheet in sheets:
        for cell in sheet["cells"]:
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                cell["outputs"] = []
                cell["prompt_number" if v3 else "execution_count"] = None
    return json.dumps(nb, ensure_ascii=False, indent=1).encode("utf-8", "backslashreplace") + b"\n"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}".removesuffix(".0") + " MB"


class _ReadFailed(Exception):
    pass


class _Store:
    """Writes chosen uploads into submitted/<student>/<assignment>/ when newer than what is there."""

    def __init__(self, course: Course, cap: int, grade_cap: int, max_total: int, dry_run: bool):
        self.course, self.cap, self.grade_cap, self.dry_run = course, cap, grade_cap, dry_run
        self.max_total = max_total

    def put(self, student: str, assignment: str, ups: list[Upload], stems: list[str],
            skipped) -> tuple[str | None, str]:
        """(action, line to print); action None when nothing is to be said beyond `skipped`."""
        dest = self.course.submitted / student / assignment
        label = f"{student}/{assignment}"
        when = max((u.when for u in ups if u.when), default=None)
        paths = ", ".join(shown(u.entry.path) for u in ups)
        action = "collected"
        before = None
        if submissions.has_notebook(dest, stems):
            before = submissions.version_time(dest, stems)
            if before is not None and not submissions.is_newer(when, before) and when != before:
                return "kept", (f"kept the newer existing one  {label}: submitted/ has the one from "
                                f"{display_time(before)}, {paths} is from {display_time(when)}")
            action = "replaced"
        contents = []
        for u in ups:
            try:
                contents.append((u, *self._content(u)))
            except _ReadFailed as exc:
                skipped.append((u.entry.path, f"could not be read, {exc}"))
                return None, ""
        if before is not None and when == before:
            if all(self._same(dest / u.notebook, data, u) for u, data, _ in contents):
                return "unchanged", f"unchanged  {label}, from {display_time(when)}"
            return "kept", (f"kept the existing one  {label}: {paths} has the same time, "
                            f"{display_time(when)}, but other content")
        try:
            if not self.dry_run:
                self._write(dest, contents, when)
        except OSError as exc:  # this submission only (e.g. submitted/<student> is a file)
            return "errors", (f"error  {label}: not written, {exc.strerror or exc}: "
                              f"{exc.filename or dest}")
        said = "; ".join(shown(note) for _, _, note in contents if note)
        line = f"{action}  {label}  <- {paths}, from {display_time(when)}"
        if action == "replaced":
            older = f"the one from {display_time(before)}" if before else "the one there, which had no time"
            line += f"; it replaces {older}, and the next `grade` grades it without --force"
        return action, line + (f"; {said}" if said else "")

    def _content(self, u: Upload) -> tuple[bytes | None, str]:
        """(bytes to store, or None to copy the entry as it came; a note about its size or '')."""
        e = u.entry
        try:
            if e.size <= self.cap:
                return e.read(self.cap), ""
            if e.size > STRIP_LIMIT:
                return None, self._as_it_came(e.size)
            data = e.read(STRIP_LIMIT)
        except TooLarge as exc:
            raise _ReadFailed(f"{exc}; its size in the zip's header is wrong" if e.size <= self.cap
                              else str(exc)) from None
        except (SourceError, OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise _ReadFailed(" ".join(str(exc).split()) or type(exc).__name__) from None
        stripped = without_outputs(data)
        if stripped is not None and len(stripped) <= self.cap:
            return stripped, (f"{u.notebook} is {_mb(len(data))} with its outputs, stored without them "
                              f"as {_mb(len(stripped))}: outputs are never graded")
        return data, self._as_it_came(len(data))

    def _as_it_came(self, size: int) -> str:
        note = f"stored as it came, {_mb(size)}, larger than {_mb(self.cap)} even without its outputs"
        if size > self.grade_cap:
            note += f"; grade will record it ungraded, larger than {self.grade_cap // 2**20} MiB"
        return note

    def _pieces(self, u: Upload, data: bytes | None):
        if data is not None:
            yield data
        else:
            yield from u.entry.chunks(self.max_total)

    def _same(self, target: Path, data: bytes | None, u: Upload) -> bool:
        from autograder.safe_open import open_regular

        try:
            fd = open_regular(target)
        except OSError:
            return False
        mine, theirs = hashlib.sha256(), hashlib.sha256()
        try:
            for piece in iter(lambda: os.read(fd, 1 << 20), b""):
                theirs.update(piece)
        finally:
            os.close(fd)
        try:
            for piece in self._pieces(u, data):
                mine.update(piece)
        except (SourceError, OSError, zipfile.BadZipFile, zlib.error, EOFError):
            return False
        return mine.digest() == theirs.digest()

    def _write(self, dest: Path, contents, when: dt.datetime | None) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for u, data, _ in contents:
            target = dest / u.notebook
            tmp = target.with_name(f".{target.name}.part")
            try:
                with open(tmp, "wb") as fh:
                    for piece in self._pieces(u, data):
                        fh.write(piece)
            except (SourceError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
                tmp.unlink(missing_ok=True)
                raise OSError(f"could not be read, {exc}") from None
            os.replace(tmp, target)
        stamp = dest / "timestamp.txt"
        if when is not None:
            tmp = stamp.with_name(".timestamp.txt.part")
            tmp.write_text(submissions.format_timestamp(when) + "\n")
            os.replace(tmp, stamp)
