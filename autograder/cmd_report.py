"""`report [ASSIGNMENT...]`: an HTML class report in reports/index.html (plots in reports/img/).

The report itself is autograder/class_report.py.
"""
from __future__ import annotations

import argparse

from autograder.class_report import render
from autograder.classdata import load_class
from autograder.course import Course


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")


def run(args: argparse.Namespace) -> int:
    course = Course.open(args.course, args.db)
    data = load_class(course, args.assignments or None)
    out = render(course, data)
    n = sum(1 for s in data.submissions.values())
    print(f"report: {n} submissions of {len(data.students)} students -> {out}")
    return 0
