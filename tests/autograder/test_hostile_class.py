"""Issue 11: hostile submissions harm no one but themselves: not the run, not a neighbour, not the
instructor's terminal, and read nothing that only root may read.

One course holds the real 01_scalar_rules and 04_chain_rules notebooks; every attack is one student, and
all of them are graded in ONE `grade --jobs 2` run together with innocent students, who must keep full
marks. Assertions are about scores, stored text and processes, never about wall-clock speed (the
machine is shared): the only time bound is a generous one on the whole run.

- float_bomb: an expression answer `log(Float(2.1, 1000000000))` (it used to kill the grader with
  SIGALRM, on every rerun);
- chain_bomb: a chain_steps answer whose `local` dict holds 200 slow entries (minutes of judging);
- cpu_hog: 120 busy processes, each in its own session, started in the first answer cell;
- canary_reader: reads a 0600 root-owned file in /etc (Landlock leaves /etc readable) into an answer;
- ansi_fatal / ansi_error: reason and error texts with ANSI escapes and newlines written in the sandbox.

Below the run, the same properties one by one through autograder.sandbox and the judging pool.
"""
from __future__ import annotations

import os
import shutil
import signal
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from coursekit import graded_rows
from test_redteam import _cli
from test_redteam_more import _named

from autograder.notebooks import read_notebook, solution_sources, with_answers, write_notebook

# its module fixture grades a class once: every test of this file on one xdist worker
pytestmark = pytest.mark.xdist_group("hostile_class")

REPO = Path(__file__).resolve().parents[2]
A1, A4 = "01_scalar_rules", "04_chain_rules"
RUN_BOUND = 1200  # seconds for the whole grade run: a hang guard, not a speed goal
ROOT = os.geteuid() == 0
ESC_FREE = "no escape sequence or control character"

HOG = textwrap.dedent("""\
    import ctypes, os
    for _i in range(120):
        if os.fork() == 0:
            os.setsid()
            ctypes.CDLL(None).prctl(15, b"@@NAME@@", 0, 0, 0)   # PR_SET_NAME, to be found afterwards
            while True:
                pass
    """)
CANARY_READ = textwrap.dedent("""\
    try:
        with open("@@CANARY@@") as _fh:
            _leak = _fh.read()
    except OSError as _exc:
        _leak = None
    dp_dx = "20*x**4 - 6*x" if _leak else "0"
    canary_text = _leak
    """)
CHAIN_BOMB = textwrap.dedent("""\
    # ~1 s each to build (a precision of its own defeats every cache), none over the parse limit
    _slow = {f"slow{_i}": f"log(Float(2.1, {60000 + 7 * _i}))" for _i in range(200)}
    derivation = {
        "intermediates": {"u1": "x**2", "u2": "sin(u1)", "u3": "1 + u2", "y": "u3**3"},
        "local": {"u1": "2*x", "u2": "cos(u1)", "u3": "1", "y": "3*u3**2", **_slow},
        "product": "3*u3**2 * cos(u1)",
        "result": "6*x*cos(x**2)*(1 + sin(x**2))**2",
    }
    """)
ANSI = "\\x1b[2J\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07\\ngraded 30, ungraded 0\\r\\n\\u202eevil"
ANSI_FATAL = textwrap.dedent(f"""\
    import gc
    from autograder.messages import Fatal
    for _o in gc.get_objects():
        if type(_o).__name__ == "Channel" and hasattr(_o, "send"):
            _o.send(Fatal("{ANSI}"))
    """)
ANSI_ERROR = {
    "01_power_answer": f'raise ValueError("{ANSI}")\n',
    "01_product_answer": f'dq_dx = type("{ANSI}", (), {{}})()\n',
    "01_chain_fn_answer": f'def dh_dx(x):\n    raise RuntimeError("{ANSI}")\n',
}


def _solutions(source: Path) -> dict:
    return solution_sources(read_notebook(source))


def _source(a: str) -> Path:
    return REPO / "course" / "source" / a / f"{a}.ipynb"


def _clean(text) -> bool:
    return text is None or not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 or c in "\u202e\u2066" for c in str(text))


