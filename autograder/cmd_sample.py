"""`sample --students N [--seed S] [--output DIR] [--format zip|tree] [--lms canvas|moodle] [--force]`.

Generates a sample class from the released student copies (released first if missing): see
autograder/sample_class.py for the profiles. Writes DIR/submissions.zip (LMS file names) or
DIR/submitted/ (nbgrader tree) and DIR/manifest.json. DIR defaults to <course>/.sample. A sample
already in DIR is replaced only with --force (and the output says what was replaced).
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from autograder.course import Course, CourseError
from autograder.sample_class import existing_sample, generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
    parser.add_argument("--students", type=int, required=True, metavar="N", help="number of students")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same class)")
    parser.add_argument("--output", default=None, metavar="DIR", help="default: <course>/.sample")
    parser.add_argument("--format", choices=("zip", "tree"), default="zip",
                        help="an LMS-style zip or an nbgrader submitted/ tree")
    parser.add_argument("--lms", choices=("canvas", "moodle"), default="canvas", help="file names in the zip")
    parser.add_argument("--force", action="store_true", help="replace a sample class already in DIR")


def run(args: argparse.Namespace) -> int:
    course = Course.open(args.course, args.db)
    output = Path(args.output) if args.output else course.root / ".sample"
    before = existing_sample(output)
    if before and not args.force:
        raise CourseError(f"{output} already holds a sample class ({before}); pass --force to replace it, "
                          "or --output DIR to make another one")
    manifest = generate(course, args.students, seed=args.seed, fmt=args.format, lms=args.lms,
                        output=output, assignments=args.assignments or None)
    kinds = Counter(s["profile"] for s in manifest["submissions"])
    listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"sample: {len(manifest['submissions'])} submissions from {args.students} students "
          f"({listed}; {len(manifest['missing'])} missing) -> {manifest['path']}")
    print(f"sample: manifest {Path(manifest['path']).parent / 'manifest.json'}")
    if before:
        print(f"sample: replaced the previous sample class in {output} ({before})")
    return 0
