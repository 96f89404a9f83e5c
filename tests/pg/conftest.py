"""A real PostgreSQL server for the gradebook tests, started by the tests themselves.

`pg_server` (one per pytest process; the PG tests share the xdist group "pg" so they land on one
process): initdb + pg_ctl from Debian's PostgreSQL binaries (/usr/lib/postgresql/<v>/bin or PATH) in a
fresh folder under /tmp, listening on 127.0.0.1 at a free port and on a socket in that folder, trust
authentication (loopback only). initdb and the server refuse to run as root: as root they run as the
`postgres` user (or `nobody`) through runuser. Stopped (fast) and removed at the end. Skips when no
binaries are installed (.ci/run installs Debian's `postgresql` package).

`pg_url`: a new empty database on that server for each test, as a bare postgresql:// URL (what an
instructor writes; the course normalises it to postgresql+psycopg://).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograder"))  # test_pipe_fixture


def _bindir() -> Path | None:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return Path(d)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _user() -> str | None:
    """Who runs the server: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("running as root and there is no unprivileged user to run PostgreSQL as")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, bindir: Path, user: str | None):
        self.bindir, self.user = bindir, user
        self.home = Path(tempfile.mkdtemp(prefix="chainrule-pg-"))
        self.data = self.home / "data"
        self.port = _free_port()
        if user:
            os.chown(self.home, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)

    def _run(self, *args: str, check=True, timeout=120):
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout, cwd=self.home)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "--auth=trust", "--username=postgres", "-E", "UTF8",
                  "--no-sync")
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.home} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        proc = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.home / "server.log"), "-o", opts,
                         "-w", "-t", "60", "start", check=False)
        if proc.returncode != 0:
            log = (self.home / "server.log").read_text(errors="replace")[-2000:] if (
                self.home / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {proc.stderr}\n{log}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"gb_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False, timeout=60)
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)")
    pytest.importorskip("psycopg")
    server = PgServer(bindir, _user())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    return pg_server.url(pg_server.create_database())
