"""`release [ASSIGNMENT...]`: student copies via nbgrader (GenerateAssignment), checked for leaks, with
their self-check data (autograder.selfchecks: release/<assignment>/selfcheck.json)."""
from __future__ import annotations

import sys

from autograder.course import Course
from autograder.student_copies import release


def add_arguments(parser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment")
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    parser.add_argument("--exchange", action="store_true",
                        help="also publish each student copy to nbgrader's exchange (students fetch it)")


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
