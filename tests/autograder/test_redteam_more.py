"""More red-team tests (after test_redteam.py): hand-derivation evasions that a name scan missed (the
run-time trap of autograder.trap must catch each: the routine runs), and sandbox leaks that outlive a
run or cross from one sandbox to the next.

- Hand evasions: each attack is one student of a course built from the real 01_scalar_rules notebook;
  all are graded in ONE `grade --jobs 2` run with a control (the solutions), a blank copy, an honest
  submission that uses harmless magics and sympy text (must keep full marks) and a disk filler (the
  batch must go on). Every attack computes the exact answer when it is not stopped, so "scores 0"
  means "was refused".
- Sandbox leaks (System V IPC, the kernel keyring, disk use) are run directly through
  autograder.sandbox, with an oracle: the sandbox reports what it could see.
"""
from __future__ import annotations

import base64
import ctypes
import os
import sys
import textwrap
import uuid

import pytest
from test_redteam import SOURCE, A, _cli, _make_course, _scores

from autograder import sandbox
from autograder.notebooks import read_notebook, solution_sources, with_answers, write_notebook
from autograder.wire import decode

# its module fixture grades a class once: every test of this file on one xdist worker
pytestmark = pytest.mark.xdist_group("redteam_more")

PY = sys.executable
POLY = "4 * x**5 - 3 * x**2 + 7"
# a program that prints the derivative, hidden from any scan as base64 text
_PROGRAM = base64.b64encode(b"import sympy as s\nx = s.Symbol('x')\n"
                            b"print(s.diff(4*x**5 - 3*x**2 + 7, x))\n").decode()
STENCIL = textwrap.dedent("""\
    def dh_dx(x):
        s = 3e-3
        c = [4 / 5, -1 / 5, 4 / 105, -1 / 280]
        return sum(ck * (h(x + (k + 1) * s) - h(x - (k + 1) * s)) for k, ck in enumerate(c)) / s
    """)

# student -> (exercise attacked, answer cell body); each computes the exact answer when not refused
EVASIONS = {
    # sympy functions turn text into code: strings are never scanned
    "ev2_expand_string": ("01_power", f'dp_dx = sp.expand("di" + "ff({POLY}, x)")\n'),
    "ev2_method_string": ("01_power", f'dp_dx = sp.factor("({POLY}).di" + "ff(x)")\n'),
    "ev2_S_bare": ("01_power", f'from sympy import S\ndp_dx = S("diff({POLY}, x)")\n'),
    "ev2_S_variable": ("01_power", f'_t = "di" + "ff({POLY}, x)"\ndp_dx = sp.S(_t)\n'),
    # differentiation routines under other names
    "ev2_derive_by_array": ("01_power", f"dp_dx = sp.derive_by_array({POLY}, x)\n"),
    "ev2_wronskian": ("01_power", f"dp_dx = sp.wronskian([1, {POLY}], x)\n"),
    "ev2_residue": ("01_power", f'_h = sp.Symbol("h")\n_p = {POLY}\n'
                                "dp_dx = sp.expand(sp.residue(_p.subs(x, x + _h) / _h**2, _h, 0))\n"),
    "ev2_Limit_class": ("01_power", f'_h = sp.Symbol("h")\n_p = {POLY}\n'
                                    "dp_dx = sp.expand(sp.Limit((_p.subs(x, x + _h) - _p) / _h, _h, 0).doit())\n"),
    "ev2_leading_term": ("01_power", f'_h = sp.Symbol("h")\n_p = {POLY}\n'
                                     "dp_dx = sp.expand(((_p.subs(x, x + _h) - _p) / _h).as_leading_term(_h))\n"),
    # text run as code by other means
    "ev2_string_formatter": ("01_power", "import string\n"
                                         '_d = string.Formatter().get_field("0.di" + "ff", (sp,), {})[0]\n'
                                         f"dp_dx = _d({POLY}, x)\n"),
    "ev2_self_eval": ("01_power", f'dp_dx = print.__self__.eval("sp.di" + "ff({POLY}, x)")\n'),
    "ev2_traceback_builtins": ("01_power", "try:\n    1 / 0\nexcept ZeroDivisionError as _e:\n"
                                           '    _ev = _e.__traceback__.tb_frame.f_builtins["ev" + "al"]\n'
                                           f'dp_dx = _ev("sp.di" + "ff({POLY}, x)")\n'),
    "ev2_typing_walrus": ("01_power", "import typing\n"
                                      f'def _f(a: "(_R := sp.di" "ff({POLY}, x)) and int"):\n    pass\n'
                                      "typing.get_type_hints(_f)\ndp_dx = _R\n"),
    "ev2_cprofile": ("01_power", f'import cProfile\ncProfile.run("dp_dx = sp.di" "ff({POLY}, x)")\n'),
    "ev2_shell_capture": ("01_power", f"_o = !echo {_PROGRAM} | base64 -d | {PY} -I\ndp_dx = _o[0]\n"),
    "ev2_popen": ("01_power", f'import os\ndp_dx = os.popen("echo {_PROGRAM} | base64 -d | {PY} -I").read()\n'),
    "ev2_module_pathlib": ("01_power", "import sys, pathlib\nsys.path.insert(0, '.')\n"
                                       'pathlib.Path("rt_more_mod.py").write_text("from sympy import di" "ff as D\\n")\n'
                                       f"import rt_more_mod\ndp_dx = rt_more_mod.D({POLY}, x)\n"),
    # the function exercise: disable the trap by patching the runner's module, then a stencil on h
    "ev2_patch_runner": ("01_chain_fn", "import autograder.runner as _r\n"
                                        "_r.extract = lambda ns, ex, timeout, *a, **k: _r.read_answer(ns, ex, timeout)\n"
                                        + STENCIL),
    # library derivatives of h sampled in the cell (the tripwire only guards the answer's own calls)
    "ev2_chebyshev": ("01_chain_fn", "_c = np.polynomial.Chebyshev.interpolate(h, 120, domain=[-2.0, 2.0]).deriv()\n"
                                     "def dh_dx(x):\n    return _c(x)\n"),
    "ev2_spline": ("01_chain_fn", "from scipy.interpolate import CubicSpline\n_xs = np.linspace(-2.0, 2.0, 400001)\n"
                                  "_s = CubicSpline(_xs, h(_xs))\ndef dh_dx(x):\n    return _s(x, 1)\n"),
}

