"""The sandbox itself: Landlock file/network/signal limits, rlimits, timeouts, a forged channel."""
from __future__ import annotations

import os

import pytest

from autograder import sandbox
from autograder.landlock import LandlockUnavailable, abi_version

pytestmark = pytest.mark.slow

try:
    ABI = abi_version()
except LandlockUnavailable:
    ABI = 0
needs_landlock = pytest.mark.skipif(ABI == 0, reason="Landlock is not available on this kernel")

PROBE = """
import os, socket
outcome = {}
for name, path in PATHS.items():
    try:
        open(path).read(10)
        outcome[name] = "read"
    except PermissionError:
        outcome[name] = "denied"
    except OSError as exc:
        outcome[name] = type(exc).__name__
try:
    open("mine.txt", "w").write("ok")
    outcome["workdir"] = open("mine.txt").read()
except OSError as exc:
    outcome["workdir"] = type(exc).__name__
try:
    socket.create_connection(("127.0.0.1", 9), timeout=2)
    outcome["tcp"] = "connected"
except PermissionError:
    outcome["tcp"] = "denied"
except OSError as exc:
    outcome["tcp"] = type(exc).__name__
try:
    os.kill(PARENT, 0)
    outcome["signal"] = "sent"
except PermissionError:
    outcome["signal"] = "denied"
except ProcessLookupError:
    outcome["signal"] = "gone"
"""


def _run(steps, **kw):
    return sandbox.run(steps, limits=kw.pop("limits", sandbox.Limits(timeout=60, cell_timeout=10)), **kw)


def _value_of(run, gid="probe"):
    from autograder.wire import decode

    answer = run.answers[(gid, None)]
    assert answer["status"] == "ok", answer
    return decode(answer["value"])


def _extract(name, gid="probe"):
    return {"extract": [{"grade_id": gid, "kind": "value", "answer": name}], "cell": 99}


@needs_landlock
def test_landlock_hides_course_gradebook_and_other_files(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "a").mkdir(parents=True)
    secret = course / "source" / "a" / "a.ipynb"
    secret.write_text('{"BEGIN SOLUTION": 1}')
    db = course / "gradebook.db"
    db.write_text("sqlite")
    elsewhere = tmp_path / "other_student.ipynb"
    elsewhere.write_text("{}")
    paths = {"source": str(secret), "gradebook": str(db), "other": str(elsewhere),
             "numpy": os.path.join(os.path.dirname(__import__("numpy").__file__), "__init__.py")}
    run = _run([{"code": f"PATHS = {paths!r}\nPARENT = {os.getpid()}\n" + PROBE, "cell": 1},
                _extract("outcome")], protect=[course])
    assert run.ungraded is None and run.warning is None, run
    got = _value_of(run)
    assert got["source"] == got["gradebook"] == got["other"] == "denied"
    assert got["numpy"] == "read" and got["workdir"] == "ok"
    if ABI >= 4:
        assert got["tcp"] == "denied"
    if ABI >= 6:
        assert got["signal"] == "denied"


def test_per_cell_timeout_then_the_notebook_goes_on():
    run = _run([{"code": "while True:\n    pass\n", "cell": 1}, {"code": "after = 42", "cell": 2},
                _extract("after")], limits=sandbox.Limits(timeout=60, cell_timeout=1))
    assert "timed out" in run.cell_errors[1] and _value_of(run) == 42


def test_wall_clock_limit_kills_the_group_and_names_the_cell():
    run = _run([{"code": "x = 1", "cell": 1},
                {"code": "import signal, subprocess, sys\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                         "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
                         "while True:\n    pass\n", "cell": 2}],
               limits=sandbox.Limits(timeout=8, cell_timeout=1))
    assert run.ungraded == "time limit 8 s exceeded at cell 2"
    assert run.duration < 30


def test_memory_limit_is_a_cell_error_not_a_crash():
    run = _run([{"code": "hog = bytearray(3 * 2**30)", "cell": 1}, {"code": "ok = True", "cell": 2},
                _extract("ok")], limits=sandbox.Limits(timeout=60, memory_mb=1024))
    assert run.ungraded is None and "MemoryError" in run.cell_errors[1] and _value_of(run) is True


def test_exit_and_signal_death():
    run = _run([{"code": "import os\nos._exit(3)", "cell": 4}, _extract("x")])
    assert run.ungraded is None and run.stopped_at == 4 and not run.answers
    run = _run([{"code": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "cell": 5}])
    assert run.ungraded == "kernel died (SIGKILL, memory limit?) at cell 5"


def test_forged_lines_are_counted_and_ignored():
    forge = ("import os, json\nfor fd in range(3, 64):\n    try:\n"
             "        os.write(fd, b'{\"body\": \"{}\", \"mac\": \"00\"}\\n')\n    except OSError:\n        pass\n"
             "x = 5\n")
    run = _run([{"code": forge, "cell": 1}, _extract("x")])
    assert run.tampered >= 1 and _value_of(run) == 5 and run.ungraded is None


def test_subprocess_mode_gives_the_same_answers(monkeypatch):
    monkeypatch.setenv("CHAINRULE_SANDBOX", "subprocess")
    run = _run([{"code": "import numpy as np\nv = np.arange(3) * 2", "cell": 1}, _extract("v")])
    assert list(_value_of(run)) == [0, 2, 4]


def test_escaped_grandchildren_are_killed_when_the_run_ends():
    escape = ("import os, time\nr, w = os.pipe()\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        os.write(w, str(os.getpid()).encode())\n        time.sleep(600)\n    os._exit(0)\n"
              "time.sleep(0.5)\nescaped = int(os.read(r, 32))\n")
    run = _run([{"code": escape, "cell": 1}, _extract("escaped")])
    pid = _value_of(run)
    import time

    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid}"), "a process that left the sandbox's session survived"
