"""Grade exports: the class as a plain CSV or as a Canvas gradebook import, and where each is written.

Plain CSV columns: `student`, then per assignment `<a>` (score: autograded points plus hand-graded points
so far), `<a> status` ("graded"; "awaiting hand grading: N points" while written answers wait for the
formgrader; "ungraded: <reason>"; "missing"; "not graded yet" for a submission in submitted/ without a
verdict, or newer than the one its verdict is for), `<a> auto`, `<a> manual` (points so far) and
`<a> to grade` (points still to grade by hand), and `<a>: <grade_id>` per question (autograded and
hand-graded cells in notebook order; empty until graded), then `total` (scores summed; missing and
ungraded count 0) and `max_total`.

Canvas: Canvas's gradebook import layout (Student, ID, SIS User ID, Section, one column per assignment)
with the "Points Possible" row, then one `<a>: points to grade by hand` column per assignment marked
"(read only)" in the Points Possible row, which Canvas's importer skips (as it skips its own read-only
columns) while the instructor still sees it. Ungraded and missing scores are left empty (Canvas then
changes nothing); with `complete_only`, so are scores that still wait for hand grading.

Each format has its own default file (FORMATS); a file of another format, or one that is not an export
at all, is never replaced unless asked (`check_target`).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from autograder.classdata import ClassData
from autograder.course import CourseError
from autograder.textclean import clean


@dataclass(frozen=True)
class Format:
    name: str
    label: str        # in messages
    default_file: str  # under <course>/exports/
    header_start: tuple[str, ...]  # how a file of this format begins (to recognise it)


FORMATS = {
    "csv": Format("csv", "plain grades CSV", "grades.csv", ("student",)),
    "canvas": Format("canvas", "Canvas gradebook CSV", "grades_canvas.csv", ("Student", "ID", "SIS User ID")),
}


def num(value: float | None) -> str:
    """A score for a CSV cell: '' for None, else up to 4 decimals without trailing zeros."""
    if value is None:
        return ""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _score(data: ClassData, a: str, s: str, complete_only: bool) -> float | None:
    if complete_only and not data.complete(a, s):
        return None
    return data.score(a, s)


def plain_rows(data: ClassData, complete_only: bool = False) -> list[list[str]]:
    header = ["student"]
    for a in data.assignments:
        header += [a, f"{a} status", f"{a} auto", f"{a} manual", f"{a} to grade"]
        header += [f"{a}: {q.grade_id}" for q in data.questions[a]]
    header += ["total", "max_total"]
    rows = [header]
    max_total = sum(data.max_score(a) for a in data.assignments)
    for s in data.students:
        row = [s]
        total = 0.0
        for a in data.assignments:
            per_q = data.question_scores(a, s)
            score = _score(data, a, s, complete_only)
            total += score or 0.0
            row += [num(score), data.grade_status(a, s), num(data.auto_score(a, s)),
                    num(data.manual_score(a, s)), num(data.to_grade(a, s))]
            row += [num(per_q.get(q.grade_id)) for q in data.questions[a]]
        row += [num(total), num(max_total)]
        rows.append(row)
    return rows


READ_ONLY = "(read only)"


def canvas_rows(data: ClassData, complete_only: bool = False) -> list[list[str]]:
    pending_cols = [f"{a}: points to grade by hand" for a in data.assignments]
    header = ["Student", "ID", "SIS User ID", "Section"] + list(data.assignments) + pending_cols
    rows = [header, ["Points Possible", "", "", ""] + [num(data.max_score(a)) for a in data.assignments]
            + [READ_ONLY] * len(pending_cols)]
    for s in data.students:
        first, last = data.names.get(s, ("", ""))
        display = f"{last}, {first}".strip(", ") if (first or last) else s
        scores = [num(_score(data, a, s, complete_only)) for a in data.assignments]
        pending = [num(data.to_grade(a, s) or None) for a in data.assignments]
        rows.append([display, data.lms_ids.get(s, ""), s, ""] + scores + pending)
    return rows


def incomplete(data: ClassData) -> list[tuple[str, str, float]]:
    """(assignment, student, points to grade by hand) of every graded submission whose score is not final."""
    return [(a, s, data.to_grade(a, s)) for a in data.assignments for s in data.students if data.to_grade(a, s)]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_safe(cell: str) -> str:
    """A text cell that a spreadsheet will not run as a formula: one starting with =, +, -, @, a tab or a
    line break (or their full-width forms) gets a leading apostrophe. Numbers are left alone."""
    if cell.startswith(_FORMULA_START):
        try:
            float(cell)
            return cell
        except ValueError:
            return "'" + cell
    return cell


def to_csv(rows: list[list[str]]) -> str:
    """The rows as CSV text; every cell cleaned (one line, no control characters: textclean) and
    neutralised as a spreadsheet formula (csv_safe)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[csv_safe(clean(c)) for c in row] for row in rows])
    return buf.getvalue()


def recognise(path: Path) -> str | None:
    """The export format a file holds ("csv" or "canvas", from its first row), "other" for any other
    file, None when there is none."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            first = next(csv.reader([fh.readline(4096)]), [])
    except FileNotFoundError:
        return None
    except OSError:
        return "other"
    for fmt in FORMATS.values():
        if tuple(first[: len(fmt.header_start)]) == fmt.header_start:
            return fmt.name
    return "other"


def check_target(path: Path, fmt: str, force: bool) -> str | None:
    """Refuse (CourseError) to replace a file that holds another format or no export at all, unless
    `force`; returns the format of the file that will be replaced (None: a new file)."""
    found = recognise(path)
    if found is None or found == fmt or force:
        return found
    what = FORMATS[found].label if found in FORMATS else "a file that is not a grades export"
    raise CourseError(f"{path} holds {what}, not a {FORMATS[fmt].label}; not replaced. Choose another "
                      f"--output (the {fmt} default is exports/{FORMATS[fmt].default_file}) or pass --force")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
