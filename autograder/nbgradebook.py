"""Mirror our verdicts into nbgrader's own gradebook tables (students, submission, Grade.auto_score).

Autograded grade cells get `auto_score` and no manual grading flag; manually graded cells keep any
manual score already given and are flagged as needing manual grading until then. For an ungraded
submission every cell needs manual grading. nbgrader's formgrader and exports keep working.
"""
from __future__ import annotations


def parse_timestamp(text: str | None):
    if not text:
        return None
    try:
        from nbgrader.utils import parse_utc

        return parse_utc(text.strip())
    except Exception:  # an unparseable timestamp.txt is not fatal
        return None


def record_nbgrader(course, assignment: str, student: str, auto_scores: dict | None,
                    timestamp: str | None) -> dict[str, float]:
    """Write the submission; `auto_scores` is {grade_id: score} (None: ungraded). Returns the manual
    scores already in the gradebook ({grade_id: score}) so they can be reported too."""
    import warnings

    from nbgrader.api import InvalidEntry, MissingEntry

    from autograder.nbgrader_api import gradebook

    manual: dict[str, float] = {}
    with warnings.catch_warnings(), gradebook(course) as gb:
        warnings.simplefilter("ignore")  # nbgrader's add_submission trips SQLAlchemy 2 autoflush warnings
        try:
            gb.update_or_create_student(student)
        except InvalidEntry:  # another grader (another assignment) added this student since we looked
            gb.find_student(student)
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            sub = gb.add_submission(assignment, student)
        ts = parse_timestamp(timestamp)
        if ts is not None:
            sub.timestamp = ts
        for nb in sub.notebooks:
            for grade in nb.grades:
                if auto_scores is not None and grade.name in auto_scores:
                    grade.auto_score = float(auto_scores[grade.name])
                    grade.needs_manual_grade = False
                else:
                    grade.auto_score = None
                    grade.needs_manual_grade = grade.manual_score is None
                    if grade.manual_score is not None:
                        manual[grade.name] = float(grade.manual_score)
        gb.db.commit()
    return manual
