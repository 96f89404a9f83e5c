"""`collect SOURCE`: take submissions from a folder or a zip into submitted/<student>/<assignment>/.

SOURCE is laid out either as nbgrader's tree (`<student>/<assignment>/<notebook>.ipynb`, optional
`timestamp.txt` beside it, possibly under a wrapping folder) or as a flat LMS export whose file names
end with the notebook name: Canvas `smithj_12345_67890_02_jacobians.ipynb`, Moodle
`Jane Smith_123_assignsubmission_file_02_jacobians.ipynb` (or a folder `Jane Smith_123_assignsubmission_
file_/02_jacobians.ipynb`), with an optional resubmission counter (`-1`, `_2`, ` (3)`). The student id is the leading
part of the name (up to the first `_`), normalised to a safe folder name (`jane_smith`).

Timestamps, first found wins: timestamp.txt, a date-time in the file name (`2026-01-15-10-30-00`), the
zip entry's date, the file's mtime. A submission replaces one already in submitted/ only if it is
strictly newer. Every file that is not used is listed with the reason; nothing is dropped silently.
A zip with an absolute or `..` path, a symlink, or sizes over the caps is refused as a whole.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import re
import stat
import sys
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from autograder.course import Course

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's format in timestamp.txt
MAX_ENTRIES = 20_000


class CollectError(Exception):
    """SOURCE cannot be used at all (unsafe zip, missing path): one line for the user."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", help="folder or .zip of submissions (nbgrader tree or LMS export)")
    parser.add_argument("--exchange", action="store_true",
                        help="collect from nbgrader's exchange instead (the student is the submission's owner)")
    parser.add_argument("--max-file-mb", type=float, default=20.0,
                        help="largest notebook accepted (default 20)")
    parser.add_argument("--max-total-mb", type=float, default=2000.0,
                        help="largest total uncompressed size of a zip (default 2000)")
    parser.add_argument("--dry-run", action="store_true", help="report what would happen, write nothing")


# ---------------------------------------------------------------------------------------------------
# Names

def safe_student_id(raw: str) -> str:
    """A student id usable as one folder name: ASCII letters, digits, '.', '-' and '_', lower case."""
    text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9.\-]+", "_", text).strip("._-")
    return text[:64]


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# a resubmission counter added by an LMS or a browser: -1, _2, " (3)", +(1)
_COUNTER = re.compile(r"(?:[-_+ ]\(?|\()(\d{1,3})\)?$")
_NAME_TIME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})[-_ T](\d{2})[-:_](\d{2})(?:[-:_](\d{2}))?(?!\d)")


def timestamp_from_name(name: str) -> dt.datetime | None:
    """A date-time written in an LMS file name (`..._2026-01-15-10-30-00_...`), as UTC; None if absent."""
    m = _NAME_TIME.search(name)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    try:
        return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.UTC)
    except ValueError:
        return None


def parse_timestamp(text: str) -> dt.datetime | None:
    """timestamp.txt content (nbgrader's format or ISO 8601) as an aware datetime (naive = UTC) or None."""
    text = text.strip()
    if not text:
        return None
    candidates = [text, text.removesuffix(" UTC").removesuffix("Z"), text.replace(" UTC", "+00:00")]
    for c in candidates:
        try:
            value = dt.datetime.fromisoformat(c)
        except ValueError:
            continue
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        import dateutil.parser

        value = dateutil.parser.parse(text)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    except (ImportError, ValueError, OverflowError):
        return None


def format_timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)


@dataclasses.dataclass
class Entry:
    """One file of SOURCE: its path inside SOURCE (posix), size, date (zip/mtime) and how to read it."""
    path: str
    size: int
    mtime: dt.datetime | None
    read: Callable[[], bytes]


@dataclasses.dataclass
class Candidate:
    entry: Entry
    student: str
    assignment: str
    notebook: str  # file name to write, e.g. 02_jacobians.ipynb
    timestamp: dt.datetime | None
    counter: int
    layout: str  # "tree" or "lms"
    raw_id: str = ""  # the student id as written in SOURCE, before safe_student_id


