"""--db in the instructor's words: which URL forms work, which driver to install, never SQLAlchemy's
"Can't load plugin"; the password never printed; a race between two graders adding the same student."""
from __future__ import annotations

import socket
import sys

import pytest
from test_pipe_fixture import make_course

from autograder.__main__ import main
from autograder.course import Course, CourseError, database_url

pytestmark = pytest.mark.xdist_group("pg")


@pytest.fixture(autouse=True)
def _fresh_cache():
    database_url.cache_clear()
    yield
    database_url.cache_clear()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, says", [
    ("bogus://host/db", "unknown database kind 'bogus'"),
    ("not a url", "is not a database URL"),
    ("sqlite://", "in-memory database"),
    ("postgresql://secretuser:hunter2@127.0.0.1", "names no database"),
    ("postgresql+psycopg2://u:hunter2@127.0.0.1/db", "pip install psycopg2-binary"),
])
@pytest.mark.parametrize("command", ["grade", "export", "report", "release"])
def test_a_bad_db_says_which_forms_work_in_one_line(tmp_path, capsys, url, says, command):
    course = make_course(tmp_path, assignments=("02_small",))
    if url.startswith("postgresql+psycopg2") and _has("psycopg2"):
        pytest.skip("psycopg2 happens to be installed")
    assert main(["--course", str(course), "--db", url, command]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert says in err
    assert "sqlite:///path" in err or "pip install" in err
    assert "Can't load plugin" not in err and "sqlalchemy" not in err.lower()
    assert "hunter2" not in err
    assert not (course / "gradebook.db").exists()


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_a_missing_psycopg_names_the_package_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)   # import psycopg -> ImportError
    course = make_course(tmp_path, assignments=("02_small",))
    assert main(["--course", str(course), "--db", "postgresql://u:pw@127.0.0.1/db", "export"]) == 2
    err = capsys.readouterr().err
    assert "driver 'psycopg' is not installed" in err and "pip install 'psycopg[binary]'" in err
    assert "No module named" not in err


def test_the_environment_variable_is_checked_the_same_way(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DB_URL", "bogus://x/y")
    course = make_course(tmp_path, assignments=("02_small",))
    with pytest.raises(CourseError, match=r"from \$CHAINRULE_DB_URL.*unknown database kind"):
        _ = Course.open(course).gradebook_url


def test_postgres_urls_all_mean_psycopg_3():
    for raw in ("postgresql://u:p@h:5433/db", "postgres://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"):
        assert database_url(raw) == "postgresql+psycopg://u:p@h:5433/db"
    assert database_url("sqlite:///x/gb.db") == "sqlite:///x/gb.db"
    assert database_url("postgresql://u:p%40ss@h/db") == "postgresql+psycopg://u:p%40ss@h/db"  # escaped @ kept


def test_a_server_that_is_not_there_is_one_line_without_the_password(tmp_path, capsys):
    course = make_course(tmp_path, assignments=("02_small",))
    url = f"postgresql://grader:hunter2@127.0.0.1:{_closed_port()}/gradebook"
    assert main(["--course", str(course), "--db", url, "export"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "cannot be used" in err and "grader:***@127.0.0.1" in err and "refused" in err.lower()
    assert "hunter2" not in err


@pytest.mark.slow
def test_a_student_another_grader_just_added_is_not_an_error(tmp_path, pg_url, monkeypatch):
    """Grader A looks the student up (absent), grader B adds them, A's insert fails: A must go on."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.nbgradebook import record_nbgrader

    course = make_course(tmp_path, assignments=("02_small",))
    assert main(["--course", str(course), "--db", pg_url, "release", "--quiet"]) == 0
    c = Course.open(course, pg_url)
    with Gradebook(c.gradebook_url) as gb:
        gb.add_student("ada")                                  # grader B
    real, calls = Gradebook.find_student, []

    def stale_lookup(self, student_id):
        calls.append(student_id)
        if len(calls) == 1:
            raise MissingEntry()                               # what A saw before B's commit
        return real(self, student_id)

    monkeypatch.setattr(Gradebook, "find_student", stale_lookup)
    record_nbgrader(c, "02_small", "ada", {"02_size": 2.0}, None)
    monkeypatch.undo()
    with Gradebook(c.gradebook_url) as gb:
        assert gb.find_submission("02_small", "ada").score == 2.0
        assert [s.id for s in gb.students] == ["ada"]
