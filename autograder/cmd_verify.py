"""`verify [ASSIGNMENT...]`: prove an assignment's tests are strong, in a temp copy of the course.

What is checked, and how: autograder/verification.py.
"""
from __future__ import annotations

import os
import sys

from autograder import sandbox
from autograder.course import Course
from autograder.verification import verify_assignment


def add_arguments(parser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel sandboxes (default: the number of CPU cores, %(default)s here)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="time limit per notebook run: CPU seconds of its sandbox (default: %(default)s)")
    parser.add_argument("--cell-timeout", type=float, default=30.0,
                        help="limit per cell, in seconds (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary course copy")


def run(args) -> int:
    if args.jobs < 1 or not (0 < args.timeout < 1e6) or not (0 < args.cell_timeout < 1e6):
        print("error: --jobs must be >= 1 and timeouts > 0", file=sys.stderr)
        return 2
    course = Course.open(args.course, args.db)
    names = course.resolve_assignments(args.assignments)
    limits = sandbox.Limits(timeout=args.timeout, cell_timeout=args.cell_timeout)
    failed = []
    for name in names:
        problems = verify_assignment(course, name, limits=limits, jobs=max(1, args.jobs), keep=args.keep)
        if problems:
            failed.append(name)
    if failed:
        print(f"verify FAILED for {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"verify passed: {', '.join(names)}")
    return 0

