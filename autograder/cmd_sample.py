"""`sample --students N [--seed S] [--output DIR] [--format zip|tree] [--lms canvas|moodle]`.

Generates a sample class from the released student copies (released first if missing): see
autograder/sample_class.py for the profiles. Writes DIR/submissions.zip (LMS file names) or
DIR/submitted/ (nbgrader tree) and DIR/manifest.json. DIR defaults to <course>/.sample.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from autograder.course import Course
from autograder.sample_class import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
    parser.add_argument("--students", type=int, required=True, metavar="N", help="number of students")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same class)")
    parser.add_argument("--output", default=None, metavar="DIR", help="default: <course>/.sample")
    parser.add_argument("--format", choices=("zip", "tree"), default="zip",
                        help="an LMS-style zip (default) or an nbgrader submitted/ tree")
    parser.add_argument("--lms", choices=("canvas", "moodle"), default="canvas", help="file names in the zip")


def run(args: argparse.Namespace) -> int:
    course = Course.open(args.course, args.db)
    output = Path(args.output) if args.output else None
    manifest = generate(course, args.students, seed=args.seed, fmt=args.format, lms=args.lms,
                        output=output, assignments=args.assignments or None)
    kinds = Counter(s["profile"] for s in manifest["submissions"])
    listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"sample: {len(manifest['submissions'])} submissions from {args.students} students "
          f"({listed}; {len(manifest['missing'])} missing) -> {manifest['path']}")
    print(f"sample: manifest {Path(manifest['path']).parent / 'manifest.json'}")
    return 0