@pytest.fixture(scope="module")
def canary():
    """A 0600 root-owned file in /etc, a folder the sandbox may read (root only)."""
    if not ROOT:
        yield None
        return
    path = Path(f"/etc/chainrule-canary-{uuid.uuid4().hex[:12]}")
    secret = f"CANARY-{uuid.uuid4().hex}"
    path.write_text(secret)
    path.chmod(0o600)
    try:
        yield path, secret
    finally:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, canary):
    course = tmp_path_factory.mktemp("hostile") / "course"
    for a in (A1, A4):
        (course / "source" / a).mkdir(parents=True)
        shutil.copy2(_source(a), course / "source" / a / f"{a}.ipynb")
    shutil.copy2(REPO / "course" / "nbgrader_config.py", course / "nbgrader_config.py")
    for a in (A1, A4):
        r = _cli(course, "release", a)
        assert r.returncode == 0, r.stderr
    released = {a: read_notebook(course / "release" / a / f"{a}.ipynb") for a in (A1, A4)}
    sols = {a: _solutions(_source(a)) for a in (A1, A4)}
    hog_name = f"hog{uuid.uuid4().hex[:10]}"
    canary_path, secret = canary if canary else ("/nonexistent", "no-canary")
    students = {
        **{f"innocent_{k}": {A1: {}, A4: {}} for k in range(3)},
        "float_bomb": {A1: {"01_power_answer": 'dp_dx = "log(Float(2.1, 1000000000))"\n'}},
        "chain_bomb": {A4: {"04_chain_steps_answer": CHAIN_BOMB}},
        "cpu_hog": {A1: {"01_power_answer": HOG.replace("@@NAME@@", hog_name) + "dp_dx = 20 * x**4 - 6 * x\n"}},
        "canary_reader": {A1: {"01_power_answer": CANARY_READ.replace("@@CANARY@@", str(canary_path))}},
        "ansi_fatal": {A1: {"01_compose_answer": ANSI_FATAL}},
        "ansi_error": {A1: ANSI_ERROR},
    }
    for student, per_assignment in students.items():
        for a, changed in per_assignment.items():
            nb = with_answers(released[a], {**sols[a], **changed})
            write_notebook(nb, course / "submitted" / student / a / f"{a}.ipynb")
    t0 = time.time()
    run = _cli(course, "grade", "--jobs", "2", timeout=RUN_BOUND)
    took = time.time() - t0
    time.sleep(1.0)
    left = _named(hog_name)
    for pid in left:  # ours: started by cpu_hog, if the grader failed to end them
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    out = {"run": run, "took": took, "left": left, "secret": secret, "course": course}
    for a in (A1, A4):
        out[a] = graded_rows(course, a)
    return out


def _rows(graded, a, student):
    subs, rows = graded[a]
    sub = subs.get(student)
    assert sub is not None, f"{student} has no verdict for {a}: {graded['run'].stderr[-2000:]}"
    return sub, rows.get(student, {})


