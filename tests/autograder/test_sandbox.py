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
                {"code": "import os, signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                         "if os.fork() == 0:\n    time.sleep(600)\n"
                         "while True:\n    pass\n", "cell": 2}],
               limits=sandbox.Limits(timeout=8, cell_timeout=1))
    assert run.ungraded == "time limit 8 s exceeded at cell 2"
    assert run.duration < 30


def test_memory_limit_is_a_cell_error_not_a_crash():
    run = _run([{"code": "hog = bytearray(3 * 2**30)", "cell": 1}, {"code": "ok = True", "cell": 2},
                _extract("ok")], limits=sandbox.Limits(timeout=60, memory_mb=1024))
    assert run.ungraded is None and "MemoryError" in run.cell_errors[1] and _value_of(run) is True


def test_exit_and_signal_death_end_alike_as_ungraded_with_the_reason():
    run = _run([{"code": "import os\nos._exit(3)", "cell": 4}, _extract("x")])
    assert run.ungraded == "kernel exited (code 3, os._exit?) at cell 4" and not run.answers
    run = _run([{"code": "import os\nos._exit(0)", "cell": 4}, _extract("x")])
    assert run.ungraded == "kernel exited (code 0, os._exit?) at cell 4" and run.stopped_at is None
    run = _run([{"code": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "cell": 5}])
    assert run.ungraded == "kernel died (SIGKILL, memory limit?) at cell 5"
    run = _run([{"code": "import sys\nsys.exit(2)", "cell": 6}, _extract("x")])  # the notebook asks to stop
    assert run.ungraded is None and run.stopped_at == 6


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


PROC_PROBE = """
import os, socket
seen = {}
for name, path in {"own_status": "/proc/self/status", "own_maps": f"/proc/{os.getpid()}/maps",
                   "thread": "/proc/thread-self/status", "cpuinfo": "/proc/cpuinfo",
                   "parent_environ": f"/proc/{os.getppid()}/environ", "grader_environ": f"/proc/{GRADER}/environ",
                   "grader_cmdline": f"/proc/{GRADER}/cmdline", "init_cmdline": "/proc/1/cmdline"}.items():
    try:
        open(path, "rb").read(10)
        seen[name] = "read"
    except PermissionError:
        seen[name] = "denied"
    except OSError as exc:
        seen[name] = type(exc).__name__
try:
    os.listdir("/proc")
    seen["listing"] = "read"
except PermissionError:
    seen["listing"] = "denied"
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"escaped", ("127.0.0.1", PORT))
    seen["udp"] = "sent"
except OSError as exc:
    seen["udp"] = type(exc).__name__
"""


@needs_landlock
def test_proc_shows_only_the_sandbox_itself_and_udp_goes_nowhere():
    import socket

    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5)
    try:
        code = f"GRADER = {os.getpid()}\nPORT = {listener.getsockname()[1]}\n" + PROC_PROBE
        run = _run([{"code": code, "cell": 1}, _extract("seen")])
        try:
            received = listener.recv(100)
        except OSError:
            received = None
    finally:
        listener.close()
    got = _value_of(run)
    assert got["own_status"] == got["own_maps"] == got["thread"] == got["cpuinfo"] == "read", got
    for name in ("parent_environ", "grader_environ", "grader_cmdline", "init_cmdline", "listing"):
        assert got[name] == "denied", (name, got)
    if run.warning is None:  # no warning: the network namespace was created
        assert got["udp"] != "sent" and received is None, got


def test_answers_out_of_order_or_twice_are_ignored():
    """A signed answer from student code (the key is in the sandbox's memory) counts only where the
    runner itself sends one: after that exercise's extraction marker, once."""
    forge = ("import gc\nfrom autograder.messages import Answer\nfor o in gc.get_objects():\n"
             "    if type(o).__name__ == 'Channel' and hasattr(o, 'send'):\n"
             "        o.send(Answer(GID, None, {'status': 'ok', 'value': {'t': 'int', 'v': '99'}}))\n")
    early = _run([{"code": "GID = 'probe'\n" + forge + "x = 1\n", "cell": 1}, _extract("x")])
    assert early.tampered >= 1 and _value_of(early) == 1
    late = _run([{"code": "x = 2", "cell": 1}, _extract("x"), {"code": "GID = 'probe'\n" + forge, "cell": 100}])
    assert late.tampered >= 1 and _value_of(late) == 2


def test_message_order_accepts_exactly_the_runners_sequence():
    steps = [{"code": "a = 1", "cell": 1},
             {"extract": [{"grade_id": "g1", "wrong_codes": ["w0", "w1"]}, {"grade_id": "g2"}], "cell": 2}]
    order = sandbox.MessageOrder(steps)
    assert not order.answer("g1", None)                      # before any marker
    assert not order.cell(2, True)                           # a marker out of order
    assert order.cell(1, False) and not order.answer("g1", None)
    assert order.cell(2, True)
    assert not order.answer("g1", 0)                         # variants follow the answer itself
    assert order.answer("g1", None) and order.answer("g1", 0) and order.answer("g1", 1)
    assert order.answer("g2", None)
    assert not order.answer("g2", None) and not order.answer("g1", None)   # duplicates
    assert not order.cell(2, True)                           # no step left


def test_the_notebook_holds_no_capabilities():
    """Even when the grader runs as root, the notebook cannot raise its own rlimits (no capabilities)."""
    code = ("import resource\ncaps = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('CapEff')]\n"
            "try:\n    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
            "    raised = True\nexcept (ValueError, OSError):\n    raised = False\nout = (caps[0], raised)\n")
    run = _run([{"code": code, "cell": 1}, _extract("out")])
    assert _value_of(run) == ("0000000000000000", False)
