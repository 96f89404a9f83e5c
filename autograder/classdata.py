"""Everything stored about a class, read once for the commands that show it (export, feedback, report).

`load_class(course)` joins three sources: the course's source notebooks (which graded cells an assignment
has, and their points), nbgrader's gradebook (the roster, names, LMS ids, and the scores given by hand in
the formgrader) and our results tables (verdicts per submission and exercise). A verdict given for an
older submission than the one now in submitted/ is not a grade of it: that submission is "not graded
yet" until `grade` runs again.

Grades are explicit about hand grading: a graded submission's score is its autograded points plus the
hand-graded points given so far, and `to_grade()` says how many points of written answers still wait
for the formgrader; `complete()` is False until none do.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from autograder.course import Course
from autograder.results import ResultRow, ResultsStore, SubmissionRow

# Verdicts that mean the grader saw no answer to judge (see autograder/grading.py and judge.py): the
# answer cell still raises NotImplementedError, the notebook stopped before the exercise, the answer name
# was never defined or the notebook was not submitted. The class report counts these apart from mistakes.
NOT_ANSWERED = frozenset({"unanswered", "stopped", "missing"})


def hand_points(points: float) -> str:
    """'1 point', '2.5 points': an amount of points waiting for hand grading, in words."""
    text = f"{points:.2f}".rstrip("0").rstrip(".")
    return f"{text} point" + ("" if text == "1" else "s")


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
        """"graded", "ungraded: <reason>", "missing", or "not graded yet" (in submitted/, no verdict).
        "graded" means the autograder is done; see `to_grade()` for points still to grade by hand."""
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

    def _points(self, assignment: str, student: str, kind: str) -> float | None:
        if self.status(assignment, student) != "graded":
            return None
        return sum(r.score for r in self.results.get((assignment, student), [])
                   if r.kind == kind and r.score is not None)

    def auto_score(self, assignment: str, student: str) -> float | None:
        """Autograded points of a graded submission; None otherwise."""
        return self._points(assignment, student, "auto")

    def manual_score(self, assignment: str, student: str) -> float | None:
        """Points given by hand so far (formgrader) on a graded submission; None otherwise."""
        return self._points(assignment, student, "manual")

    def to_grade(self, assignment: str, student: str) -> float | None:
        """Points of written answers still waiting for hand grading (0 when none); None if not graded."""
        if self.status(assignment, student) != "graded":
            return None
        return sum(r.max_score for r in self.results.get((assignment, student), [])
                   if r.kind == "manual" and r.score is None)

    def complete(self, assignment: str, student: str) -> bool:
        """True when the submission is graded and nothing of it waits for hand grading."""
        return self.to_grade(assignment, student) == 0

    def grade_status(self, assignment: str, student: str) -> str:
        """`status()`, except that a graded submission with points still to grade by hand reads
        "awaiting hand grading: N points" (its score is not final)."""
        pending = self.to_grade(assignment, student)
        if pending:
            return f"awaiting hand grading: {hand_points(pending)}"
        return self.status(assignment, student)

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
    stems = {a: [p.stem for p in course.source_notebooks(a)] for a in {sub.assignment for sub in subs.values()}}
    for key in [k for k, sub in subs.items() if _resubmitted(course, sub, stems[sub.assignment])]:
        subs.pop(key)            # the verdict is for an older submission: not a grade of this one
        results.pop(key, None)
        pending.add(key)
    return ClassData(names_, qs, students, names, lms, subs, results, pending)


def _resubmitted(course: Course, sub: SubmissionRow, stems: list[str]) -> bool:
    """True when submitted/ no longer holds the submission this verdict was given for: `grade` would
    grade it again (autograder/submissions.py: one definition of "the stored verdict is current")."""
    from autograder.submissions import verdict_is_current

    folder = course.submitted / sub.student / sub.assignment
    if not folder.is_dir():
        return False
    return not verdict_is_current(sub.timestamp, folder, stems)
