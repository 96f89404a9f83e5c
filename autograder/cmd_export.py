"""`export [--format csv|canvas] [--output FILE]`: the grades of every student as one CSV.

Students: everyone in nbgrader's gradebook, in submitted/ or with a stored verdict. Plain CSV columns:
`student`, then per assignment `<a>` (score), `<a> status` ("graded", "ungraded: <reason>",
"missing", or "not graded yet" for a submission in submitted/ without a verdict, or newer than the one
its verdict is for) and `<a>: <grade_id>` per question (autograded and hand-graded cells, in notebook
order; empty when not graded yet), then `total` (graded scores summed; missing and ungraded count 0)
and `max_total`. Canvas: Canvas's gradebook import layout (Student, ID, SIS User ID, Section, one column
per assignment) with the "Points Possible" row; ungraded and missing cells are left empty.

This module also holds the class table that `feedback` and `report` read (`ClassData`).
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import Course
from autograder.results import ResultRow, ResultsStore, SubmissionRow


@dataclass(frozen=True)
class Question:
    grade_id: str
    points: float
    kind: str  # "auto" | "manual"
    notebook: str


@dataclass
class ClassData:
    """Everything stored about a class: questions per assignment, students, verdicts and results."""

    assignments: list[str]
    questions: dict[str, list[Question]]
    students: list[str]
    names: dict[str, tuple[str, str]]  # student -> (first, last) when nbgrader knows them
    lms_ids: dict[str, str]
    submissions: dict[tuple[str, str], SubmissionRow]  # (assignment, student)
    results: dict[tuple[str, str], list[ResultRow]] = field(default_factory=dict)
    pending: set[tuple[str, str]] = field(default_factory=set)  # in submitted/ without a verdict

    def status(self, assignment: str, student: str) -> str:
        """"graded", "ungraded: <reason>", "missing", or "not graded yet" (in submitted/, no verdict)."""
        sub = self.submissions.get((assignment, student))
        if sub is None:
            return "not graded yet" if (assignment, student) in self.pending else "missing"
        if sub.status == "graded":
            return "graded"
        return f"ungraded: {sub.reason or 'no reason given'}"

    def score(self, assignment: str, student: str) -> float | None:
        """Points earned on a graded submission (autograded plus hand-graded so far); None otherwise."""
        sub = self.submissions.get((assignment, student))
        if sub is None or sub.status != "graded":
            return None
        rows = self.results.get((assignment, student), [])
        if rows:
            return sum(r.score for r in rows if r.score is not None)
        return sub.score if sub.score is not None else 0.0

    def question_scores(self, assignment: str, student: str) -> dict[str, float | None]:
        if self.status(assignment, student) != "graded":
            return {}
        return {r.grade_id: r.score for r in self.results.get((assignment, student), [])}

    def max_score(self, assignment: str) -> float:
        qs = self.questions.get(assignment) or []
        if qs:
            return sum(q.points for q in qs)
        subs = [s.max_score for (a, _), s in self.submissions.items() if a == assignment]
        return max(subs, default=0.0)

    def total(self, student: str) -> float:
        return sum(self.score(a, student) or 0.0 for a in self.assignments)


def questions(course: Course, assignment: str) -> list[Question]:
    """The graded cells of an assignment's source notebook(s), in notebook order."""
    from autograder.notebooks import NotebookError, read_notebook
    from autograder.spec import is_manual_cell, is_test_cell, nbgrader_meta

    out: list[Question] = []
    for path in course.source_notebooks(assignment):
        try:
            nb = read_notebook(path)
        except NotebookError:
            continue
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            gid = meta.get("grade_id")
            if not isinstance(gid, str):
                continue
            points = meta.get("points", 0)
            ok = isinstance(points, (int, float)) and not isinstance(points, bool)
            points = float(points) if ok else 0.0
            if is_test_cell(cell):
                out.append(Question(gid, points, "auto", path.stem))
            elif is_manual_cell(cell):
                out.append(Question(gid, points, "manual", path.stem))
    return out


def _nbgrader_people(db_url: str) -> tuple[list[str], dict, dict]:
    """Students known to nbgrader's gradebook: ids, names and LMS ids (empty if it cannot be read)."""
    try:
        from nbgrader.api import Gradebook

        with Gradebook(db_url) as gb:
            people = [(s.id, s.first_name or "", s.last_name or "", getattr(s, "lms_user_id", None) or "")
                      for s in gb.students]
    except Exception:  # no gradebook yet, or another schema: the other sources still count
        return [], {}, {}
    ids = [p[0] for p in people]
    names = {p[0]: (p[1], p[2]) for p in people if p[1] or p[2]}
    lms = {p[0]: str(p[3]) for p in people if p[3]}
    return ids, names, lms


