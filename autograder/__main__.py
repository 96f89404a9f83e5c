"""`python -m autograder` (also `chainrule-grade`): the instructor's command line.

Each subcommand lives in its own module, autograder/cmd_<name>.py, which defines
`add_arguments(parser)` and `run(args) -> int`: options in, a library call, lines out (the work itself
is in library modules: student_copies, collecting, class_grading, feedback_pages, exports,
class_report, verification, sample_class). Errors the user can fix print one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from autograder.course import CourseError

SUBCOMMANDS = {
    "release": "student copies of the assignments (no solutions, no hidden tests)",
    "collect": "take submissions from a folder or an LMS zip into submitted/",
    "grade": "grade submissions in parallel, in a sandbox; verdicts decided outside the student's kernel",
    "feedback": "one HTML page per student and assignment",
    "export": "grades as CSV (or Canvas CSV)",
    "report": "HTML class report: score distributions, most frequent mistakes, ungraded submissions",
    "verify": "prove the tests are strong: solution = full marks, blank = 0, known mistakes lose points",
    "sample": "generate a sample class of submissions of varied quality (for demos and tests)",
}


class HelpWithDefaults(argparse.HelpFormatter):
    """Help that shows each option's default, where it has a meaningful one (not None, False or empty)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (not action.option_strings or "%(default)" in text or text == argparse.SUPPRESS
                or action.default is None or action.default is False or action.default == []
                or action.default == argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0],
                                     formatter_class=HelpWithDefaults)
    parser.add_argument("--course", default=None, help="course folder (default: ./course, or . if it holds nbgrader_config.py)")
    parser.add_argument("--db", default=None, metavar="URL", help="gradebook SQLAlchemy URL (default: sqlite <course>/gradebook.db)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpWithDefaults)
        # --course/--db are accepted after the subcommand too.
        p.add_argument("--course", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        try:
            module = importlib.import_module(f"autograder.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"autograder.cmd_{name}":
                raise
            p.set_defaults(_missing=name)
            continue
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"error: '{args._missing}' is not available in this version", file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.strerror is None:  # not an error of the file system or the OS: a bug, keep the traceback
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not type(exc).__module__.startswith("sqlalchemy"):
            raise
        from autograder.results import gradebook_problem

        print(f"error: {gradebook_problem(getattr(args, 'db', None) or _db_url(args), exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _db_url(args) -> str:
    try:
        from autograder.course import Course

        return Course.open(args.course, args.db).gradebook_url
    except CourseError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
