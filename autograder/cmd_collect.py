"""`collect SOURCE`: take submissions from a folder or a zip into submitted/<student>/<assignment>/.

SOURCE is nbgrader's tree, a Moodle "Download all submissions" export or a Canvas "Download
Submissions" zip, unpacked or not (the forms are listed in autograder/lms.py). Who submitted a file and
when come from the LMS's structure (account folder, user id, the archive's own times), never from a
file name a student chose; names that read alike stay apart (autograder/accounts.py). A submission
replaces the stored one only if it is newer (autograder/submissions.py, the rule `grade` shares).
The pipeline is autograder/collecting.py; this module reads the arguments and prints the summary.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.accounts import AccountsError, safe_student_id
from autograder.collecting import collect, timestamp_from_name
from autograder.course import Course
from autograder.sources import SourceError as CollectError
from autograder.submissions import format_timestamp, parse_timestamp

# used by sample_class, cmd_export and the tests under these names
__all__ = ["CollectError", "add_arguments", "collect", "format_timestamp", "parse_timestamp", "run",
           "safe_student_id", "timestamp_from_name"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", help="folder or .zip of submissions (nbgrader tree or LMS export)")
    parser.add_argument("--exchange", action="store_true",
                        help="collect from nbgrader's exchange instead (the student is the submission's owner)")
    parser.add_argument("--max-file-mb", type=float, default=20.0,
                        help="a notebook larger than this (at most the 20 MiB that grade reads) is stored "
                             "without its outputs, which are never graded; if still larger, as it came "
                             "(default 20)")
    parser.add_argument("--max-total-mb", type=float, default=2000.0,
                        help="largest total uncompressed size of a zip (default 2000)")
    parser.add_argument("--dry-run", action="store_true", help="report what would happen, write nothing")


def run(args: argparse.Namespace) -> int:
    if not (args.max_file_mb > 0 and args.max_total_mb > 0):
        print("error: --max-file-mb and --max-total-mb must be > 0", file=sys.stderr)
        return 2
    if (args.source is None) == (not args.exchange):
        print("error: give either SOURCE (a folder or zip) or --exchange", file=sys.stderr)
        return 2
    if args.exchange:  # nbgrader's exchange: autograder/exchange.py
        from autograder import exchange

        return exchange.run_collect(args)
    course = Course.open(args.course, args.db)
    mb = 1_000_000
    try:
        stats = collect(course, Path(args.source), max_file=int(args.max_file_mb * mb),
                        max_total=int(args.max_total_mb * mb), dry_run=args.dry_run)
    except (CollectError, AccountsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("collect: nothing collected", file=sys.stderr)
        return 1
    used_keys = ("collected", "replaced", "kept", "unchanged")
    used = sum(len(stats[k]) for k in used_keys)
    if used == 0 and not stats["errors"]:
        n = stats["found"]
        found = ("it holds no files" if n == 0 else
                 "it holds 1 file, not usable, listed above with the reason" if n == 1 else
                 f"it holds {n} files, none of them usable, each listed above with the reason")
        print(f"collect: no usable submission in {args.source}: {found}; expected nbgrader's "
              f"<student>/<assignment>/ folders, Moodle account folders or Canvas file names, holding "
              f"{stats['expected']}", file=sys.stderr)
        return 1
    students = {label.split("/")[0] for key in used_keys for label in stats[key]}
    skipped = len(stats["skipped"])
    print(f"collect: {len(stats['collected'])} new, {len(stats['replaced'])} replaced, "
          f"{len(stats['kept'])} kept the existing one, {len(stats['unchanged'])} unchanged, "
          f"{skipped} skipped{', listed above' if skipped else ''}; "
          f"{len(students)} student{'' if len(students) == 1 else 's'}"
          + (f"; {len(stats['errors'])} NOT WRITTEN, see the errors above" if stats["errors"] else "")
          + (" [dry run: nothing written]" if args.dry_run else ""))
    return 1 if stats["errors"] else 0
