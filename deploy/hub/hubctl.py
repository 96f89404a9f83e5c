"""Start, stop and remove the class's JupyterHub on this machine (`make hub`, `make hub-stop`, `make hub-remove`).

    hubctl.py start  [--state DIR] [--port N] [--instructor NAME] [--students A,B,C] [--home-base DIR]
    hubctl.py stop   [--state DIR]      # the hub, its proxy, and every process of its accounts
    hubctl.py remove [--state DIR]      # stop, then delete the accounts this hub created and DIR

`start` runs in the foreground until Ctrl-C (or `stop` from another shell), then leaves nothing
running: the hub stops its proxy and servers, and whatever is left of the accounts' processes
(kernels, terminals, something started with nohup) is ended by uid. It needs root: it makes unix
accounts and runs each account's server as that account.

State (DIR, default /var/lib/chainrule-hub): exchange/ (nbgrader's exchange, root's, 1777) and
private/ (root only: the hub's database and cookie secret, the accounts' passwords, logs). Passwords
are made once per account and kept, so a restart logs in the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROXY = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
DEFAULT_STATE = "/var/lib/chainrule-hub"
DEFAULT_STUDENTS = "demo-ada,demo-alan,demo-grace"


class HubError(Exception):
    """One line for the user."""


def _paths(state: Path) -> dict[str, Path]:
    private = state / "private"
    return {"private": private, "settings": private / "settings.json", "accounts": private / "accounts.json",
            "record": private / "created_users", "supervisor": private / "hubctl.pid",
            "hub": private / "jupyterhub.pid", "proxy": private / "proxy.pid", "log": private / "jupyterhub.log"}


def _course_id(course: Path) -> str:
    sys.path.insert(0, str(REPO))
    from autograder.course import Course
    from autograder.nbgrader_api import course_config

    value = course_config(Course.open(course)).CourseDirectory.get("course_id", "")
    if not isinstance(value, str) or not value:
        raise HubError(f"{course}/nbgrader_config.py sets no CourseDirectory.course_id")
    return value


def _created(record: Path) -> set[str]:
    return set(record.read_text().split()) if record.is_file() else set()


def _uids(names) -> dict[str, int]:
    out = {}
    for name in names:
        try:
            out[name] = pwd.getpwnam(name).pw_uid
        except KeyError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0): read its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def processes_of(uids: set[int]) -> list[int]:
    """Pids of the live processes whose real or effective uid is in uids. A zombie (state Z: it has
    exited and holds nothing but its pid until its parent, or init, reaps it) is not running."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
            if fields.get("State", "").split()[:1] == ["Z"]:
                continue
            real, effective = (int(x) for x in fields["Uid"].split()[:2])
            if real in uids or effective in uids:
                found.append(int(entry.name))
        except (OSError, ValueError, KeyError):
            continue
    return found