class Matcher:
    """Recognises which course notebook a file is, and whose, from its path."""

    def __init__(self, notebooks: dict[str, list[str]]):
        # notebook stem (normalised) -> (assignment, real stem); longest names first for suffix matching
        self.assignments = set(notebooks)
        self.by_norm: dict[str, tuple[str, str]] = {}
        for assignment, stems in notebooks.items():
            for stem in stems:
                self.by_norm[_norm(stem)] = (assignment, stem)
        self.norms = sorted(self.by_norm, key=len, reverse=True)

    def match(self, path: str, timestamps: dict[str, dt.datetime]) -> Candidate | str:
        """A Candidate, or the reason (str) why the file at `path` is not a usable submission."""
        parts = PurePosixPath(path).parts
        name = parts[-1]
        if not name.lower().endswith(".ipynb"):
            return "not a notebook (.ipynb)"
        stem = name[: -len(".ipynb")]
        variants = [(stem, 0)]
        m = _COUNTER.search(stem)
        if m and m.start() > 0:
            variants.append((stem[: m.start()], int(m.group(1))))
        tree_reason = None
        for base, counter in variants:
            found = self._match_base(parts, name, base, counter, timestamps)
            if isinstance(found, Candidate):
                return found
            tree_reason = tree_reason or found
        if tree_reason:
            return tree_reason
        known = ", ".join(sorted({stem for _, stem in self.by_norm.values()}))
        return f"name matches no notebook of the course ({known})"

    def _match_base(self, parts, name: str, base: str, counter: int,
                    timestamps: dict[str, dt.datetime]) -> Candidate | str | None:
        """Match one reading of the name (`base`: the file stem, maybe without a counter).

        Returns a Candidate, a reason (a student id or tree problem), or None when nothing matches."""
        nbase = _norm(base)
        tree_reason = None
        # nbgrader tree: .../<student>/<assignment>/<notebook>.ipynb
        if len(parts) >= 3 and parts[-2] in self.assignments:
            assignment = parts[-2]
            hit = self.by_norm.get(nbase)
            student = safe_student_id(parts[-3])
            if hit is None or hit[0] != assignment:
                tree_reason = f"notebook name {name!r} is not a notebook of assignment {assignment}"
            elif not student:
                return f"no usable student id in folder name {parts[-3]!r}"
            else:
                folder = str(PurePosixPath(*parts[:-1]))
                return Candidate(None, student, assignment, hit[1] + ".ipynb",  # type: ignore[arg-type]
                                 timestamps.get(folder) or timestamp_from_name(name), counter, "tree",
                                 parts[-3])
        # flat LMS name: <student>_<anything>_<notebook>, or a folder <student>_..._/<notebook>.ipynb
        for norm in self.norms:
            if nbase == norm or nbase.endswith("_" + norm):
                assignment, real = self.by_norm[norm]
                prefix = base[: len(base) - len(base_suffix(base, norm))].rstrip(" _-")
                source_of_id = prefix or (parts[-2] if len(parts) >= 2 else "")
                if not source_of_id:
                    return "no student id in the file name (expected <student>_..._<notebook>.ipynb)"
                raw_id = re.split(r"_", source_of_id, maxsplit=1)[0]
                student = safe_student_id(raw_id)
                if not student:
                    return f"no usable student id in {source_of_id!r}"
                when = timestamp_from_name(name)
                if when is None and len(parts) >= 2:
                    when = timestamp_from_name(parts[-2])
                return Candidate(None, student, assignment, real + ".ipynb", when, counter,  # type: ignore[arg-type]
                                 "lms", raw_id)
        return tree_reason


def base_suffix(base: str, norm: str) -> str:
    """The trailing part of `base` whose normalised form is `norm` (same characters count as _norm keeps)."""
    # Walk back from the end, collecting characters until the normalised tail equals `norm`.
    for start in range(len(base) - 1, -1, -1):
        tail = base[start:]
        if _norm(tail) == norm and (start == 0 or not base[start - 1].isalnum()):
            return tail
    return base


# ---------------------------------------------------------------------------------------------------
# Reading SOURCE

def _unsafe_zip_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\\" in name:
        name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if any(part == ".." for part in name.split("/")):
        return "path traversal ('..')"
    if "\x00" in name:
        return "NUL in name"
    mode = (info.external_attr >> 16) & 0o170000
    if mode == stat.S_IFLNK:
        return "symbolic link"
    return None


