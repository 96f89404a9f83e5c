"""Whose file it is and which notebook, read from the structure an LMS writes, never from a name a
student chose.

Accepted forms (a wrapping folder above any of them is fine; the outermost structure wins):
- nbgrader's tree: `<student>/<assignment>/<notebook>.ipynb`, optional `timestamp.txt` beside it
  (what the exchange writes). The student is the folder; only a direct child named exactly as a
  notebook of that assignment (or with a resubmission counter, `-1`, `_2`, ` (3)`) is collected.
  Its timestamp.txt dates only its own folder: a false one can only make that student's own later
  work look older.
- Moodle "Download all submissions", one account folder per participant (the default since 3.1):
  `<Full Name>_<participant number>_assignsubmission_file[_]/<any path>/<file>.ipynb` (Moodle 4's
  downloader drops the last `_`), or the flat form
  `<Full Name>_<participant number>_assignsubmission_file_<file>.ipynb`. Moodle writes the name with
  every `_` turned into a space, so the first `_<digits>_assignsubmission_<plugin>` is its own. A team
  submission's folder is `<group name>_<group id>_...`, blind marking's `Participant_<number>_...`.
  The participant number is Moodle's per-assignment alias of the account: the same person has another
  number in another assignment, so across assignments the account is the full name (`Account.key`).
- Canvas "Download Submissions": `<login>[_LATE]_<user id>_<attachment id>_<file>.ipynb`, or
  `[LATE_]anon_<id>_...` when students are anonymised. Canvas removes `_<digits>_` from the login,
  so the first `_<digits>_` is the user id, which is the account; the login names the folder.
  (`<login>_<user id>_<file>` without an attachment id is read the same way.)
Not recognised: nbgrader's ZipCollect `FileNameCollectorPlugin` regex forms (e.g. Blackboard's
`<assignment>_<user>_attempt_<date>_<file>`): put such files in an nbgrader tree first.

What a student chose, the `<file>` part (and the folders under a Moodle account folder), only says
which notebook it is (its name ends with the notebook's name); it never says who submitted it or when.
The time of a file is the archive's own (zip member date, or the extracted file's mtime), or the
tree's timestamp.txt. nbgrader's own FileNameCollectorPlugin lets an instructor regex pick
`student_id` and `timestamp` out of the whole name, which is exactly what a student can forge.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from pathlib import PurePosixPath

from autograder.sources import Entry

_MOODLE = r"(?P<name>[^_/]+)_(?P<number>\d+)_assign(?:submission|feedback)_(?P<plugin>[a-z0-9]+)"
MOODLE_FOLDER = re.compile(_MOODLE + r"_?$", re.IGNORECASE)
MOODLE_FILE = re.compile(_MOODLE + r"_(?P<file>.+)$", re.IGNORECASE)
CANVAS_ANON = re.compile(r"(?:(?P<late>late)_)?(?P<uid>anon_[0-9a-z]+)_(?P<file>\d+_.+)$", re.IGNORECASE)
CANVAS_FILE = re.compile(r"(?P<name>[^/]+?)_(?:(?P<late>late)_)?(?P<uid>\d+)_(?P<file>.+)$", re.IGNORECASE)
# a resubmission counter added by an LMS or a browser: -1, _2, " (3)", +(1)
_COUNTER = re.compile(r"(?:[-_+ ]\(?|\()(\d{1,3})\)?$")
_CANVAS_ATTACHMENT = re.compile(r"^\d+[_ -]*")


def same_person_key(raw: str) -> str:
    """Texts that differ only in case or Unicode normal form (NFC/NFD zip names) are one name."""
    return unicodedata.normalize("NFC", raw).casefold()


@dataclasses.dataclass(frozen=True)
class Account:
    """Who submitted, as the collection channel knows it.

    lms: "nbgrader", "moodle" or "canvas"; key: the identity ("canvas:123", "moodle:<full name>",
    "nbgrader:<folder>"); name: as the channel wrote it (folder, full name, login); number: Moodle's
    participant number (per assignment) or Canvas's user id."""
    lms: str
    key: str
    name: str
    number: str = ""

    def describe(self) -> str:
        if self.lms == "canvas":
            return f"{self.name!r} (Canvas user {self.number})"
        if self.lms == "moodle":
            return f"{self.name!r} (Moodle participant {self.number})"
        return f"the folder {self.name!r}"


@dataclasses.dataclass
class Upload:
    """A file of SOURCE recognised as a notebook of the course, and whose it is."""
    entry: Entry
    account: Account
    assignment: str
    notebook: str            # file name to write, e.g. 02_jacobians.ipynb
    counter: int             # resubmission counter in the chosen name (0: none)
    extra: str               # what the student's chosen name holds besides the notebook's name
    when: dt.datetime | None
    student: str = ""        # folder in submitted/, decided by accounts.AccountFolders

    @property
    def exact(self) -> bool:
        return not self.extra


def norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _suffix(base: str, normed: str) -> str:
    """The trailing part of `base` whose normalised form is `normed`, starting at a word boundary."""
    for start in range(len(base) - 1, -1, -1):
        if norm(base[start:]) == normed and (start == 0 or not base[start - 1].isalnum()):
            return base[start:]
    return base


class Layouts:
    """Recognises whose file a path of SOURCE is, and which notebook of the course."""

    def __init__(self, notebooks: dict[str, list[str]]):
        self.assignments = set(notebooks)
        self.by_norm: dict[str, tuple[str, str]] = {}   # normalised stem -> (assignment, stem)
        for assignment, stems in notebooks.items():
            for stem in stems:
                self.by_norm[norm(stem)] = (assignment, stem)
        self.norms = sorted(self.by_norm, key=len, reverse=True)  # longest first for suffix matching

    def expected(self) -> str:
        return ", ".join(sorted(f"{stem}.ipynb" for _, stem in self.by_norm.values()))

    def recognise(self, entry: Entry, timestamps: dict[str, dt.datetime]) -> Upload | str:
        """An Upload, or the reason (one sentence) why `entry` is not a usable submission."""
        parts = PurePosixPath(entry.path).parts
        name = parts[-1]
        if not name.lower().endswith(".ipynb"):
            return "not a notebook (.ipynb)"
        for i, part in enumerate(parts[:-1]):
            if m := MOODLE_FOLDER.match(part):
                account = Account("moodle", "moodle:" + same_person_key(m["name"]), m["name"], m["number"])
                inside = "/".join(parts[i + 1:-1])
                return self._named(entry, account, name, inside, entry.mtime)
            if i >= 1 and part in self.assignments:
                return self._tree(entry, parts, i, timestamps)
        if m := MOODLE_FILE.match(name):
            account = Account("moodle", "moodle:" + same_person_key(m["name"]), m["name"], m["number"])
            return self._named(entry, account, m["file"], "", entry.mtime)
        if m := CANVAS_ANON.match(name) or CANVAS_FILE.match(name):
            uid = m["uid"].lower()
            login = m.groupdict().get("name") or uid
            account = Account("canvas", "canvas:" + uid, login, uid)
            return self._named(entry, account, m["file"], "", entry.mtime, canvas=True)
        return (f"no student account in its path; expected nbgrader's <student>/<assignment>/ folders, "
                f"Moodle account folders or Canvas file names, holding {self.expected()}")

    def _tree(self, entry: Entry, parts, i: int, timestamps) -> Upload | str:
        student, assignment = parts[i - 1], parts[i]
        if i != len(parts) - 2:
            return (f"inside a subfolder of {student}/{assignment}/, where nbgrader's layout has the "
                    "notebooks themselves; not collected")
        stem = parts[-1][: -len(".ipynb")]
        for base, counter in self._readings(stem):
            hit = self.by_norm.get(norm(base))
            if hit is not None and hit[0] == assignment:
                account = Account("nbgrader", "nbgrader:" + same_person_key(student), student)
                folder = str(PurePosixPath(*parts[:-1]))
                return Upload(entry, account, assignment, hit[1] + ".ipynb", counter, "",
                              timestamps.get(folder) or entry.mtime)
        return (f"not a notebook of assignment {assignment}: in nbgrader's layout {student}/{assignment}/ "
                f"holds {', '.join(sorted(s + '.ipynb' for a, s in self.by_norm.values() if a == assignment))}")

    def _named(self, entry: Entry, account: Account, chosen: str, inside: str, when,
               canvas: bool = False) -> Upload | str:
        """An upload of `account` whose student-chosen file name is `chosen` (in subfolders `inside`)."""
        stem = chosen[: -len(".ipynb")]
        for base, counter in self._readings(stem):
            nbase = norm(base)
            for normed in self.norms:
                if nbase == normed or nbase.endswith("_" + normed):
                    assignment, real = self.by_norm[normed]
                    extra = base[: len(base) - len(_suffix(base, normed))].strip(" _-.")
                    if canvas:  # Canvas writes the attachment id first: not the student's choice
                        extra = _CANVAS_ATTACHMENT.sub("", extra)
                    extra = "/".join(x for x in (inside, extra) if x)
                    return Upload(entry, account, assignment, real + ".ipynb", counter, extra, when)
        return f"name matches no notebook of the course, which has {self.expected()}"

    @staticmethod
    def _readings(stem: str) -> list[tuple[str, int]]:
        """The stem as it is, and without a trailing resubmission counter (with that counter)."""
        readings = [(stem, 0)]
        m = _COUNTER.search(stem)
        if m and m.start() > 0:
            readings.append((stem[: m.start()], int(m.group(1))))
        return readings
