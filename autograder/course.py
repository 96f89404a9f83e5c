"""Where things are in an nbgrader course folder, and which assignments it has.

Layout (nbgrader's): <course>/nbgrader_config.py, source/<a>/<a>.ipynb, release/<a>/<a>.ipynb,
submitted/<student>/<a>/<a>.ipynb, autograded/..., feedback/...; plus ours: reports/, exports/.
"""
from __future__ import annotations

import functools
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
        """--db URL if given, else $CHAINRULE_DB_URL, else <course>/gradebook.db (sqlite); checked and
        normalised by `database_url` (CourseError in the instructor's words when it cannot work)."""
        if self.db_url:
            return database_url(self.db_url, "--db")
        if os.environ.get("CHAINRULE_DB_URL"):
            return database_url(os.environ["CHAINRULE_DB_URL"], "$CHAINRULE_DB_URL")
        return f"sqlite:///{self.root / 'gradebook.db'}"

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


URL_FORMS = ("sqlite:///path/to/gradebook.db, postgresql://user:password@host:5432/dbname "
             "or postgresql+psycopg://user:password@host/dbname")
# Drivers we name when one is missing: (backend, driver) -> what to install.
_DRIVER_HINTS = {
    ("postgresql", "psycopg"): "pip install 'psycopg[binary]' (`make setup` installs it: chainrule[postgres])",
    ("postgresql", "psycopg2"): "pip install psycopg2-binary, or use postgresql+psycopg:// (installed by `make setup`)",
}


@functools.lru_cache(maxsize=32)
def database_url(raw: str, source: str = "--db") -> str:
    """The SQLAlchemy URL of a gradebook, or CourseError saying which forms work and what to install.

    Accepted: sqlite:///<file> (relative or absolute), postgresql://... and postgres://... (both mean
    PostgreSQL through psycopg 3, the driver `make setup` installs: written postgresql+psycopg:// so
    that SQLAlchemy and nbgrader pick the same driver whatever their defaults), and any other
    SQLAlchemy URL whose driver is installed (untested here). Refused with one line: text that is no
    URL, an unknown database kind (never SQLAlchemy's "Can't load plugin"), a missing driver (named,
    with the pip line), an in-memory sqlite database (every command would start from an empty one).
    The password is never shown."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    text = raw.strip()
    shown = _shown(text)
    where = f"gradebook URL {shown} (from {source})"
    try:
        url = make_url(text)
    except Exception:  # ArgumentError, ValueError: not a URL at all
        raise CourseError(f"{where} is not a database URL; use {URL_FORMS}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        url = url.set(drivername=f"postgresql+{driver or 'psycopg'}")
        backend, driver = "postgresql", driver or "psycopg"
        if not url.database:
            raise CourseError(f"{where} names no database; use {URL_FORMS}")
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise CourseError(f"{where} is an in-memory database, lost when the command ends; give a file: "
                          f"sqlite:///path/to/gradebook.db")
    try:
        dialect = url.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise CourseError(f"{where}: unknown database kind {url.drivername!r}; use {URL_FORMS}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        name = driver or dialect.driver
        hint = _DRIVER_HINTS.get((backend, name), f"install the {name!r} driver for {backend}")
        raise CourseError(f"{where}: its database driver {name!r} is not installed ({exc.name or exc}); "
                          f"{hint}") from None
    return url.render_as_string(hide_password=False)


def _shown(text: str) -> str:
    """A URL as it may be printed: the password replaced by ***, never anything after it echoed raw."""
    from sqlalchemy.engine import make_url

    try:
        return repr(make_url(text).render_as_string(hide_password=True))
    except Exception:
        return repr(text.split(":", 1)[0] + ":...") if ":" in text else repr(text[:60])
