"""Where things are in an nbgrader course folder, and which assignments it has.

Layout (nbgrader's): <course>/nbgrader_config.py, source/<a>/<a>.ipynb, release/<a>/<a>.ipynb,
submitted/<student>/<a>/<a>.ipynb, autograded/..., feedback/...; plus ours: reports/, exports/.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class CourseError(Exception):
    """A problem with the course folder, reported to the user as one line."""


def find_course(course: str | os.PathLike | None) -> Path:
    """The course root: `course` if given, else ./course, else . when it holds nbgrader_config.py."""
    candidates = [Path(course)] if course else [Path("course"), Path(".")]
    for c in candidates:
        if (c / "nbgrader_config.py").is_file():
            return c.resolve()
    if course:  # the folder was named: say what is wrong with it
        if not Path(course).exists():
            raise CourseError(f"--course {course}: no such folder")
        if not Path(course).is_dir():
            raise CourseError(f"--course {course}: not a folder")
        raise CourseError(f"--course {course}: not an nbgrader course (it has no nbgrader_config.py; a course "
                          "folder holds nbgrader_config.py and source/<assignment>/<assignment>.ipynb)")
    where = ", ".join(str(c) for c in candidates)
    raise CourseError(f"no nbgrader course found (looked for nbgrader_config.py in {where}); pass --course DIR")


@dataclass(frozen=True)
class Course:
    root: Path
    db_url: str | None = None

    @classmethod
    def open(cls, course: str | os.PathLike | None = None, db_url: str | None = None) -> Course:
        return cls(find_course(course), db_url)

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def release(self) -> Path:
        return self.root / "release"

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"

    @property
    def autograded(self) -> Path:
        return self.root / "autograded"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def gradebook_url(self) -> str:
        """--db URL if given, else $CHAINRULE_DB_URL, else <course>/gradebook.db (sqlite)."""
        return self.db_url or os.environ.get("CHAINRULE_DB_URL") or f"sqlite:///{self.root / 'gradebook.db'}"

    def assignments(self) -> list[str]:
        """Assignment names found in source/, in teaching (sorted) order."""
        if not self.source.is_dir():
            raise CourseError(f"{self.source} does not exist")
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def resolve_assignments(self, names: list[str] | None) -> list[str]:
        """`names` checked against source/ (all assignments when empty)."""
        known = self.assignments()
        if not names:
            return known
        # a tab-completed folder (`source/01_tiny/`) names its assignment
        names = [Path(n).name if n not in known and Path(n).name in known else n for n in names]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise CourseError(f"unknown assignment(s) {', '.join(unknown)}; the course has: {', '.join(known)}")
        return list(names)

    def source_notebooks(self, assignment: str) -> list[Path]:
        return sorted((self.source / assignment).glob("*.ipynb"))

    def release_notebooks(self, assignment: str) -> list[Path]:
        return sorted((self.release / assignment).glob("*.ipynb"))

    def students(self) -> list[str]:
        """Students with a folder in submitted/, sorted."""
        if not self.submitted.is_dir():
            return []
        return sorted(p.name for p in self.submitted.iterdir() if p.is_dir() and not p.name.startswith("."))