def test_the_run_completes_within_a_bounded_time(graded):
    run = graded["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert graded["took"] < RUN_BOUND


@pytest.mark.parametrize("a", [A1, A4])
def test_innocent_students_keep_full_marks(graded, a):
    for k in range(3):
        sub, rows = _rows(graded, a, f"innocent_{k}")
        assert sub.status == "graded", sub.reason
        auto = [r for r in rows.values() if r.kind == "auto"]
        assert auto and all(r.score == r.max_score for r in auto), [(r.grade_id, r.score, r.message) for r in auto]


def _only_lost(graded, a, student, lost: set[str]) -> dict:
    """The attacker's rows: every exercise but `lost` at full marks (the attack cost nothing else)."""
    sub, rows = _rows(graded, a, student)
    assert sub.status == "graded", sub.reason
    for r in rows.values():
        if r.kind == "auto" and r.grade_id not in lost:
            assert r.score == r.max_score, (student, r.grade_id, r.score, r.message)
    return rows


def test_a_huge_precision_float_costs_only_its_own_exercise(graded):
    rows = _only_lost(graded, A1, "float_bomb", {"01_power"})
    assert rows["01_power"].score == 0 and rows["01_power"].mistake in ("invalid", "ungraded")


def test_two_hundred_slow_chain_steps_entries_cost_only_their_own_exercise(graded):
    rows = _only_lost(graded, A4, "chain_bomb", {"04_chain_steps"})
    row = rows["04_chain_steps"]
    assert row.score == 0 and row.mistake == "ungraded" and "CPU time" in row.message, (row.score, row.message)


def test_a_cpu_hog_harms_no_neighbour_and_leaves_no_process(graded):
    """The innocent students (above) keep full marks beside it; its 120 processes end with its run."""
    sub, _ = _rows(graded, A1, "cpu_hog")
    assert sub.status in ("graded", "ungraded")
    assert graded["left"] == [], "processes of the CPU hog outlived the grade run"


@pytest.mark.skipif(not ROOT, reason="a root-owned canary needs a root grader")
def test_a_root_only_file_is_unreadable_from_the_sandbox(graded):
    rows = _only_lost(graded, A1, "canary_reader", {"01_power"})
    assert rows["01_power"].score == 0
    texts = [str(r.message) + str(r.detail) for r in rows.values()]
    assert not any(graded["secret"] in t for t in texts)


def test_sandbox_text_is_recorded_and_printed_clean(graded):
    run = graded["run"]
    printed = run.stdout + run.stderr
    assert "\x1b" not in printed and "\u202e" not in printed, ESC_FREE
    assert not any(line.startswith("graded 30") for line in printed.splitlines())
    sub, _ = _rows(graded, A1, "ansi_fatal")
    assert sub.status == "ungraded" and "RED" in sub.reason and _clean(sub.reason), repr(sub.reason)
    sub, rows = _rows(graded, A1, "ansi_error")
    assert sub.status == "graded"
    for gid in ("01_power", "01_product", "01_chain_fn"):
        assert rows[gid].score == 0 and _clean(rows[gid].message), (gid, repr(rows[gid].message))
    assert any("RED" in (rows[g].message or "") for g in ("01_product", "01_chain_fn"))


# ---------------------------------------------------------------------------------------------
# the same properties one at a time


def _run(code: str, **limits):
    from autograder import sandbox

    steps = [{"code": code, "cell": 1},
             {"extract": [{"grade_id": "g", "kind": "value", "answer": "out"}], "cell": 2}]
    return sandbox.run(steps, limits=sandbox.Limits(**{"timeout": 60, "cell_timeout": 30, **limits}))


def _out(run):
    from autograder.wire import decode

    answer = run.answers[("g", None)]
    assert answer["status"] == "ok", (answer, run.ungraded, run.cell_errors)
    return decode(answer["value"])


WORKS = textwrap.dedent("""\
    import os, resource
    out = {"uid": os.getuid(), "gid": os.getgid()}
    try:
        out["canary"] = open(CANARY).read()
    except OSError as exc:
        out["canary"] = type(exc).__name__
    with open("written.txt", "w") as fh:
        fh.write("mine")
    out["written"] = open("written.txt").read()
    import csv, statistics, xml.dom.minidom, scipy.special   # not loaded before the notebook ran
    out["imported"] = True
    out["memory"] = resource.getrlimit(resource.RLIMIT_AS)[0]
    out["cgroup"] = [ln for ln in open("/proc/self/cgroup").read().splitlines() if "chainrule-sbx-" in ln]
    out["fds"] = len(os.listdir("/proc/self/fd"))
    """)


@pytest.mark.slow
@pytest.mark.skipif(not ROOT, reason="a root-owned canary needs a root grader")
@pytest.mark.parametrize("mode", ["zygote", "subprocess"])
def test_the_sandbox_is_unprivileged_yet_writes_its_folder_imports_and_is_limited(canary, monkeypatch, mode):
    monkeypatch.setenv("CHAINRULE_SANDBOX", mode)
    path, secret = canary
    run = _run(f"CANARY = {str(path)!r}\n" + WORKS, memory_mb=1500)
    assert run.ungraded is None and run.warning is None, (run.ungraded, run.warning, run.cell_errors)
    out = _out(run)
    assert out["uid"] != 0 and out["gid"] != 0
    assert out["canary"] == "PermissionError"
    assert out["written"] == "mine" and out["imported"] and out["fds"] > 0
    assert out["memory"] == 1500 * 2**20
    assert out["cgroup"], "the sandbox is not in its own cgroup"


SLEEPER = "import time\ntime.sleep(5)\nout = 1\n"
SPINNERS = textwrap.dedent("""\
    import os, time
    for _i in range(2):
        if os.fork() == 0:
            os.setsid()
            while True:
                pass
    time.sleep(25)
    out = 1
    """)


def _has_cgroup() -> bool:
    from autograder.isolation import _cgroup_bases

    return ROOT and ("cpuacct" in _cgroup_bases() or "unified" in _cgroup_bases())


@pytest.mark.slow
@pytest.mark.skipif(not _has_cgroup(), reason="no cgroup to count the sandbox's CPU time in")
def test_the_time_limit_counts_cpu_time_of_the_whole_sandbox():
    """Waiting costs no time (a 4 s limit, a 5 s sleep: graded); processes that left the notebook's
    session are counted (a sleeping notebook whose two spinning children use its 4 s: stopped)."""
    run = _run(SLEEPER, timeout=4)
    assert run.ungraded is None and _out(run) == 1
    run = _run(SPINNERS, timeout=4)
    assert run.ungraded is not None and run.ungraded.startswith("time limit 4 s exceeded at cell 1"), run.ungraded


SHARE = textwrap.dedent("""\
    import os, time
    _cg = [ln.split(":")[2] for ln in open("/proc/self/cgroup").read().splitlines() if ":cpuacct:" in ln][0]
    _usage = f"/sys/fs/cgroup/cpuacct{_cg}/cpuacct.usage"
    for _i in range(30):
        if os.fork() == 0:
            os.setsid()
            while True:
                pass
    time.sleep(1.0)                     # the grader moves them below the notebook
    c0, g0 = time.process_time(), int(open(_usage).read())
    while time.process_time() - c0 < 1.0:
        pass
    out = (time.process_time() - c0) / ((int(open(_usage).read()) - g0) * 1e-9)
    """)


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT and os.path.isdir("/sys/fs/cgroup/cpuacct")), reason="cgroup v1 cpuacct needed")
def test_the_notebook_outweighs_the_processes_it_starts():
    """30 busy processes in their own sessions: the notebook's own process still gets most of its
    sandbox's CPU (its share of the sandbox's CPU time, measured inside: load-independent)."""
    share = _out(_run(SHARE))
    assert share > 0.5, share