def _end(pids, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL what is still there after `grace` seconds."""
    pids = [p for p in pids if p and p != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def sweep(state: Path) -> list[int]:
    """End the proxy and every process of the hub's accounts; returns the pids that were still there."""
    p = _paths(state)
    names = set()
    if p["settings"].is_file():
        settings = json.loads(p["settings"].read_text())
        names = {settings["instructor"], *settings["students"]}
    uids = set(_uids(names | _created(p["record"])).values())
    left = [pid for pid in (_read_pid(p["hub"]), _read_pid(p["proxy"])) if pid and _alive(pid)]
    left += processes_of(uids) if uids else []
    _end(left)
    for _ in range(20):   # children forked while we were ending their parents
        more = processes_of(uids) if uids else []
        if not more:
            break
        _end(more, grace=1.0)
    return left


def build_python(target: Path) -> Path:
    """A Python every account can run, with this project's packages: the machine's python3.11 over the
    project's .venv (its lib/, share/ and etc/ linked, its scripts re-pointed). The .venv's own
    interpreter may live where other accounts cannot reach it (pyenv under /root). Returns bin/python."""
    venv = Path(sys.prefix)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    bases = [Path("/usr/bin") / version, Path("/usr/local/bin") / version, Path(sys.executable).resolve()]
    base = next((b for b in bases if _reachable_by_all(b)), None)
    if base is None:
        raise HubError(f"no {version} that every account can run ({', '.join(map(str, bases))}): "
                       f"apt-get install {version}")
    shutil.rmtree(target, ignore_errors=True)
    (target / "bin").mkdir(parents=True)
    (target / "pyvenv.cfg").write_text(f"home = {base.parent}\ninclude-system-site-packages = false\n")
    (target / "bin" / "python").symlink_to(base)
    for name in ("lib", "share", "etc"):
        if (venv / name).is_dir():
            (target / name).symlink_to(venv / name)
    shebang = f"#!{venv / 'bin' / 'python'}".encode()
    for script in (venv / "bin").iterdir():
        if not script.is_file() or script.is_symlink() or script.name.startswith(("python", "activate")):
            continue
        data = script.read_bytes()
        first, _, rest = data.partition(b"\n")
        if first.rstrip().startswith(shebang) and not first.rstrip()[len(shebang):].strip():
            out = target / "bin" / script.name
            out.write_bytes(f"#!{target / 'bin' / 'python'}\n".encode() + rest)
            out.chmod(0o755)
    probe = subprocess.run(["runuser", "-u", "nobody", "--", str(target / "bin" / "python"), "-c",
                            "import chainrule_utils"], capture_output=True, text=True,
                           cwd="/")
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["?"])[-1]
        raise HubError(f"other accounts cannot use this project's Python ({why}): the project folder and its "
                       ".venv must be readable by all (every parent folder o+x)")
    return target / "bin" / "python"


def _reachable_by_all(path: Path) -> bool:
    """Can an account with no special rights run `path` (every parent folder o+x, the file o+x)?"""
    try:
        real = path.resolve(strict=True)
    except OSError:
        return False
    return all(p.stat().st_mode & stat.S_IXOTH for p in [real, *real.parents])