def zip_entries(path: Path, max_file: int, max_total: int) -> list[Entry]:
    """The files of a zip, after refusing it as a whole if any entry is unsafe or too big."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CollectError(f"{path} is not a readable zip file ({exc})") from None
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise CollectError(f"{path}: {len(infos)} entries is more than the cap of {MAX_ENTRIES}; refused")
    unsafe = [(i.filename, r) for i in infos if (r := _unsafe_zip_reason(i))]
    if unsafe:
        listed = "; ".join(f"{n!r}: {r}" for n, r in unsafe[:5])
        raise CollectError(f"{path}: refused as a whole, {len(unsafe)} unsafe entries ({listed})")
    total = sum(i.file_size for i in infos)
    if total > max_total:
        raise CollectError(f"{path}: {total / 1e6:.0f} MB uncompressed is more than the cap of "
                           f"{max_total / 1e6:.0f} MB; refused")
    entries = []
    budget = [max_total]  # bytes still allowed to be decompressed, whatever the headers claim

    for info in infos:
        if info.is_dir():
            continue

        def read(info: zipfile.ZipInfo = info) -> bytes:
            # Sizes in the header can lie: never decompress more than the caps.
            limit = min(max_file, budget[0])
            with zf.open(info) as fh:
                data = fh.read(limit + 1)
            budget[0] -= len(data)
            if len(data) > limit:
                raise CollectError(f"{info.filename}: larger than {limit / 1e6:.0f} MB (file or zip cap)")
            return data

        try:
            when = dt.datetime(*info.date_time, tzinfo=dt.UTC)
        except ValueError:
            when = None
        entries.append(Entry(info.filename.replace("\\", "/"), info.file_size, when, read))
    return entries


def folder_entries(root: Path, skipped: list[tuple[str, str]]) -> list[Entry]:
    """The regular files under root (symlinks are listed as skipped, never followed)."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for d in list(dirnames):
            if (here / d).is_symlink():
                rel = (here / d).relative_to(root).as_posix() + "/"
                skipped.append((rel, "symbolic link (not followed)"))
                dirnames.remove(d)
        for f in sorted(filenames):
            p = here / f
            rel = p.relative_to(root).as_posix()
            if p.is_symlink() or not p.is_file():
                skipped.append((rel, "symbolic link or special file (not followed)"))
                continue
            st = p.stat()
            entries.append(Entry(rel, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC),
                                 lambda p=p: p.read_bytes()))
    return entries


_IGNORED = re.compile(r"(^|/)(__MACOSX|\.ipynb_checkpoints)(/|$)|(^|/)\.DS_Store$")


# ---------------------------------------------------------------------------------------------------
# The command

def _same_person_key(raw: str) -> str:
    """Raw ids that differ only in case or Unicode normal form (NFC/NFD zip names) are one person."""
    return unicodedata.normalize("NFC", raw).casefold()


def _without_collisions(candidates: list[Candidate], skipped: list[tuple[str, str]]) -> list[Candidate]:
    """`candidates` minus those whose student id is shared by different raw ids (listed in skipped)."""
    raws: dict[str, dict[str, str]] = {}
    for c in candidates:
        raws.setdefault(c.student, {}).setdefault(_same_person_key(c.raw_id), c.raw_id)
    clashing = {student: sorted(r.values()) for student, r in raws.items() if len(r) > 1}
    kept = []
    for c in candidates:
        if c.student in clashing:
            names = ", ".join(repr(r) for r in clashing[c.student])
            skipped.append((c.entry.path, f"not collected: the different student ids {names} all become "
                                          f"{c.student!r}; rename the files to tell them apart and collect again"))
        else:
            kept.append(c)
    return kept


def existing_timestamp(folder: Path) -> dt.datetime | None:
    ts = folder / "timestamp.txt"
    if ts.is_file():
        return parse_timestamp(ts.read_text(errors="replace"))
    return None


