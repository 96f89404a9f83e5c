"""nbgrader's exchange on one machine (a JupyterHub): publish student copies, collect, return feedback.

Layout (nbgrader's default exchange; `Exchange.root` comes from the nbgrader_config.py files on the
Jupyter config path, as for nbgrader's own commands, e.g. the hub's deploy/hub/roles/common/):

    <root>/                        root's, 1777: anyone may add a course folder, only its owner may
                                   rename or delete it (sticky bit)
      <course_id>/                 the instructor's, 0755
        outbound/<assignment>/     student copies, 0755 / 0644: every account may fetch them
        inbound/                   0733 + setgid (+ sticky, added here): a student can add a submission
                                   folder, cannot list the others', nor rename or delete one
          <student>+<assignment>+<timestamp>+<random>/      one submission
        feedback/                  0711: a page is fetched by its name, md5(submission secret, notebook)

Identity comes from the file system, never from a name: a submission belongs to the account that owns
its folder. The `<student>` in the folder's name is whatever the student's nbgrader wrote (`nbgrader
submit --student someone_else` writes any name); a folder whose name claims someone else is collected
as its owner's, and the mismatch is reported. Inside the folder only regular files owned by that same
account are read (no symbolic link to another student's work, no FIFO, no file a third account put
there), through a descriptor of the folder, so renaming things while the collect runs changes nothing.
Every entry that is not used is listed with the reason. The submission time is the one nbgrader's submit
wrote (timestamp.txt, else the folder's name): like the name, it comes from the student's own process.

`PrivateSubmit` is the students' side (deploy/hub/roles/student/nbgrader_config.py): nbgrader's submit
leaves the folder 0777 and its files 0644, readable by any account that learns the folder's name; this
narrows them to the owner and the inbound folder's group (the instructor's own group).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import os
import pwd
import re
import shutil
import stat
import sys
from pathlib import Path

from nbgrader.exchange.default.submit import ExchangeSubmit

from autograder.course import Course, CourseError

_SECRET = re.compile(r"[0-9a-f]{16,256}")  # nbgrader writes secrets.token_hex(64), no newline
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.IGNORECASE | re.DOTALL)


@dataclasses.dataclass(frozen=True)
class Exchange:
    root: Path
    course_id: str

    @property
    def outbound(self) -> Path:
        return self.root / self.course_id / "outbound"

    @property
    def inbound(self) -> Path:
        return self.root / self.course_id / "inbound"

    @property
    def feedback(self) -> Path:
        return self.root / self.course_id / "feedback"


def nbgrader_config(course: Course):
    """nbgrader's configuration as its own commands see it (nbgrader_config.py on the Jupyter config
    path, lowest priority first), with the course's nbgrader_config.py on top."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.nbgrader_api import course_config

    cfg = Config()
    for folder in reversed(jupyter_config_path()):
        if os.path.isfile(os.path.join(folder, "nbgrader_config.py")):
            try:
                cfg.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
            except Exception as exc:
                raise CourseError(f"{folder}/nbgrader_config.py: {type(exc).__name__}: {exc}") from None
    cfg.merge(course_config(course))
    return cfg


def open_exchange(course: Course, cfg=None) -> Exchange:
    from nbgrader.exchange.default import Exchange as NbExchange

    cfg = cfg or nbgrader_config(course)
    course_id = cfg.CourseDirectory.get("course_id", "")
    if not isinstance(course_id, str) or not course_id:
        raise CourseError("the exchange needs CourseDirectory.course_id in nbgrader_config.py")
    root = Path(NbExchange(config=cfg).root)
    if not root.is_dir():
        raise CourseError(f"no exchange at {root} (create it as root: mkdir -p {root} && chmod 1777 {root}; "
                          "or set Exchange.root in nbgrader_config.py)")
    return Exchange(root, course_id)


# ---------------------------------------------------------------------------------------------------
# release