def prepare(args) -> dict:
    """State folders, exchange, passwords and the settings file; refuses accounts it did not make."""
    if os.geteuid() != 0:
        raise HubError("the hub needs root: it makes unix accounts and runs each student's server as them")
    if shutil.which("useradd") is None:
        raise HubError("useradd is missing (Debian: apt-get install passwd)")
    if not os.access(PROXY, os.X_OK):
        raise HubError(f"configurable-http-proxy is not installed at {PROXY}: run `make hub-setup`")
    state = Path(args.state).resolve()
    p = _paths(state)
    students = [s.strip().lower() for s in args.students.split(",") if s.strip()]
    names = [args.instructor.lower(), *students]
    strangers = sorted(set(_uids(names)) - _created(p["record"]))
    if strangers:
        raise HubError(f"account(s) {', '.join(strangers)} already exist on this machine and were not made by "
                       "this hub: choose other names (--instructor/--students)")
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)
    p["private"].mkdir(exist_ok=True)
    os.chmod(p["private"], 0o700)
    exchange = state / "exchange"
    exchange.mkdir(exist_ok=True)
    os.chown(exchange, 0, 0)
    os.chmod(exchange, 0o1777)
    Path(args.home_base).mkdir(parents=True, exist_ok=True)
    passwords = json.loads(p["accounts"].read_text()) if p["accounts"].is_file() else {}
    passwords = {n: passwords.get(n) or secrets.token_urlsafe(9) for n in names}
    _write_private(p["accounts"], json.dumps(passwords, indent=1))
    course = Path(args.course).resolve()
    python = build_python(state / "python")
    settings = {"state": str(state), "port": args.port, "api_port": args.port + 1, "hub_port": args.port + 2,
                "instructor": names[0], "students": students, "home_base": str(Path(args.home_base).resolve()),
                "exchange": str(exchange), "course": str(course), "course_id": _course_id(course),
                "python_bin": str(python.parent), "proxy": str(PROXY)}
    _write_private(p["settings"], json.dumps(settings, indent=1))
    return settings


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HubError(f"jupyterhub exited with status {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise HubError(f"the hub did not answer at {url} within {timeout:.0f} s")


def _instructions(settings: dict, passwords: dict, log: Path) -> str:
    url = f"http://localhost:{settings['port']}/"
    rows = [("instructor", settings["instructor"])] + [("student", s) for s in settings["students"]]
    width = max(len(n) for _, n in rows)
    lines = [f"chainrule hub ready at {url}  (log: {log})", "", f"  {'role':<11} {'account':<{width + 2}} password"]
    lines += [f"  {role:<11} {name:<{width + 2}} {passwords[name]}" for role, name in rows]
    lines += ["", "Instructor, in a JupyterLab terminal (the course is in ~/chainrule):",
              "  chainrule-grade --course ~/chainrule release 01_scalar_rules --exchange",
              "  chainrule-grade --course ~/chainrule collect --exchange",
              "  chainrule-grade --course ~/chainrule grade && chainrule-grade --course ~/chainrule feedback --exchange",
              "Students: Nbgrader > Assignment List (fetch, validate, submit, fetch feedback).",
              "", "Ctrl-C (or `make hub-stop` in another shell) stops it and leaves nothing running."]
    return "\n".join(lines)


def start(args) -> int:
    settings = prepare(args)
    state = Path(settings["state"])
    p = _paths(state)
    old = _read_pid(p["supervisor"])
    if old and _alive(old):
        raise HubError(f"a hub for {state} is already running (pid {old}): `make hub-stop` first")
    sweep(state)   # whatever a killed run left behind
    _write_private(p["supervisor"], str(os.getpid()))
    env = {**os.environ, "CHAINRULE_HUB_SETTINGS": str(p["settings"]),
           "PATH": f"{settings['python_bin']}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    env.pop("JUPYTER_CONFIG_PATH", None)
    log = open(p["log"], "ab")
    hub = subprocess.Popen([str(Path(settings["python_bin"]) / "jupyterhub"), "-f", str(HERE / "jupyterhub_config.py")],
                           cwd=p["private"], env=env, stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        _wait_ready(f"http://localhost:{settings['port']}/hub/api", hub, args.timeout)
        passwords = json.loads(p["accounts"].read_text())
        print(_instructions(settings, passwords, p["log"]), flush=True)
        while hub.poll() is None:
            time.sleep(0.5)
        status = 0 if stopping else (hub.returncode or 1)
        if not stopping:
            print(f"jupyterhub exited on its own (status {hub.returncode}); see {p['log']}", file=sys.stderr)
    except HubError:
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
        raise
    finally:
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        sweep(state)
        p["supervisor"].unlink(missing_ok=True)
        log.close()
        print("hub stopped: no hub, proxy or account process left running", flush=True)
    return status


def stop(args) -> int:
    state = Path(args.state).resolve()
    p = _paths(state)
    supervisor = _read_pid(p["supervisor"])
    if supervisor and _alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and _alive(supervisor):
            time.sleep(0.2)
        if _alive(supervisor):
            os.kill(supervisor, signal.SIGKILL)
    left = sweep(state)
    p["supervisor"].unlink(missing_ok=True)
    print(f"hub at {state} stopped" + (f" ({len(left)} leftover processes ended)" if left else ""))
    return 0


def remove(args) -> int:
    """Stop, then delete the accounts this hub made (with their homes) and the state folder."""
    stop(args)
    state = Path(args.state).resolve()
    p = _paths(state)
    for name in sorted(_created(p["record"])):
        if name in _uids([name]):
            proc = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
            if proc.returncode not in (0, 12):   # 12: home could not be removed (already gone)
                print(f"userdel {name}: {proc.stderr.strip()}", file=sys.stderr)
    shutil.rmtree(state, ignore_errors=True)
    print(f"removed the hub's accounts and {state}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hubctl.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "stop", "remove"):
        p = sub.add_parser(name)
        p.add_argument("--state", default=os.environ.get("HUB_STATE", DEFAULT_STATE))
        if name == "start":
            p.add_argument("--port", type=int, default=8000, help="the hub's port; the next two are used too")
            p.add_argument("--instructor", default="demo-instructor")
            p.add_argument("--students", default=DEFAULT_STUDENTS, help="comma-separated account names")
            p.add_argument("--home-base", default="/home", help="parent folder of new accounts' homes")
            p.add_argument("--course", default=str(REPO / "course"))
            p.add_argument("--timeout", type=float, default=120, help="seconds to wait for the hub to answer")
    args = parser.parse_args(argv)
    try:
        return {"start": start, "stop": stop, "remove": remove}[args.command](args)
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