def collect(course: Course, source: Path, *, max_file: int, max_total: int, dry_run: bool = False,
            out=None) -> dict:
    """Collect `source` into course.submitted; report lines go to `out` (stdout). Returns the lists."""
    out = out or sys.stdout
    if not source.exists():
        raise CollectError(f"{source} does not exist")
    notebooks = {a: [p.stem for p in course.source_notebooks(a)] for a in course.assignments()}
    if not notebooks:
        raise CollectError(f"the course has no assignments in {course.source}")
    matcher = Matcher(notebooks)
    skipped: list[tuple[str, str]] = []
    if source.is_dir():
        entries = folder_entries(source, skipped)
    elif zipfile.is_zipfile(source):
        entries = zip_entries(source, max_file, max_total)
    else:
        raise CollectError(f"{source} is neither a folder nor a zip file")

    # timestamp.txt files of tree layouts, by folder
    timestamps: dict[str, dt.datetime] = {}
    for e in entries:
        if PurePosixPath(e.path).name == "timestamp.txt":
            try:
                when = parse_timestamp(e.read()[:200].decode("utf-8", "replace"))
            except CollectError:
                when = None
            folder = str(PurePosixPath(e.path).parent)
            if when is None:
                skipped.append((e.path, "unreadable timestamp"))
            else:
                timestamps[folder] = when

    candidates: list[Candidate] = []
    for e in entries:
        name = PurePosixPath(e.path).name
        if name == "timestamp.txt":
            continue
        if _IGNORED.search(e.path):
            skipped.append((e.path, "system file (ignored)"))
            continue
        result = matcher.match(e.path, timestamps)
        if isinstance(result, str):
            skipped.append((e.path, result))
            continue
        if e.size > max_file:
            skipped.append((e.path, f"larger than {max_file / 1e6:.0f} MB"))
            continue
        result.entry = e
        if result.timestamp is None:
            result.timestamp = e.mtime
        candidates.append(result)
    used_folders = {str(PurePosixPath(c.entry.path).parent) for c in candidates if c.layout == "tree"}
    for folder in sorted(set(timestamps) - used_folders):
        skipped.append((f"{folder}/timestamp.txt", "no submitted notebook beside it"))

    # Different people whose ids normalise to one folder name ('José' and 'Jose', ids cut at 64
    # characters) are not merged: none of their files is collected, each is listed with the reason.
    candidates = _without_collisions(candidates, skipped)

    # One submission per (student, assignment) from this source: the newest (then the highest counter).
    def order(c: Candidate):
        return (c.timestamp or dt.datetime.min.replace(tzinfo=dt.UTC), c.counter)

    chosen: dict[tuple[str, str], Candidate] = {}
    for c in sorted(candidates, key=order):
        key = (c.student, c.assignment)
        if key in chosen:
            old = chosen[key]
            skipped.append((old.entry.path, f"superseded by the newer {c.entry.path} in the same source"))
        chosen[key] = c

    stats = {"collected": [], "replaced": [], "kept": [], "unchanged": [], "skipped": skipped, "errors": []}
    for (student, assignment), c in sorted(chosen.items()):
        dest = course.submitted / student / assignment
        label = f"{student}/{assignment}"
        when = c.timestamp
        when_text = format_timestamp(when) if when else "no timestamp"
        try:
            data = c.entry.read()
        except (CollectError, OSError, zipfile.BadZipFile, EOFError) as exc:
            skipped.append((c.entry.path, f"could not be read ({exc})"))
            continue
        target = dest / c.notebook
        try:
            action = _store(c, data, dest, target, when, when_text, label, stats, dry_run, out)
        except OSError as exc:  # this submission only (e.g. submitted/<student> is a file)
            stats["errors"].append(label)
            print(f"error  {label}: not written ({exc.strerror or exc}: {exc.filename or target})", file=out)
            continue
        if action is None:
            continue
        stats[action].append(label)
        extra = ""
        if action == "replaced":
            extra = " (older existing submission replaced; regrade it with grade --force)"
        print(f"{action}  {label}  <- {c.entry.path} ({when_text}){extra}", file=out)

    for path, reason in skipped:
        print(f"skipped  {path}: {reason}", file=out)
    return stats


def _store(c: Candidate, data: bytes, dest: Path, target: Path, when, when_text: str, label: str,
           stats: dict, dry_run: bool, out) -> str | None:
    """Write one chosen submission unless an existing one is newer; the action taken (None: kept)."""
    action = "collected"
    if target.exists():
        before = existing_timestamp(dest)
        if before is not None and (when is None or when < before):
            stats["kept"].append(label)
            print(f"kept the newer existing one  {label}: existing {format_timestamp(before)}, "
                  f"{c.entry.path} is from {when_text}", file=out)
            return None
        if before is not None and when == before:
            if target.read_bytes() == data:
                stats["unchanged"].append(label)
                print(f"unchanged  {label} ({when_text})", file=out)
            else:
                stats["kept"].append(label)
                print(f"kept the existing one  {label}: {c.entry.path} has the same timestamp "
                      f"({when_text}) but different content", file=out)
            return None
        action = "replaced"
    if not dry_run:
        dest.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        if when is not None:
            (dest / "timestamp.txt").write_text(format_timestamp(when) + "\n")
    return action


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
    except CollectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("collect: nothing collected", file=sys.stderr)
        return 1
    used = len(stats["collected"]) + len(stats["replaced"]) + len(stats["kept"]) + len(stats["unchanged"])
    used_keys = ("collected", "replaced", "kept", "unchanged")
    students = {label.split("/")[0] for key in used_keys for label in stats[key]}
    print(f"collect: {len(stats['collected'])} new, {len(stats['replaced'])} replaced, "
          f"{len(stats['kept'])} kept the existing one, {len(stats['unchanged'])} unchanged, "
          f"{len(stats['skipped'])} skipped (listed above); {len(students)} students"
          + (f"; {len(stats['errors'])} NOT WRITTEN (errors above)" if stats["errors"] else "")
          + (" [dry run: nothing written]" if args.dry_run else ""))
    if stats["errors"]:
        return 1
    if used == 0:
        print("collect: no usable submission found in " + str(args.source), file=sys.stderr)
        return 1
    return 0