# ---------------------------------------------------------------------------------------------
# the judging pool


def _expression_case(text: str):
    from autograder.spec import Exercise

    spec = {"kind": "expression", "answer": "ans", "symbols": ["x"]}
    ex = Exercise("g", "nb", 1.0, "expression", "ans", "g_answer", spec, (), False)
    return ex, {"expected": {"status": "ok", "text": "20*x**4 - 6*x"}, "wrong": []}, {"status": "ok", "text": text}


def test_judging_limits_cost_one_exercise_and_the_worker_is_replaced():
    from autograder.judging_pool import JudgeLimits, JudgePool

    pool = JudgePool(1, JudgeLimits(budget_cpu_s=6, exercise_cpu_s=3, memory_mb=1024))
    try:
        budget = pool.budget()
        slow = budget.judge(*_expression_case("+".join(f"exp(Float(1.5, 60000)*{k})" for k in range(40))))
        assert slow.credit == 0 and slow.mistake in ("ungraded", "invalid", "different"), slow
        right = budget.judge(*_expression_case("x*(20*x**3 - 6)"))
        assert right.credit == 1.0 or right.mistake == "ungraded", right
        fresh = pool.budget()
        assert fresh.judge(*_expression_case("20*x**4 - 6*x")).credit == 1.0
        spent = pool.budget()
        spent.left = 0.1
        v = spent.judge(*_expression_case("20*x**4 - 6*x"))
        assert v.mistake == "ungraded" and "budget" in v.message and spent.ungraded
    finally:
        pool.close()


def test_a_worker_killed_mid_request_is_an_ungraded_exercise_not_a_crash():
    from autograder.judging_pool import JudgeLimits, JudgePool

    pool = JudgePool(1, JudgeLimits())
    try:
        pool.judge(*_expression_case("x"), 5)  # started
        worker = pool._idle.queue[0]
        os.kill(worker.proc.pid, signal.SIGKILL)
        v, _ = pool.judge(*_expression_case("20*x**4 - 6*x"), 5)
        assert v.mistake == "ungraded" and "worker" in v.message
        v, _ = pool.judge(*_expression_case("20*x**4 - 6*x"), 5)
        assert v.credit == 1.0
    finally:
        pool.close()


def test_a_malformed_verdict_from_a_worker_is_refused():
    from autograder.judging_pool import _verdict

    for bad in ([], {"credit": 2.0, "mistake": None, "message": None, "detail": {}},
                {"credit": 1.0, "mistake": 3, "message": None, "detail": {}},
                {"credit": True, "mistake": None, "message": None, "detail": {}},
                {"credit": 1.0, "mistake": None, "message": None, "detail": []}):
        with pytest.raises(ValueError):
            _verdict(bad)
    assert _verdict({"credit": 0.5, "mistake": "x", "message": "m", "detail": {}}).credit == 0.5


def test_a_worker_that_cannot_be_replaced_does_not_stop_the_next_submission(monkeypatch):
    """A replacement worker that fails to start (fork refused, out of memory) costs the request that
    needed it; the next request starts the pool again instead of waiting forever on an empty queue."""
    import threading

    from autograder.judging_pool import JudgeLimits, JudgePool

    pool = JudgePool(1, JudgeLimits())
    try:
        pool.judge(*_expression_case("x"), 5)  # started
        os.kill(pool._idle.queue[0].proc.pid, signal.SIGKILL)
        real, failed = pool._spawn, []

        def refuse_once():
            if not failed:
                failed.append(True)
                raise OSError("fork refused")
            return real()
        monkeypatch.setattr(pool, "_spawn", refuse_once)
        with pytest.raises(OSError):
            pool.judge(*_expression_case("20*x**4 - 6*x"), 5)
        result = []
        t = threading.Thread(target=lambda: result.append(pool.judge(*_expression_case("20*x**4 - 6*x"), 5)),
                             daemon=True)
        t.start()
        t.join(60)
        assert result and result[0][0].credit == 1.0, "the next request waited on an empty pool"
    finally:
        pool.close()