def _manual_scores(db_url: str, pending: list[ResultRow]) -> None:
    """Fill in hand-graded scores from nbgrader's gradebook (formgrader) for manual rows still None."""
    if not pending:
        return
    try:
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(db_url) as gb:
            for r in pending:
                try:
                    g = gb.find_grade(r.grade_id, r.notebook, r.assignment, r.student)
                except MissingEntry:
                    continue
                if g.manual_score is not None:
                    r.score = float(g.manual_score)
    except Exception:  # best effort: without nbgrader rows the cell stays "needs manual grading"
        return


def load_class(course: Course, assignments: list[str] | None = None) -> ClassData:
    """Read the course (questions), nbgrader's gradebook (students) and the ResultsStore (verdicts)."""
    names_ = course.resolve_assignments(assignments)
    db_url = course.gradebook_url
    store = ResultsStore(db_url)
    try:
        subs = {(s.assignment, s.student): s for s in store.submissions() if s.assignment in names_}
        results: dict[tuple[str, str], list[ResultRow]] = {}
        for r in store.results():
            if r.assignment in names_:
                results.setdefault((r.assignment, r.student), []).append(r)
    finally:
        store.close()
    ids, names, lms = _nbgrader_people(db_url)
    pending = [r for rows in results.values() for r in rows if r.kind == "manual" and r.score is None]
    _manual_scores(db_url, pending)
    students = sorted(set(ids) | set(course.students()) | {s for _, s in subs})
    qs = {a: questions(course, a) for a in names_}
    for a in names_:  # cells graded but no longer in the source still get a column
        known = {q.grade_id for q in qs[a]}
        for (aa, _), rows in results.items():
            for r in rows:
                if aa == a and r.grade_id not in known:
                    qs[a].append(Question(r.grade_id, r.max_score, r.kind, r.notebook))
                    known.add(r.grade_id)
    pending = {(a, s) for s in course.students() for a in names_
               if (a, s) not in subs and any((course.submitted / s / a).glob("*.ipynb"))}
    for key in [k for k, sub in subs.items() if _resubmitted(course, sub)]:
        subs.pop(key)            # the verdict is for an older submission: not a grade of this one
        results.pop(key, None)
        pending.add(key)
    return ClassData(names_, qs, students, names, lms, subs, results, pending)


def _resubmitted(course: Course, sub: SubmissionRow) -> bool:
    """True when submitted/ holds a newer submission than the one this verdict was given for."""
    from autograder.cmd_collect import parse_timestamp
    from autograder.safe_open import read_bytes

    try:  # never follows a symlink, never blocks on a FIFO, reads at most 4 kB
        text = read_bytes(course.submitted / sub.student / sub.assignment / "timestamp.txt", 4096)
    except OSError:
        return False
    text = text.decode("utf-8", "replace").strip()[:64]
    if not sub.timestamp or not text:
        return False
    now, then = parse_timestamp(text), parse_timestamp(sub.timestamp)
    return now is not None and then is not None and now > then


def num(value: float | None) -> str:
    """A score for a CSV cell: '' for None, else up to 4 decimals without trailing zeros."""
    if value is None:
        return ""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def plain_rows(data: ClassData) -> list[list[str]]:
    header = ["student"]
    for a in data.assignments:
        header += [a, f"{a} status"] + [f"{a}: {q.grade_id}" for q in data.questions[a]]
    header += ["total", "max_total"]
    rows = [header]
    max_total = sum(data.max_score(a) for a in data.assignments)
    for s in data.students:
        row = [s]
        for a in data.assignments:
            per_q = data.question_scores(a, s)
            row += [num(data.score(a, s)), data.status(a, s)]
            row += [num(per_q.get(q.grade_id)) for q in data.questions[a]]
        row += [num(data.total(s)), num(max_total)]
        rows.append(row)
    return rows


def canvas_rows(data: ClassData) -> list[list[str]]:
    header = ["Student", "ID", "SIS User ID", "Section"] + list(data.assignments)
    rows = [header, ["Points Possible", "", "", ""] + [num(data.max_score(a)) for a in data.assignments]]
    for s in data.students:
        first, last = data.names.get(s, ("", ""))
        display = f"{last}, {first}".strip(", ") if (first or last) else s
        scores = [num(data.score(a, s)) for a in data.assignments]
        rows.append([display, data.lms_ids.get(s, ""), s, ""] + scores)
    return rows


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("csv", "canvas"), default="csv",
                        help="plain CSV (default) or Canvas's gradebook import layout")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help="default: <course>/exports/grades.csv; - for stdout")


def run(args: argparse.Namespace) -> int:
    course = Course.open(args.course, args.db)
    data = load_class(course)
    rows = canvas_rows(data) if args.format == "canvas" else plain_rows(data)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[csv_safe(str(c)) for c in row] for row in rows])
    if args.output == "-":
        sys.stdout.write(buf.getvalue())
        return 0
    out = Path(args.output) if args.output else course.exports / "grades.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, out)
    graded = sum(1 for s in data.submissions.values() if s.status == "graded")
    ungraded = len(data.submissions) - graded
    print(f"export: {len(data.students)} students, {len(data.assignments)} assignments "
          f"({graded} graded, {ungraded} ungraded submissions) -> {out}")
    return 0
