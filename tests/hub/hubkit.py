"""A throwaway class hub for the tests: deploy/hub/hubctl.py on test ports, accounts with random names.

Everything it makes lives under one folder in /tmp (state, exchange, homes) and is removed by `remove()`:
the hub, its proxy and every process of its accounts are ended, the accounts deleted (userdel -r).
"""
from __future__ import annotations

import ast
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HUBDIR = REPO / "deploy" / "hub"
PROXY = HUBDIR / "node_modules" / ".bin" / "configurable-http-proxy"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PORTS = range(18600, 18990, 3)   # test-only: the hub's port and the next two (proxy API, hub API)

sys.path.insert(0, str(HUBDIR))
import hubctl  # noqa: E402


def cannot_run() -> str | None:
    """Why this machine cannot run a real hub test, or None."""
    if os.geteuid() != 0:
        return "needs root: the hub makes unix accounts and runs each student's server as that account"
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is missing: this machine cannot create or switch to unix accounts"
    if not os.path.exists(CHROMIUM):
        return f"chromium is not installed at {CHROMIUM} (tools/install_browser.sh installs it)"
    if not os.access(PROXY, os.X_OK):
        return f"configurable-http-proxy is not installed at {PROXY} (make hub-setup)"
    probe = subprocess.run(["runuser", "-u", "nobody", "--", "test", "-r", str(Path(sys.prefix) / "pyvenv.cfg")])
    if probe.returncode != 0:
        return (f"{sys.prefix} is not readable by other accounts (a parent folder lacks o+x), so the hub's "
                "accounts could not run this project's Python")
    return None


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_triple() -> int:
    for port in PORTS:
        if all(_free(port + i) for i in range(3)):
            return port
    raise RuntimeError(f"no three free ports in {PORTS.start}-{PORTS.stop + 1}")


@dataclass
class Hub:
    state: Path
    port: int
    instructor: str
    students: list[str]
    proc: subprocess.Popen | None = None
    passwords: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @classmethod
    def start(cls, n_students: int = 2, timeout: float = 300) -> Hub:
        tag = "crt" + secrets.token_hex(3)
        state = Path(tempfile.mkdtemp(prefix="chainrule-hubtest-"))
        os.chmod(state, 0o755)
        hub = cls(state, free_port_triple(), f"{tag}-i", [f"{tag}-{chr(97 + i)}" for i in range(n_students)])
        out = open(state / "hubctl.out", "wb")
        hub.proc = subprocess.Popen(
            [sys.executable, str(HUBDIR / "hubctl.py"), "start", "--state", str(state), "--port", str(hub.port),
             "--instructor", hub.instructor, "--students", ",".join(hub.students),
             "--home-base", str(state / "home"), "--timeout", str(timeout)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout + 60
        while time.monotonic() < deadline:
            if hub.proc.poll() is not None:
                break
            if b"hub ready at" in (state / "hubctl.out").read_bytes():
                private = state / "private"
                hub.passwords = json.loads((private / "accounts.json").read_text())
                hub.settings = json.loads((private / "settings.json").read_text())
                return hub
            time.sleep(0.5)
        log = hub.log_tail()
        hub.remove()
        raise RuntimeError(f"the hub did not start:\n{log}")

    def log_tail(self, n: int = 60) -> str:
        parts = []
        for path in (self.state / "hubctl.out", self.state / "private" / "jupyterhub.log"):
            if path.is_file():
                parts.append("\n".join(path.read_text(errors="replace").splitlines()[-n:]))
        return "\n----\n".join(parts)

    def keep_logs(self, folder: Path) -> None:
        for path in (self.state / "hubctl.out", self.state / "private" / "jupyterhub.log"):
            if path.is_file():
                shutil.copy(path, folder / path.name)

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def uids(self) -> set[int]:
        return set(hubctl._uids([self.instructor, *self.students]).values())

    def run_as(self, name: str, command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
        """`command` as account `name` with the environment its server's terminal has (PATH, config path)."""
        role = "instructor" if name == self.instructor else "student"
        roles = HUBDIR / "roles"
        env = {"PATH": f"{self.settings['python_bin']}:/usr/bin:/bin", "HOME": str(self.home(name)),
               "USER": name, "LANG": "C.UTF-8",
               "JUPYTER_CONFIG_PATH": f"{roles / role}:{roles / 'common'}",
               "CHAINRULE_EXCHANGE": self.settings["exchange"], "CHAINRULE_COURSE_ID": self.settings["course_id"]}
        args = ["runuser", "-u", name, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *command]
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=str(self.home(name)))

    def grade_cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """`chainrule-grade --course ~/chainrule ARGS` as the instructor."""
        course = str(self.home(self.instructor) / "chainrule")
        return self.run_as(self.instructor, ["chainrule-grade", "--course", course, *args], timeout=timeout)

    def stop(self) -> None:
        subprocess.run([sys.executable, str(HUBDIR / "hubctl.py"), "stop", "--state", str(self.state)],
                       capture_output=True, text=True, timeout=120)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def remove(self) -> None:
        """Stop, delete the accounts and homes, remove the state folder; safe to call twice."""
        self.stop()
        subprocess.run([sys.executable, str(HUBDIR / "hubctl.py"), "remove", "--state", str(self.state)],
                       capture_output=True, text=True, timeout=120)
        for name in [self.instructor, *self.students]:   # made but not yet recorded (a start cut short)
            if hubctl._uids([name]):
                subprocess.run(["userdel", "--remove", name], capture_output=True)
        shutil.rmtree(self.state, ignore_errors=True)

    def api_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/hub/api", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False


def first_value_exercise(source_notebook: Path) -> tuple[str, str, str]:
    """(grade_id, the solution's code, the name it assigns) of the first exercise whose solution ends by
    assigning one name: the test answers it right as one student and wrong as the other."""
    nb = json.loads(source_notebook.read_text())
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id", "")
        if not (gid.endswith("_answer") and meta.get("solution")):
            continue
        source = "".join(cell["source"])
        if "### BEGIN SOLUTION" not in source:
            continue
        body = source.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0].strip("\n")
        last = ast.parse(body).body[-1]
        if isinstance(last, ast.Assign) and len(last.targets) == 1 and isinstance(last.targets[0], ast.Name):
            return gid[: -len("_answer")], body, last.targets[0].id
    raise AssertionError(f"{source_notebook.name} has no exercise answered by one assignment")


def cell_index(notebook: Path, grade_id: str) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return next(i for i, c in enumerate(cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def cell_sources(notebook: Path) -> list[str]:
    """The sources of a notebook's cells ([] while the file is being written)."""
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return []
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
