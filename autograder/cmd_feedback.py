"""`feedback [ASSIGNMENT...] [--student ID ...]`: one HTML page per student and assignment, in
feedback/<student>/<assignment>/<assignment>.html, plus the instructor's index.

What a page shows and never shows: autograder/feedback_pages.py.
"""
from __future__ import annotations

import argparse
import sys

from autograder.classdata import load_class
from autograder.course import Course, CourseError
from autograder.feedback_pages import write_pages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
    parser.add_argument("--student", action="append", default=None, metavar="ID", help="only these students")
    parser.add_argument("--exchange", action="store_true",
                        help="also return the pages through nbgrader's exchange (students run Fetch Feedback)")


def run(args: argparse.Namespace) -> int:
    course = Course.open(args.course, args.db)
    data = load_class(course, args.assignments or None)
    wanted = set(args.student) if args.student else None
    unknown = sorted((wanted or set()) - set(data.students))
    if unknown:
        raise CourseError(f"no such student(s): {', '.join(map(repr, unknown))} (not in submitted/ or the gradebook)")
    written, skipped = write_pages(course, data, wanted)
    root = course.feedback
    for s in skipped:
        print(f"feedback: skipped {s}", file=sys.stderr)
    missing = sum(1 for a in data.assignments for s in data.students if (a, s) not in data.submissions)
    print(f"feedback: {len(written)} pages in {root} ({missing} missing submissions have none); "
          f"index {root / 'index.html'}")
    status = 0 if not skipped else 1
    if args.exchange:  # nbgrader's exchange: autograder/exchange.py
        from autograder import exchange

        status = 1 if exchange.return_feedback(course, written) else status
    return status
