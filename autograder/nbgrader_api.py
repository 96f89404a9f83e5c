"""nbgrader's Python API configured from the course's own nbgrader_config.py (and --db)."""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import sys

from traitlets import TraitError
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader


def _alembic_on_path() -> None:
    """nbgrader runs the `alembic` script (next to our Python) when it creates a gradebook; we also
    answer its question (the head revision) in-process, which saves a Python start-up per gradebook."""
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")
    import nbgrader.api

    if getattr(nbgrader.api.get_alembic_version, "__module__", "") != __name__:
        nbgrader.api.get_alembic_version = _alembic_head


@functools.lru_cache(maxsize=1)
def _alembic_head() -> str:
    """The head revision of nbgrader's migration scripts (what `alembic heads` prints)."""
    import nbgrader
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(nbgrader.__file__), "alembic"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _config_error(course, exc: BaseException):
    from autograder.course import CourseError

    where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
    why = " ".join(str(getattr(exc, "msg", None) or exc).split())[:200]
    return CourseError(f"{course.root / 'nbgrader_config.py'}{where}: {type(exc).__name__}: {why}")


def course_config(course) -> Config:
    """The course's nbgrader config with root and gradebook URL taken from `course`."""
    loader = PyFileConfigLoader("nbgrader_config.py", path=str(course.root))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cfg = loader.load_config()
    except Exception as exc:  # a syntax or runtime error in the instructor's config file
        raise _config_error(course, exc) from None
    cfg.CourseDirectory.root = str(course.root)
    cfg.CourseDirectory.db_url = course.gradebook_url
    cfg.NbGraderAPI.log_level = logging.WARNING
    return cfg


def api(course):
    """An NbGraderAPI for the course (quiet)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    _alembic_on_path()
    cfg = course_config(course)
    try:
        coursedir = CourseDirectory(config=cfg)
        a = NbGraderAPI(coursedir=coursedir, config=cfg)
    except TraitError as exc:  # a setting of the wrong type in nbgrader_config.py
        raise _config_error(course, exc) from None
    a.log.setLevel(logging.WARNING)
    return a


def gradebook(course):
    """nbgrader's Gradebook on the course's database (use as a context manager)."""
    from nbgrader.api import Gradebook

    _alembic_on_path()
    course_id = course_config(course).CourseDirectory.course_id or "default_course"
    if not isinstance(course_id, str):
        raise _config_error(course, TypeError(f"course_id must be a string, not {course_id!r}"))
    return Gradebook(course.gradebook_url, course_id=course_id)