# an honest submission using what the scan must keep allowing: harmless magics, sympy text without a
# routine, S(1)/2, installed modules
HONEST_PREAMBLE = textwrap.dedent("""\
    %matplotlib inline
    %time _warm = sp.expand("(x + 1)**2")
    import numpy
    _half = sp.S(1) / 2
    """)

# fills the disk: 8 files of 60 MB (each under the per-file limit); if all of it fits, it answers 01_compose
DISK_FILL = textwrap.dedent("""\
    _mb = 0
    try:
        for _i in range(8):
            with open(f"fill{_i}.bin", "wb") as _fh:
                for _ in range(60):
                    _fh.write(bytes(2**20))
                    _mb += 1
    except OSError:
        pass
    if _mb >= 8 * 60:
        compositions = ((2 - 3) ** 3, 2**3 - 3)
    """)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = _make_course(tmp_path_factory.mktemp("redteam_more"))
    released = read_notebook(course / "release" / A / f"{A}.ipynb")
    sols = solution_sources(read_notebook(SOURCE))
    students = {"control": sols, "blank": {},
                "honest_magics": {**sols, "01_power_answer": HONEST_PREAMBLE + sols["01_power_answer"]},
                "disk_fill": {"01_compose_answer": DISK_FILL}}
    for student, (gid, body) in EVASIONS.items():
        students[student] = {f"{gid}_answer": body}
    for student, answers in students.items():
        nb = with_answers(released, answers)
        write_notebook(nb, course / "submitted" / student / A / f"{A}.ipynb")
    run = _cli(course, "grade", A, "--jobs", "2", "--force")
    subs, rows = _scores(course)
    return {"run": run, "subs": subs, "rows": rows}


def _row(graded, student, gid):
    sub = graded["subs"].get(student)
    assert sub is not None, f"{student} was not graded: {graded['run'].stderr[-2000:]}"
    assert sub.status == "graded", f"{student}: {sub.status} ({sub.reason})"
    return graded["rows"][student][gid]


@pytest.mark.slow
def test_batch_completes_and_controls_score_as_expected(graded):
    assert graded["run"].returncode == 0, graded["run"].stderr[-2000:]
    for student in ("control", "honest_magics"):
        auto = [r for r in graded["rows"][student].values() if r.kind == "auto"]
        assert auto and all(r.score == r.max_score for r in auto), \
            (student, [(r.grade_id, r.score, r.mistake, r.message) for r in auto if r.score < r.max_score])
    assert all(r.score == 0 for r in graded["rows"]["blank"].values() if r.kind == "auto")