def publish(course: Course, assignment: str) -> Path:
    """Copy release/<assignment>/ to the exchange's outbound with nbgrader's own release (its layout and
    permissions), then make inbound sticky. Returns the outbound folder."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError
    from nbgrader.exchange.default import ExchangeReleaseAssignment

    cfg = nbgrader_config(course)
    ex = open_exchange(course, cfg)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = assignment
    releaser = ExchangeReleaseAssignment(coursedir=coursedir, authenticator=Authenticator(config=cfg),
                                         config=cfg)
    releaser.force = True
    releaser.log.setLevel("ERROR")
    try:
        releaser.start()
    except ExchangeError as exc:
        raise CourseError(f"{assignment}: not published to the exchange: {exc}") from None
    mode = ex.inbound.stat().st_mode
    if not mode & stat.S_ISVTX:
        os.chmod(ex.inbound, stat.S_IMODE(mode) | stat.S_ISVTX)
    return ex.outbound / assignment


# ---------------------------------------------------------------------------------------------------
# collect

@dataclasses.dataclass
class Submission:
    folder: str            # its name in inbound/
    uid: int
    student: str           # the owner's account name
    claimed: str           # the name the folder's name gives
    assignment: str
    timestamp: dt.datetime | None


def _open_below(dir_fd: int, name: str, flags: int) -> int:
    return os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)


def _read_own_file(dir_fd: int, name: str, uid: int, max_size: int) -> bytes | str:
    """The bytes of dir/name if it is a regular file owned by uid and at most max_size; else why not."""
    try:
        fd = _open_below(dir_fd, name, os.O_RDONLY)
    except OSError as exc:
        return "a symbolic link (not followed)" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_uid != uid:
            return f"owned by {_account(st.st_uid)}, not by the submitting account"
        if st.st_size > max_size:
            return f"larger than {max_size / 1e6:.0f} MB"
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(max_size + 1)[:max_size]
    finally:
        os.close(fd)


def _account(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _timestamp(dir_fd: int, sub: Submission, name_part: str) -> dt.datetime | None:
    from autograder.submissions import parse_timestamp

    raw = _read_own_file(dir_fd, "timestamp.txt", sub.uid, 200)
    if isinstance(raw, bytes):
        when = parse_timestamp(raw.decode("utf-8", "replace"))
        if when is not None:
            return when
    return parse_timestamp(name_part)


def scan_inbound(ex: Exchange, assignments: set[str], skipped: list[tuple[str, str]]) -> list[Submission]:
    """Every submission folder of inbound/ with its owner; what is not one goes to `skipped`."""
    from autograder.accounts import safe_student_id

    if not os.access(ex.inbound, os.R_OK | os.X_OK):
        raise CourseError(f"cannot list {ex.inbound}: collect as the account that released the assignments")
    found = []
    inbound_fd = os.open(ex.inbound, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in sorted(os.listdir(inbound_fd)):
            st = os.stat(name, dir_fd=inbound_fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                skipped.append((name, "not a submission folder"))
                continue
            parts = name.rsplit("+", 3)
            if len(parts) < 3:
                skipped.append((name, "not named <student>+<assignment>+<timestamp> as nbgrader names them"))
                continue
            owner = _account(st.st_uid)
            if owner.startswith("uid ") or st.st_uid == 0:
                skipped.append((name, f"owned by {owner}, not by a student's account"))
                continue
            if safe_student_id(owner) != owner:
                skipped.append((name, f"account name {owner!r} is not usable as a folder name"))
                continue
            claimed, assignment = parts[0], parts[1]
            if assignment not in assignments:
                skipped.append((name, f"{assignment!r} is not an assignment of the course"))
                continue
            sub = Submission(name, st.st_uid, owner, claimed, assignment, None)
            try:
                fd = _open_below(inbound_fd, name, os.O_RDONLY | os.O_DIRECTORY)
            except OSError as exc:
                skipped.append((name, f"unreadable ({exc.strerror})"))
                continue
            try:
                sub.timestamp = _timestamp(fd, sub, parts[2])
            finally:
                os.close(fd)
            found.append(sub)
    finally:
        os.close(inbound_fd)
    return found


def newest(submissions: list[Submission], skipped: list[tuple[str, str]]) -> dict[tuple[str, str], Submission]:
    """One submission per (student, assignment): the latest by its timestamp."""
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    chosen: dict[tuple[str, str], Submission] = {}
    for sub in sorted(submissions, key=lambda s: (s.timestamp or oldest, s.folder)):
        key = (sub.student, sub.assignment)
        if key in chosen:
            skipped.append((chosen[key].folder, f"superseded by the newer {sub.folder}"))
        chosen[key] = sub
    return chosen


def _read_submission(ex: Exchange, sub: Submission, notebooks: list[str], max_file: int,
                     skipped: list[tuple[str, str]]) -> dict[str, bytes]:
    """{file name: bytes} of the submission's notebooks (and submission secret); the rest is listed."""
    files: dict[str, bytes] = {}
    inbound_fd = os.open(ex.inbound, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _open_below(inbound_fd, sub.folder, os.O_RDONLY | os.O_DIRECTORY)
    finally:
        os.close(inbound_fd)
    try:
        if os.fstat(fd).st_uid != sub.uid:
            skipped.append((sub.folder, "its owner changed during the collect"))
            return {}
        for name in sorted(os.listdir(fd)):
            where = f"{sub.folder}/{name}"
            if name == "timestamp.txt":
                continue
            if name not in notebooks and name != "submission_secret.txt":
                if not name.startswith("."):
                    skipped.append((where, f"not a notebook of {sub.assignment}"))
                continue
            data = _read_own_file(fd, name, sub.uid, max_file)
            if isinstance(data, str):
                skipped.append((where, data))
            elif name == "submission_secret.txt" and not _SECRET.fullmatch(data.decode("ascii", "replace")):
                skipped.append((where, "not a submission secret as nbgrader writes it"))
            else:
                files[name] = data
    finally:
        os.close(fd)
    return files


def _store(dest: Path, files: dict[str, bytes], when: dt.datetime | None) -> None:
    """Replace dest/ by exactly these files (a new folder swapped in: no mix of two submissions)."""
    from autograder.submissions import format_timestamp

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    old = dest.with_name(f".{dest.name}.old")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir()
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    if when is not None:
        (tmp / "timestamp.txt").write_text(format_timestamp(when) + "\n")
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def _same_file(path: Path, data: bytes) -> bool:
    """Whether the regular file `path` (never followed if a symlink) holds exactly `data`."""
    from autograder.safe_open import read_bytes

    try:
        return read_bytes(path, len(data) + 1) == data
    except OSError:
        return False


def collect(course: Course, *, max_file: int, dry_run: bool = False, out=None) -> dict:
    """Take the newest exchange submission of each student and assignment into submitted/<owner>/<a>/."""
    from autograder import submissions
    from autograder.submissions import format_timestamp

    out = out or sys.stdout
    ex = open_exchange(course)
    notebooks = {a: [p.name for p in course.source_notebooks(a)] for a in course.assignments()}
    skipped: list[tuple[str, str]] = []
    subs = scan_inbound(ex, set(notebooks), skipped)
    stats: dict[str, list] = {"collected": [], "replaced": [], "kept": [], "unchanged": [], "skipped": skipped}
    for (student, assignment), sub in sorted(newest(subs, skipped).items()):
        label = f"{student}/{assignment}"
        when_text = format_timestamp(sub.timestamp) if sub.timestamp else "no timestamp"
        if sub.claimed != student:
            print(f"note  {sub.folder}: its name says {sub.claimed!r} but {student!r} owns it; "
                  f"collected as {student}'s", file=out)
        files = _read_submission(ex, sub, notebooks[assignment], max_file, skipped)
        if not any(name.endswith(".ipynb") for name in files):
            skipped.append((sub.folder, f"none of the notebooks of {assignment} is in it"))
            continue
        dest = course.submitted / student / assignment
        stems = [Path(n).stem for n in notebooks[assignment]]
        action = "collected"
        if submissions.has_notebook(dest, stems):   # "newer" as every collect decides it (submissions)
            before = submissions.version_time(dest, stems)
            same = all(_same_file(dest / n, d) for n, d in files.items())
            if before is not None and not submissions.is_newer(sub.timestamp, before) and sub.timestamp != before:
                stats["kept"].append(label)
                print(f"kept the newer existing one  {label}: existing {format_timestamp(before)}, "
                      f"{sub.folder} is from {when_text}", file=out)
                continue
            if before == sub.timestamp and same:
                stats["unchanged"].append(label)
                print(f"unchanged  {label} ({when_text})", file=out)
                continue
            action = "replaced"
        if not dry_run:
            _store(dest, files, sub.timestamp)
        stats[action].append(label)
        extra = " (older submission replaced; the next `grade` grades it without --force)" if action == "replaced" else ""
        print(f"{action}  {label}  <- exchange {sub.folder} ({when_text}){extra}", file=out)
    for path, reason in skipped:
        print(f"skipped  {path}: {reason}", file=out)
    return stats


def run_collect(args) -> int:
    """`collect --exchange`."""
    course = Course.open(args.course, args.db)
    stats = collect(course, max_file=int(args.max_file_mb * 1_000_000), dry_run=args.dry_run)
    used = sum(len(stats[k]) for k in ("collected", "replaced", "kept", "unchanged"))
    print(f"collect --exchange: {len(stats['collected'])} new, {len(stats['replaced'])} replaced, "
          f"{len(stats['kept'])} kept the existing one, {len(stats['unchanged'])} unchanged, "
          f"{len(stats['skipped'])} skipped (listed above)" + (" [dry run: nothing written]" if args.dry_run else ""))
    return 0 if used else 1


# ---------------------------------------------------------------------------------------------------
# feedback

def standalone(page: str) -> str:
    """A feedback page as one file: without its scripts (MathJax), whose relative _static/ does not
    travel with it; math shows as TeX source."""
    return _SCRIPT.sub("", page)


def return_feedback(course: Course, written: list[tuple[str, str, Path]], out=None) -> int:
    """Put each written page where the student's `fetch_feedback` looks: feedback/<md5(secret, notebook)>.html,
    one per notebook of the collected submission. Returns how many pages could not be returned."""
    from nbgrader.utils import notebook_hash

    out = out or sys.stdout
    ex = open_exchange(course)
    if not ex.feedback.is_dir():
        ex.feedback.mkdir()
        os.chmod(ex.feedback, 0o711)  # nbgrader's mode: nobody can list the pages
    elif ex.feedback.stat().st_uid != os.geteuid():
        raise CourseError(f"{ex.feedback} is not yours: return feedback as the account that released")
    returned, missing = set(), []
    for student, assignment, page in written:
        sub = course.submitted / student / assignment
        secret_file = sub / "submission_secret.txt"
        if not secret_file.is_file():
            missing.append(f"{student}/{assignment}: not collected from the exchange (no submission secret)")
            continue
        secret = secret_file.read_text("ascii", "replace")
        html = standalone(page.read_text(encoding="utf-8"))
        for notebook in sorted(p.stem for p in sub.glob("*.ipynb")):
            target = ex.feedback / f"{notebook_hash(secret=secret, notebook_id=notebook)}.html"
            tmp = target.with_name(f".{target.name}.part")
            tmp.write_text(html, encoding="utf-8")
            os.chmod(tmp, 0o644)
            tmp.replace(target)
        returned.add((student, assignment))
    for line in missing:
        print(f"feedback --exchange: not returned {line}", file=out)
    print(f"feedback --exchange: {len(returned)} pages returned through {ex.feedback} "
          f"(students run Fetch Feedback)", file=out)
    return len(missing)


# ---------------------------------------------------------------------------------------------------
# the students' side

class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, then the submission made private to its owner and the instructor's group.

    nbgrader leaves it 0777 with 0644 files, hidden only by its unlisted random name; an account that
    learns the name could read or change it. The inbound folder is setgid, so the submission's group is
    the instructor's own group: 0770 / 0640 keep it readable and removable for the instructor only."""

    def do_copy(self, src, dest, log=None):
        super().do_copy(src, dest, log)
        if os.path.dirname(os.path.abspath(dest)) != os.path.abspath(self.inbound_path):
            return
        # copytree gave the folder the mode of the student's own, without the setgid bit it had from
        # inbound, so the timestamp and secret nbgrader writes next would get the student's group and
        # be unreadable to the instructor. A folder made afresh in inbound has the bit: move into it.
        fresh = f"{dest}.part"
        os.mkdir(fresh)
        for name in os.listdir(dest):
            os.rename(os.path.join(dest, name), os.path.join(fresh, name))
        os.rmdir(dest)
        os.rename(fresh, dest)

    def copy_files(self):
        super().copy_files()
        dest = os.path.join(self.inbound_path, self.assignment_filename)
        for dirpath, _dirnames, filenames in os.walk(dest):
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o640)
            os.chmod(dirpath, 0o770)
