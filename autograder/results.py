"""Our verdicts, stored next to nbgrader's tables in the gradebook database (SQLAlchemy Core).

Two tables, created on demand: `chainrule_submission` (one row per assignment and student: graded or
ungraded and why) and `chainrule_result` (one row per exercise or manual cell: score, the diagnosed
mistake and the student-facing message). Works with any SQLAlchemy URL (sqlite by default).
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from autograder.course import CourseError

_META = sa.MetaData()


class GradebookError(CourseError):
    """The gradebook database cannot be opened or used (one line, password hidden)."""


def gradebook_problem(db_url: str, exc: BaseException) -> str:
    """One line saying which gradebook failed and why (the URL's password is never shown)."""
    try:
        shown = sa.engine.make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL: show only its scheme
        shown = db_url.split(":", 1)[0] + ":..."
    orig = getattr(exc, "orig", None) or exc
    why = " ".join(str(orig).split()) or type(orig).__name__
    if isinstance(exc, ImportError):
        why = f"the database driver is not installed ({why})"
    return f"gradebook {shown} cannot be used: {why[:200]}"

SUBMISSIONS = sa.Table(
    "chainrule_submission",
    _META,
    sa.Column("assignment", sa.String(128), primary_key=True),
    sa.Column("student", sa.String(128), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("max_score", sa.Float, nullable=False),
    sa.Column("graded_at", sa.String(40), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("timestamp", sa.String(64), nullable=True),
)

RESULTS = sa.Table(
    "chainrule_result",
    _META,
    sa.Column("assignment", sa.String(128), primary_key=True),
    sa.Column("student", sa.String(128), primary_key=True),
    sa.Column("notebook", sa.String(128), primary_key=True),
    sa.Column("grade_id", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("max_score", sa.Float, nullable=False),
    sa.Column("mistake", sa.String(128), nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Column("position", sa.Integer, nullable=False, default=0),
)


@contextlib.contextmanager
def _schema_lock(engine):
    """Hold PostgreSQL's advisory lock while tables are created: two graders starting on a new database
    at once would otherwise both create nbgrader's tables and one would fail. SQLite serialises this
    with its own file lock (nothing to do)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            conn.commit()


_SCHEMA_LOCK_KEY = 0x6368_6169_6E72  # "chainr": any constant shared by every grader of this project


def _create_nbgrader_tables(db_url: str) -> None:
    try:
        from autograder.nbgrader_api import _alembic_on_path

        _alembic_on_path()
        from nbgrader.api import Gradebook
    except ImportError:  # nbgrader is optional for reading and writing our own tables
        return
    Gradebook(db_url).close()


@dataclass
class SubmissionRow:
    assignment: str
    student: str
    status: str                  # "graded" | "ungraded"
    reason: str | None
    score: float | None
    max_score: float
    graded_at: str               # ISO 8601, UTC
    duration_s: float | None
    timestamp: str | None        # the submission's timestamp.txt, if any


@dataclass
class ResultRow:
    assignment: str
    student: str
    notebook: str
    grade_id: str
    kind: str                    # "auto" | "manual"
    score: float | None          # None for a manual cell until hand-graded
    max_score: float
    mistake: str | None          # diagnosis kind or catalogue id; None when correct
    message: str | None          # student-facing
    detail: dict = field(default_factory=dict)


# Columns whose text a submission can write (reasons, messages, its timestamp.txt): stored clean, as one
# line without escape sequences or control characters (autograder.textclean).
_FREE_TEXT = ("reason", "message", "mistake", "timestamp")


def _storable(row: dict) -> dict:
    """`row` with text a database can hold: lone surrogates and NUL (student text) replaced; free text
    cleaned (textclean.clean) so that no terminal, CSV or page that shows it later can be driven by it."""
    from autograder.textclean import clean

    out = {}
    for k, v in row.items():
        if isinstance(v, str):
            v = clean(v) if k in _FREE_TEXT else v.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
        out[k] = v
    return out


def _clean_detail(value):
    """A verdict's detail (JSON) with every string in it cleaned, keys included."""
    from autograder.textclean import clean

    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(k) if isinstance(k, str) else k: _clean_detail(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_detail(v) for v in value]
    return value


class ResultsStore:
    """Read and write verdicts; tables are created on first use."""

    def __init__(self, db_url: str):
        self.db_url = db_url
        kwargs = {"connect_args": {"timeout": 60}} if db_url.startswith("sqlite") else {"pool_pre_ping": True}
        try:
            self.engine = sa.create_engine(db_url, **kwargs)
            with _schema_lock(self.engine):
                if not sa.inspect(self.engine).get_table_names():
                    _create_nbgrader_tables(db_url)  # nbgrader stamps a new database only when it is empty
                try:
                    _META.create_all(self.engine)
                except sa.exc.OperationalError:  # sqlite: another process created them since we looked
                    _META.create_all(self.engine)
        except (sa.exc.SQLAlchemyError, ImportError) as exc:
            raise GradebookError(gradebook_problem(db_url, exc)) from None

    def record(self, submission: SubmissionRow, results: list[ResultRow]) -> None:
        """Replace the verdict of (assignment, student) by this one, in one transaction."""
        key = (submission.assignment, submission.student)
        for r in results:
            if (r.assignment, r.student) != key:
                raise ValueError(f"result {r.grade_id} belongs to {r.assignment}/{r.student}, not {key}")
        with self.engine.begin() as conn:
            for table in (RESULTS, SUBMISSIONS):
                conn.execute(sa.delete(table).where(table.c.assignment == key[0], table.c.student == key[1]))
            conn.execute(sa.insert(SUBMISSIONS), [_storable(vars(submission))])
            if results:
                rows = []
                for i, r in enumerate(results):
                    row = dict(vars(r))
                    row["detail"] = json.dumps(_clean_detail(r.detail), default=str)
                    row["position"] = i
                    rows.append(_storable(row))
                conn.execute(sa.insert(RESULTS), rows)

    def submissions(self, assignment: str | None = None) -> list[SubmissionRow]:
        q = sa.select(SUBMISSIONS).order_by(SUBMISSIONS.c.assignment, SUBMISSIONS.c.student)
        if assignment is not None:
            q = q.where(SUBMISSIONS.c.assignment == assignment)
        with self.engine.connect() as conn:
            return [SubmissionRow(**row._asdict()) for row in conn.execute(q)]

    def results(self, assignment: str | None = None, student: str | None = None) -> list[ResultRow]:
        """Rows in (assignment, student, notebook order) order."""
        q = sa.select(RESULTS).order_by(RESULTS.c.assignment, RESULTS.c.student, RESULTS.c.position)
        if assignment is not None:
            q = q.where(RESULTS.c.assignment == assignment)
        if student is not None:
            q = q.where(RESULTS.c.student == student)
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                d = row._asdict()
                d.pop("position", None)
                try:
                    d["detail"] = json.loads(d["detail"] or "{}")
                except ValueError:
                    d["detail"] = {}
                out.append(ResultRow(**d))
        return out

    def graded_keys(self) -> set[tuple[str, str]]:
        """(assignment, student) pairs that have a stored verdict (graded or ungraded)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(SUBMISSIONS.c.assignment, SUBMISSIONS.c.student))
            return {(a, s) for a, s in rows}

    def close(self) -> None:
        self.engine.dispose()