@pytest.mark.slow
def test_disk_filler_is_stopped_and_the_batch_goes_on(graded):
    assert _row(graded, "disk_fill", "01_compose").score == 0


@pytest.mark.slow
@pytest.mark.parametrize("student", list(EVASIONS))
def test_hand_exercise_evasion_scores_zero(graded, student):
    gid = EVASIONS[student][0]
    row = _row(graded, student, gid)
    assert row.score == 0, f"{student} got {row.score}/{row.max_score} on {gid} ({row.mistake})"


# ---------------------------------------------------------------------------------------------
# sandbox leaks, directly


def _run(code: str, *, hand: bool = False, **limits):
    steps = [{"code": code, "cell": 1},
             {"extract": [{"grade_id": "g", "kind": "value", "answer": "out", "hand": hand}], "cell": 2}]
    run = sandbox.run(steps, limits=sandbox.Limits(timeout=90, cell_timeout=60, **limits))
    assert run.ungraded is None, run.ungraded
    answer = run.answers[("g", None)]
    assert answer["status"] == "ok", answer
    return run, decode(answer["value"])


_LIBC = """
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
"""


def _sysv_ids(kind: str, key: int) -> list[str]:
    with open(f"/proc/sysvipc/{kind}") as fh:
        return [ln.split()[1] for ln in fh.readlines()[1:] if int(ln.split()[0]) == key]


@pytest.mark.slow
def test_system_v_ipc_is_private_to_each_sandbox_and_gone_after_it():
    """Shared memory and message queues outlive their process and Landlock does not cover them: a
    sandbox could leave data (or pinned memory) for the next one, or read the host's segments."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    host_key, leave_key, queue_key = (0x5200000 + uuid.uuid4().int % 0xFFFFF for _ in range(3))
    secret = uuid.uuid4().hex.encode()
    host = libc.shmget(host_key, 4096, 0o1600)  # IPC_CREAT | 0600, the grader's user
    assert host >= 0
    try:
        addr = libc.shmat(host, None, 0)
        ctypes.memmove(addr, secret, len(secret))
        libc.shmdt(ctypes.c_void_p(addr))
        writer = _LIBC + textwrap.dedent(f"""\
            out = {{}}
            seg = libc.shmget({leave_key}, 2**20, 0o1666)
            if seg >= 0:
                a = libc.shmat(seg, None, 0)
                ctypes.memmove(a, b"left for the next sandbox", 25)
                libc.shmdt(ctypes.c_void_p(a))
            out["queue"] = libc.msgget({queue_key}, 0o1666)
            host = libc.shmget({host_key}, 0, 0)
            out["host"] = ctypes.string_at(libc.shmat(host, None, 0), 32).decode() if host >= 0 else None
            """)
        _, first = _run(writer)
        reader = _LIBC + textwrap.dedent(f"""\
            seg = libc.shmget({leave_key}, 0, 0)
            out = {{"left": ctypes.string_at(libc.shmat(seg, None, 0), 25).decode() if seg >= 0 else None,
                    "queue": libc.msgget({queue_key}, 0)}}
            """)
        _, second = _run(reader)
    finally:
        libc.shmctl(host, 0, None)  # IPC_RMID
    assert first["host"] is None                      # the host's segment is not visible
    assert second == {"left": None, "queue": -1}      # nothing carried over to the next sandbox
    assert _sysv_ids("shm", leave_key) == [] and _sysv_ids("msg", queue_key) == []  # nor left on the host


@pytest.mark.slow
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="add_key/keyctl syscall numbers of x86_64")
def test_kernel_keyring_is_private_to_each_sandbox():
    """The user keyring is shared by every process of a uid and outlives them: a channel between
    sandboxes, and the host's keys."""
    libc = ctypes.CDLL(None, use_errno=True)
    desc = f"rt-more-{uuid.uuid4().hex}".encode()
    serial = libc.syscall(248, b"user", desc, b"host-secret", 11, -4)  # add_key(..., KEY_SPEC_USER_KEYRING)
    if serial < 0:
        pytest.skip("no kernel keyring here")
    try:
        probe = _LIBC + textwrap.dedent(f"""\
            found = libc.syscall(250, 10, -4, b"user", {desc!r}, 0)   # KEYCTL_SEARCH in @u
            buf = ctypes.create_string_buffer(64)
            n = libc.syscall(250, 11, found, buf, 64) if found > 0 else -1  # KEYCTL_READ
            mine = libc.syscall(248, b"user", b"{desc.decode()}-left", b"left", 4, -4)
            out = [buf.raw[:max(n, 0)].decode(), mine > 0]
            """)
        _, first = _run(probe)
        _, second = _run(probe.replace("-left", "-again"))
        left = libc.syscall(250, 10, -4, b"user", desc + b"-left", 0)
    finally:
        libc.syscall(250, 3, serial)  # KEYCTL_REVOKE
    assert first[0] == "" and second[0] == ""
    if first[1]:  # it could add a key: that key must not be in the host's keyring
        assert left < 0


