"""`release [ASSIGNMENT...]`: student copies via nbgrader (GenerateAssignment), checked for leaks, with
their self-check data (autograder.selfchecks: release/<assignment>/selfcheck.json)."""
from __future__ import annotations

import re
import shutil
import sys

from autograder.course import Course, CourseError


def add_arguments(parser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment")
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    parser.add_argument("--exchange", action="store_true",
                        help="also publish each student copy to nbgrader's exchange (students fetch it)")


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
        raise CourseError(f"{assignment}: nbgrader generate_assignment failed: {_nbgrader_reason(result)}")
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


def _nbgrader_reason(result: dict) -> str:
    """The most telling line of a failed nbgrader call (its last exception, not "Please see the above")."""
    lines = f"{result.get('log') or ''}\n{result.get('error') or ''}".splitlines()
    useful = [x.strip() for x in lines if x.strip() and "Please see the" not in x]
    errors = [x for x in useful if re.match(r"[\w.]+(Error|Exception): ", x)]
    return (errors or useful or ["unknown error"])[-1][:300]


def run(args) -> int:
    course = Course.open(args.course, args.db)
    status = 0
    for a in course.resolve_assignments(args.assignments):
        leaks = release(course, a)
        if leaks:
            status = 1
            print(f"{a}: LEAK in the student copy (deleted):", file=sys.stderr)
            for leak in leaks:
                print(f"  {leak}", file=sys.stderr)
            continue
        if not args.quiet:
            print(f"{a}: released to {course.release / a}")
        if args.exchange:  # nbgrader's exchange: autograder/exchange.py
            from autograder import exchange

            print(f"{a}: published to {exchange.publish(course, a)}")
    return status
