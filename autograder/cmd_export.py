"""`export [--format csv|canvas] [--output FILE] [--complete-only] [--force]`: the class's grades as a CSV.

Columns and formats: autograder/exports.py. Each format has its own default file in <course>/exports/
(grades.csv, grades_canvas.csv); re-running an export says that it replaced the previous one, and a
file of another format (or no export at all) is not replaced without --force. Scores that still wait
for hand grading are marked in the file and counted on the terminal; the Canvas export warns before
such scores reach an LMS, and --complete-only leaves them empty.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import exports
from autograder.classdata import hand_points, load_class
from autograder.course import Course


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=tuple(exports.FORMATS), default="csv",
                        help="plain CSV or Canvas's gradebook import layout")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help="default: <course>/exports/grades.csv (csv) or grades_canvas.csv (canvas); - for stdout")
    parser.add_argument("--complete-only", action="store_true",
                        help="leave empty the scores that still wait for hand grading (written answers)")
    parser.add_argument("--force", action="store_true",
                        help="replace FILE even if it holds another format or is not a grades export")


def run(args: argparse.Namespace) -> int:
    course = Course.open(args.course, args.db)
    fmt = exports.FORMATS[args.format]
    out = None
    if args.output != "-":
        out = Path(args.output) if args.output else course.exports / fmt.default_file
        replaced = exports.check_target(out, fmt.name, args.force)
    data = load_class(course)
    build = exports.canvas_rows if fmt.name == "canvas" else exports.plain_rows
    text = exports.to_csv(build(data, complete_only=args.complete_only))
    waiting = exports.incomplete(data)
    if out is None:
        sys.stdout.write(text)
    else:
        exports.write_atomic(out, text)
        graded = sum(1 for s in data.submissions.values() if s.status == "graded")
        ungraded = len(data.submissions) - graded
        done = (f"replaced the previous {exports.FORMATS[replaced].label if replaced in exports.FORMATS else 'file'}"
                if replaced else "new file")
        print(f"export: {len(data.students)} students, {len(data.assignments)} assignments "
              f"({graded} graded, {ungraded} ungraded submissions) -> {out} ({done})")
    if waiting:
        points = sum(p for _, _, p in waiting)
        left = "left empty (--complete-only)" if args.complete_only else "exported as partial scores"
        line = (f"{len(waiting)} graded submission(s) still have {hand_points(points)} of written answers to "
                f"grade by hand (nbgrader's formgrader); their scores are {left}")
        if fmt.name == "canvas" and not args.complete_only:
            print(f"warning: {line}. An LMS would take them as final: grade them first, or export with "
                  "--complete-only to leave those scores empty.", file=sys.stderr)
        else:
            print(f"note: {line}.", file=sys.stderr)
    return 0