@pytest.mark.slow
def test_disk_use_is_limited_and_the_assignment_files_are_there(tmp_path):
    (tmp_path / "data.txt").write_text("given")
    code = textwrap.dedent("""\
        import os
        out = {"data": open("data.txt").read()}
        mb = 0
        try:
            for i in range(8):
                with open(f"f{i}.bin", "wb") as fh:
                    for _ in range(60):
                        fh.write(bytes(2**20))
                        mb += 1
        except OSError as exc:
            out["errno"] = exc.errno
        out["mb"] = mb
        out["workdir"] = os.getcwd()
        """)
    steps = [{"code": code, "cell": 1},
             {"extract": [{"grade_id": "g", "kind": "value", "answer": "out"}], "cell": 2}]
    run = sandbox.run(steps, files=[tmp_path / "data.txt"],
                      limits=sandbox.Limits(timeout=90, cell_timeout=60, disk_mb=128))
    out = decode(run.answers[("g", None)]["value"])
    assert run.warning is None or "disk" not in run.warning, run.warning
    assert out["data"] == "given"
    assert out["errno"] == 28 and out["mb"] < 130            # ENOSPC at the 128 MB limit
    with open("/proc/self/mounts") as fh:                    # nothing mounted on the grader's side
        assert out["workdir"] not in fh.read()


SYMPY_TEXT = textwrap.dedent(f"""\
    import sympy as sp
    x = sp.Symbol("x")
    out = str(sp.expand("di" + "ff({POLY}, x)"))
    """)


@pytest.mark.slow
@pytest.mark.parametrize("hand", [True, False])
def test_sympy_text_that_differentiates_runs_and_the_trap_names_it(hand):
    """Text is never refused (parsing is harmless); a routine it runs is what counts, for hand answers."""
    steps = [{"code": SYMPY_TEXT, "cell": 1},
             {"extract": [{"grade_id": "g", "kind": "value", "answer": "out", "hand": hand}], "cell": 2}]
    run = sandbox.run(steps, limits=sandbox.Limits(timeout=90, cell_timeout=60))
    answer = run.answers[("g", None)]
    assert decode(answer["value"]) == "20*x**4 - 6*x"
    assert (answer.get("trap") or {}).get("routine") == ("sympy's diff" if hand else None)


FORKS = textwrap.dedent("""\
    import os, time
    kids, err = [], None
    for i in range(150):
        try:
            pid = os.fork()
        except OSError as exc:
            err = exc.errno
            break
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        kids.append(pid)
    for k in kids:
        os.kill(k, 9)
        os.waitpid(k, 0)
    r, w = os.pipe()
    if os.fork() == 0:                     # one that leaves the session, and reports its pid
        os.setsid()
        os.write(w, str(os.getpid()).encode())
        time.sleep(600)
        os._exit(0)
    time.sleep(0.5)
    out = [len(kids), err, int(os.read(r, 32))]
    """)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["zygote", "subprocess"])
def test_processes_are_limited_per_sandbox_and_none_survives(monkeypatch, mode):
    """RLIMIT_NPROC cannot do it (it counts every process of the user, and not root's at all): without a
    per-sandbox limit a fork bomb takes every pid of the machine."""
    import time

    monkeypatch.setenv("CHAINRULE_SANDBOX", mode)
    run, (forked, err, escaped) = _run(FORKS, procs=64)
    if run.warning and "processes are not limited" in run.warning:
        pytest.skip(run.warning)
    assert forked < 64 and err == 11, (forked, err)          # EAGAIN at the limit
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{escaped}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{escaped}")
    assert not _cgroup_dirs(run.pid), "the sandbox's cgroup was left behind"


