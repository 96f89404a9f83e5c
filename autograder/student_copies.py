"""Student copies of an assignment: nbgrader's GenerateAssignment, then a leak check against the source.

`release(course, assignment)` regenerates release/<assignment>/ through nbgrader's API (solutions and
hidden tests removed by nbgrader's preprocessors, as configured in the course's nbgrader_config.py) and
compares every student copy with its source (autograder.leaks): a copy that still holds a line of a
solution or of a hidden test is deleted, and the leaks are returned. A source notebook that cannot be
read is a CourseError naming it; nbgrader's failures are reported by their most telling line.
"""
from __future__ import annotations

import re
import shutil

from autograder.course import Course, CourseError


def release(course: Course, assignment: str, *, selfcheck: bool = True) -> list[str]:
    """Generate release/<assignment>/ (overwriting) and return its leaks (the copy is deleted if any);
    with `selfcheck`, CourseError (the copy deleted) when its self-check data cannot be built
    (autograder.selfchecks; `verify` builds it itself and reports it among the other violations)."""
    from autograder import nbgrader_api
    from autograder.leaks import find_leaks
    from autograder.notebooks import NotebookError, read_notebook

    for src in course.source_notebooks(assignment):
        try:
            read_notebook(src)
        except NotebookError as exc:
            raise CourseError(f"{assignment}: source notebook {exc}") from None
    result = nbgrader_api.api(course).generate_assignment(assignment, force=True, create=True)
    if not result.get("success"):
        raise CourseError(f"{assignment}: nbgrader generate_assignment failed: {nbgrader_reason(result)}")
    leaks = []
    for src in course.source_notebooks(assignment):
        rel = course.release / assignment / src.name
        if not rel.is_file():
            leaks.append(f"{src.name}: no student copy was written")
            continue
        leaks += [f"{src.name}: {x}" for x in find_leaks(read_notebook(src), read_notebook(rel))]
    if leaks or not selfcheck:
        if leaks:
            shutil.rmtree(course.release / assignment, ignore_errors=True)
        return leaks
    from autograder import selfchecks

    try:
        selfchecks.write(course, assignment)
    except BaseException:
        shutil.rmtree(course.release / assignment, ignore_errors=True)
        raise
    return leaks


def nbgrader_reason(result: dict) -> str:
    """The most telling line of a failed nbgrader call (its last exception, not "Please see the above")."""
    lines = f"{result.get('log') or ''}\n{result.get('error') or ''}".splitlines()
    useful = [x.strip() for x in lines if x.strip() and "Please see the" not in x]
    errors = [x for x in useful if re.match(r"[\w.]+(Error|Exception): ", x)]
    return (errors or useful or ["unknown error"])[-1][:300]