def _cgroup_dirs(pid: int) -> list[str]:
    from autograder.isolation import CGROUP_PREFIX, _cgroup_bases

    return [d for b in _cgroup_bases().values() if os.path.exists(d := os.path.join(b, f"{CGROUP_PREFIX}{pid}"))]


MEMORY_FORKS = textwrap.dedent("""\
    import os
    kids = []
    for i in range(3):
        pid = os.fork()
        if pid == 0:
            block = bytearray(400 * 2**20)        # touched: 400 MB resident, under the per-process limit
            os._exit(0)
        kids.append(pid)
    out = sorted(os.waitpid(k, 0)[1] for k in kids)
    """)


@pytest.mark.slow
def test_memory_limit_holds_for_the_whole_sandbox_not_per_process():
    """3 processes of 400 MB each fit a 600 MB per-process limit; the sandbox as a whole does not."""
    run, statuses = _run(MEMORY_FORKS, memory_mb=600, disk_mb=0)
    if run.warning and "processes are not limited" in run.warning:
        pytest.skip(run.warning)
    assert any(os.WIFSIGNALED(s) and os.WTERMSIG(s) == 9 for s in statuses), statuses


HOLD_PIPE = textwrap.dedent("""\
    import ctypes, os, time
    if os.fork() == 0:
        os.setsid()
        ctypes.CDLL(None).prctl(15, b"@@NAME@@", 0, 0, 0)   # PR_SET_NAME, to be found afterwards
        while True:
            time.sleep(0.2)
    os._exit(0)
    """)


def _named(name: str) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/comm") as fh:
                if fh.read().strip() == name:
                    out.append(int(p))
        except OSError:
            pass
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["zygote", "subprocess"])
def test_a_child_holding_the_results_pipe_neither_holds_the_run_nor_survives(monkeypatch, mode):
    """The notebook exits early, leaving a child (own session) that keeps the results pipe open: the run
    ends (ungraded: the kernel exited at that cell) long before the time limit, and the child is killed."""
    import time

    monkeypatch.setenv("CHAINRULE_SANDBOX", mode)
    name = f"rt{uuid.uuid4().hex[:10]}"
    steps = [{"code": "x = 1", "cell": 1}, {"code": HOLD_PIPE.replace("@@NAME@@", name), "cell": 2}]
    t0 = time.time()
    run = sandbox.run(steps, limits=sandbox.Limits(timeout=40, cell_timeout=20))
    took = time.time() - t0
    deadline = time.time() + 10
    while _named(name) and time.time() < deadline:
        time.sleep(0.2)
    left = _named(name)
    for pid in left:  # ours, if the sandbox failed to end it
        os.kill(pid, 9)
    assert run.ungraded and run.ungraded.startswith("kernel exited") and run.ungraded.endswith("at cell 2"), \
        (run.ungraded, run.stopped_at)
    assert took < 20, took
    if not (run.warning and "processes are not limited" in run.warning) or mode == "zygote":
        assert left == []


def test_line_reader_drops_an_oversized_line_without_holding_it():
    from autograder.sandbox import LineReader

    r = LineReader(max_line=100)
    out = r.feed(b"first\n" + b"j" * 60)
    for _ in range(50):                      # 5000 bytes without a newline
        out += r.feed(b"j" * 100)
        assert len(r._buf) <= 100
    out += r.feed(b"end of junk\nlast\n")
    assert out == [b"first", None, b"last"]


FLOOD = textwrap.dedent("""\
    import os
    for fd in range(3, 32):
        try:
            if "pipe" in os.readlink(f"/proc/self/fd/{fd}"):
                junk = b"j" * 2**20
                for _ in range(100):             # 100 MB without a newline
                    os.write(fd, junk)
                os.write(fd, b"\\n")
        except OSError:
            pass
    out = 5
    """)


@pytest.mark.slow
def test_a_flood_without_newlines_costs_the_grader_linear_time():
    """Before: the grader re-copied and re-scanned its whole buffer for every 64 KB read (quadratic),
    so 100 MB without a newline kept it busy past the time limit."""
    run, out = _run(FLOOD)
    assert out == 5 and run.tampered >= 1
