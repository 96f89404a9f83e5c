"""`grade` end to end on the tiny course: real notebooks, real sandboxes, one batch of submissions.

Every attack below leaves the `t_jac` exercise unanswered (or wrongly answered) and tries to get
its points anyway; each must score 0 there. Broken notebooks must not stop the batch.
"""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import time

import nbformat
import pytest
from coursekit import PYTHON, TINY, code, make_tiny_course

from autograder.notebooks import read_notebook, solution_sources, with_answers
from autograder.results import ResultsStore

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("core_grade")]

FULL = 6.0  # autograded points of the tiny assignment (plus 1 manual)


def _cmd(course, *args, timeout=600):
    return subprocess.run([PYTHON, "-m", "autograder", "--course", str(course), *args],
                          capture_output=True, text=True, timeout=timeout)


def _submit(course, student, nb):
    folder = course / "submitted" / student / TINY
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        (folder / f"{TINY}.ipynb").write_text(nb)
    else:
        nbformat.write(nb, str(folder / f"{TINY}.ipynb"))
    (folder / "timestamp.txt").write_text("2026-11-20 10:00:00.000000 UTC")


def _index(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _variant(rel, sols, answers=None, *, before=None, after=None, delete=(), edit=None, blank=()):
    """The release copy with solutions (minus `blank` ids), `answers` swapped in, a cell inserted
    before the t_jac answer (`before`) or at the end (`after`), cells deleted or edited by grade_id."""
    chosen = {k: v for k, v in sols.items() if k not in blank}
    chosen.update(answers or {})
    nb = with_answers(rel, chosen)
    for gid, src in (edit or {}).items():
        nb.cells[_index(nb, gid)].source = src
    for gid in delete:
        del nb.cells[_index(nb, gid)]
    if before is not None:
        nb.cells.insert(_index(nb, "t_jac_answer"), code(before))
    if after is not None:
        nb.cells.append(code(after))
    return nb


BREACH = "jac_shape = (2, 3) if breached else (9, 9)\n"  # full marks on t_shape would reveal a breach


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade")
    course = make_tiny_course(root / "course")
    proc = _cmd(course, "release", TINY)
    assert proc.returncode == 0, proc.stderr
    rel = read_notebook(course / "release" / TINY / f"{TINY}.ipynb")
    sols = solution_sources(read_notebook(course / "source" / TINY / f"{TINY}.ipynb"))
    src_path = course / "source" / TINY / f"{TINY}.ipynb"
    db_path = course / "gradebook.db"
    wrong0 = {
        "t_jac_answer": "def dh_dx(x):\n    return np.cos(x) * x**2\n",
        "t_expr_answer": "d_expr = sp.cos(x**3)\n",
        "t_shape_answer": "jac_shape = (3, 2)\n",
        "t_chain_answer": "derivation = {'intermediates': {'u': 'sin(x)', 'y': 'exp(u)'}, 'local': {'u': 'cos(x)', "
                          "'y': 'exp(u)'}, 'product': 'exp(u) * cos(x)', 'result': 'exp(sin(x))'}\n",
    }
    subs = {
        "full": _variant(rel, sols),
        "blank": rel,
        "wrong": _variant(rel, sols, wrong0),
        "factor": _variant(rel, sols, {"t_jac_answer": "def dh_dx(x):\n    return 2 * (np.cos(x) * x**2 + "
                                                        "2 * x * np.sin(x))\n"}),
        "badjson": '{"cells": [ {"cell_type": "code", ',
        "deleted_test": _variant(rel, sols, delete=["t_jac", "lesson_h"]),
        "loop": _variant(rel, sols, before="while True:\n    pass\n"),
        "stubborn": _variant(rel, sols, before="import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                               "while True:\n    pass\n"),
        "exit_early": _variant(rel, sols, edit={"t_expr_answer": "import os\nos._exit(0)\n"}),
        "sysexit": _variant(rel, sols, before="import sys\nsys.exit(3)\n"),
        "killself": _variant(rel, sols, before="import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
        "membomb": _variant(rel, sols, before="hog = bytearray(8 * 2**30)\n"),
        "sleepy1": _variant(rel, sols, before="import time\ntime.sleep(4)\n"),
        "sleepy2": _variant(rel, sols, before="import time\ntime.sleep(4)\n"),
        # attacks: t_jac stays unanswered or wrong
        "atk_edit_test": _variant(rel, sols, {"t_jac_answer": "def dh_dx(x):\n    return x\n"},
                                  edit={"t_jac": "print('all tests passed')\n"}),
        "atk_delete_test": _variant(rel, sols, blank=["t_jac_answer"], delete=["t_jac"]),
        "atk_monkeypatch": _variant(rel, sols, {"t_jac_answer": "def dh_dx(x):\n    return np.zeros_like(x)\n"},
                                    before="import chainrule_utils, numpy\n"
                                           "chainrule_utils.check_jacobian = lambda *a, **k: True\n"
                                           "chainrule_utils.diagnose = lambda *a, **k: True\n"
                                           "numpy.allclose = lambda *a, **k: True\n"
                                           "numpy.testing.assert_allclose = lambda *a, **k: None\n"
                                           "numpy.array_equal = lambda *a, **k: True\n"),
        "atk_ipython": _variant(rel, sols, blank=["t_jac_answer"], before=(
            "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
            "ip.input_transformers_cleanup.append(lambda lines: ['dh_dx = lambda x: x\\n'])\n"
            "import ast\nclass T(ast.NodeTransformer):\n    pass\nip.ast_transformers.append(T())\n"
            "ip.run_cell = lambda *a, **k: None\n")),
        "atk_sysexit": _variant(rel, sols, blank=["t_jac_answer"], before="raise SystemExit(0)\n"),
        "atk_forge_fd": _variant(rel, sols, blank=["t_jac_answer"], before=(
            "import os, json\n"
            "fake = {'body': json.dumps({'seq': 2, 'type': 'answer', 'grade_id': 't_jac', 'variant': None, "
            "'answer': {'status': 'ok', 'probes': []}}), 'mac': '0' * 64}\n"
            "for fd in range(3, 64):\n"
            "    try:\n"
            "        os.write(fd, (json.dumps(fake) + '\\n').encode())\n"
            "    except OSError:\n"
            "        pass\n")),
        "atk_read_source": _variant(rel, sols, {"t_shape_answer": BREACH}, blank=["t_jac_answer"], before=(
            "breached = False\n"
            "try:\n"
            f"    text = open({str(src_path)!r}).read()\n"
            "    breached = 'BEGIN SOLUTION' in text\n"
            "except OSError:\n"
            "    pass\n")),
        "atk_forge_db": _variant(rel, sols, {"t_shape_answer": BREACH}, blank=["t_jac_answer"], before=(
            "import sqlite3\nbreached = False\n"
            "try:\n"
            f"    db = sqlite3.connect({str(db_path)!r})\n"
            "    db.execute(\"insert into chainrule_submission values ('00_tiny', 'mallory', 'graded', null, "
            "99, 7, 'x', 1, null)\")\n"
            "    db.commit()\n"
            "    breached = True\n"
            "except Exception:\n"
            "    pass\n")),
        "atk_write_grader_file": _variant(rel, sols, {"t_shape_answer": BREACH}, blank=["t_jac_answer"], before=(
            "import os\nbreached = False\n"
            "try:\n"
            f"    os.makedirs({str(course / 'autograded' / 'mallory')!r}, exist_ok=True)\n"
            f"    open({str(course / 'autograded' / 'mallory' / 'x.txt')!r}, 'w').write('forged')\n"
            "    breached = True\n"
            "except OSError:\n"
            "    pass\n")),
        "atk_hand_sympy": _variant(rel, sols, {"t_expr_answer": "d_expr = sp.diff(sp.sin(x**3), x)\n"}),
        "atk_hand_numjac": _variant(rel, sols, {"t_jac_answer": (
            "from chainrule_utils import numerical_jacobian\n"
            "def dh_dx(x):\n    return np.diag(numerical_jacobian(h, x, method='richardson'))\n")}),
        "atk_hand_complex": _variant(rel, sols, {"t_jac_answer": (
            "def dh_dx(x):\n    return np.imag(h(x + 1e-30j)) / 1e-30\n")}),
        "atk_tripwire": _variant(rel, sols, {"t_jac_answer": (
            "_h = h\n"
            "def dh_dx(x):\n    e = 1e-6\n    return (_h(x + e) - _h(x - e)) / (2 * e)\n")}),
    }
    for student, nb in subs.items():
        _submit(course, student, nb)
    t0 = time.time()
    proc = _cmd(course, "grade", "--jobs", "2", "--timeout", "25", "--cell-timeout", "3", "--memory", "1024")
    elapsed = time.time() - t0
    store = ResultsStore(f"sqlite:///{db_path}")
    subs_rows = {s.student: s for s in store.submissions(TINY)}
    results = {}
    for r in store.results(TINY):
        results.setdefault(r.student, {})[r.grade_id] = r
    return {"n": len(subs), "course": course, "proc": proc, "subs": subs_rows, "res": results, "elapsed": elapsed,
            "store": store, "db": db_path}


def _scores(g, student):
    return {gid: r.score for gid, r in g["res"][student].items() if r.kind == "auto"}


def test_batch_finishes_and_lists_ungraded(graded):
    proc = graded["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ungraded 00_tiny/badjson: not a valid notebook" in proc.stderr
    assert len(graded["subs"]) == graded["n"] == 27  # every submission has a verdict, broken ones included


def test_full_marks_blank_zero_and_rows_in_both_gradebooks(graded):
    assert _scores(graded, "full") == {"t_jac": 2.0, "t_expr": 1.0, "t_shape": 1.0, "t_chain": 2.0}
    full = graded["subs"]["full"]
    assert (full.status, full.score, full.max_score) == ("graded", FULL, 7.0)
    assert full.timestamp.startswith("2026-11-20")
    manual = graded["res"]["full"]["t_written"]
    assert manual.kind == "manual" and manual.score is None and manual.max_score == 1.0
    assert set(_scores(graded, "blank").values()) == {0.0}
    assert {r.mistake for r in graded["res"]["blank"].values() if r.kind == "auto"} == {"unanswered"}
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['db']}") as gb:
        sub = gb.find_submission(TINY, "full")
        grades = {g.name: (g.auto_score, g.needs_manual_grade) for g in sub.notebooks[0].grades}
        assert grades["t_jac"] == (2.0, False) and grades["t_chain"] == (2.0, False)
        assert grades["t_written"] == (None, True)
        assert gb.find_submission(TINY, "blank").score == 0.0
        assert {s.id for s in gb.students} >= {"full", "blank", "badjson"}


def test_catalogued_wrong_answers_get_their_message(graded):
    res = graded["res"]["wrong"]
    assert res["t_jac"].score == 0 and res["t_jac"].mistake == "product_rule_half"
    assert res["t_jac"].message == "The product rule has two terms; you kept one."
    assert (res["t_expr"].score, res["t_expr"].mistake) == (0, "missing_inner")
    assert (res["t_shape"].score, res["t_shape"].mistake) == (0, "denominator_layout")
    assert res["t_chain"].score == pytest.approx(1.5) and res["t_chain"].mistake == "forgot_inner"
    factor = graded["res"]["factor"]["t_jac"]
    assert factor.score == 0 and factor.mistake == "factor" and "2" in factor.message


def test_broken_notebooks(graded):
    subs, res = graded["subs"], graded["res"]
    assert subs["badjson"].status == "ungraded" and subs["badjson"].reason.startswith("not a valid notebook")
    assert _scores(graded, "deleted_test") == _scores(graded, "full")  # locked cells put back
    auto = read_notebook(graded["course"] / "autograded" / "deleted_test" / TINY / f"{TINY}.ipynb")
    text = "\n".join(c.source for c in auto.cells)
    assert "check_jacobian(h, lambda v" in text and "grading" not in text and "def h(x)" in text
    assert _scores(graded, "loop") == _scores(graded, "full")  # per-cell timeout, then the rest runs
    assert subs["stubborn"].status == "ungraded" and "time limit 25 s exceeded at cell" in subs["stubborn"].reason
    assert subs["killself"].status == "ungraded" and "kernel died (SIGKILL" in subs["killself"].reason
    assert subs["membomb"].status in ("graded", "ungraded")
    if subs["membomb"].status == "graded":
        assert _scores(graded, "membomb") == _scores(graded, "full")
    # os._exit ends the run like a killed kernel: ungraded with the reason, never a silent zero
    assert subs["exit_early"].status == "ungraded" and "kernel exited (code 0, os._exit?)" in subs["exit_early"].reason
    assert {r.mistake for r in res["sysexit"].values() if r.kind == "auto"} == {"stopped"}


@pytest.mark.parametrize("student", ["atk_edit_test", "atk_delete_test", "atk_monkeypatch", "atk_ipython",
                                     "atk_sysexit", "atk_forge_fd", "atk_read_source", "atk_forge_db",
                                     "atk_write_grader_file", "atk_hand_numjac", "atk_hand_complex",
                                     "atk_tripwire"])
def test_attack_scores_zero_on_the_unanswered_exercise(graded, student):
    assert graded["subs"][student].status == "graded"
    assert graded["res"][student]["t_jac"].score == 0.0


def test_attacks_on_files_and_channels_failed_visibly(graded):
    res = graded["res"]
    for student in ("atk_read_source", "atk_forge_db", "atk_write_grader_file"):
        assert res[student]["t_shape"].score == 0.0, f"{student} breached the sandbox"
    assert "mallory" not in graded["subs"]
    assert not (graded["course"] / "autograded" / "mallory").exists()
    assert res["atk_forge_fd"]["t_jac"].detail.get("tampered_lines", 0) > 0
    # its input transformer turns every cell into a wrong answer: judged as one, never a pass
    assert res["atk_ipython"]["t_jac"].mistake in ("forbidden", "missing", "unanswered", "wrong")


def test_hand_exercises_forbid_differentiation_routines(graded):
    res = graded["res"]
    sym = res["atk_hand_sympy"]
    assert sym["t_expr"].score == 0 and sym["t_expr"].mistake == "forbidden"
    assert "sympy's diff" in sym["t_expr"].message and "cell" in sym["t_expr"].message
    # only the answer the routine computed loses: t_jac's own answer is clean
    assert sym["t_jac"].score == sym["t_jac"].max_score
    assert sym["t_shape"].score == 1.0  # not a hand exercise
    assert "numerical_jacobian" in res["atk_hand_numjac"]["t_jac"].message
    assert res["atk_hand_complex"]["t_jac"].mistake == "forbidden"
    # a finite difference on a saved reference to the target: h evaluated away from the probe point
    trip = res["atk_tripwire"]["t_jac"]
    assert trip.score == 0 and trip.mistake == "forbidden" and "evaluated h" in trip.message


def test_two_sandboxes_run_at_once_and_never_more(graded):
    spans = sorted(tuple(r["t_jac"].detail["run"]) for s, r in graded["res"].items() if "t_jac" in r
                   and "run" in r["t_jac"].detail)
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    live = peak = 0
    for _, d in events:
        live += d
        peak = max(peak, live)
    assert peak == 2
    s1, s2 = (tuple(graded["res"][s]["t_jac"].detail["run"]) for s in ("sleepy1", "sleepy2"))
    assert s1[0] < s2[1] and s2[0] < s1[1] or peak == 2


def test_regrade_only_with_force_and_bad_arguments(graded):
    course = graded["course"]
    proc = _cmd(course, "grade")
    assert proc.returncode == 0 and "nothing to grade" in proc.stderr
    proc = _cmd(course, "grade", "--student", "nobody")
    assert proc.returncode == 2 and "nobody" in proc.stderr
    proc = _cmd(course, "grade", "--jobs", "0")
    assert proc.returncode == 2
    proc = _cmd(course, "grade", "no_such_assignment")
    assert proc.returncode == 2 and "unknown assignment" in proc.stderr


def test_resubmission_is_regraded_without_force(tmp_path):
    """A new timestamp.txt (or, without one, a newer notebook) means a new submission: `grade` regrades
    it without --force and leaves unchanged submissions alone."""
    import os

    course = make_tiny_course(tmp_path / "course")
    assert _cmd(course, "release", TINY).returncode == 0
    rel = read_notebook(course / "release" / TINY / f"{TINY}.ipynb")
    sols = solution_sources(read_notebook(course / "source" / TINY / f"{TINY}.ipynb"))
    _submit(course, "stamped", _variant(rel, sols))                      # full marks, with timestamp.txt
    _submit(course, "unstamped", rel)                                   # blank, no timestamp.txt
    _submit(course, "same", _variant(rel, sols))                        # never changes
    unstamped = course / "submitted" / "unstamped" / TINY
    (unstamped / "timestamp.txt").unlink()
    first = _cmd(course, "grade", "--jobs", "1")
    assert first.returncode == 0, first.stderr
    store = ResultsStore(f"sqlite:///{course / 'gradebook.db'}")
    before = {s.student: s for s in store.submissions(TINY)}
    assert {s: r.score for s, r in before.items()} == {"stamped": FULL, "unstamped": 0.0, "same": FULL}
    assert before["unstamped"].timestamp  # the notebook's mtime stands in for the missing timestamp.txt
    assert "nothing to grade" in _cmd(course, "grade").stderr

    _submit(course, "stamped", rel)                                     # resubmitted blank, new timestamp
    (course / "submitted" / "stamped" / TINY / "timestamp.txt").write_text("2026-11-21 09:00:00.000000 UTC")
    nb_path = unstamped / f"{TINY}.ipynb"
    nbformat.write(_variant(rel, sols), str(nb_path))                  # resubmitted full, newer mtime
    t = os.stat(nb_path).st_mtime + 60
    os.utime(nb_path, (t, t))
    second = _cmd(course, "grade", "--jobs", "1")
    assert second.returncode == 0, second.stderr
    after = {s.student: s for s in ResultsStore(f"sqlite:///{course / 'gradebook.db'}").submissions(TINY)}
    assert after["stamped"].score == 0.0 and after["stamped"].timestamp.startswith("2026-11-21")
    assert after["unstamped"].score == FULL and after["unstamped"].timestamp != before["unstamped"].timestamp
    assert after["same"].graded_at == before["same"].graded_at                 # not regraded
    assert "graded 2, ungraded 0" in second.stderr
    store.close()


def test_interrupt_keeps_finished_verdicts_and_rerun_grades_the_rest(tmp_path):
    course = make_tiny_course(tmp_path / "course")
    assert _cmd(course, "release", TINY).returncode == 0
    rel = read_notebook(course / "release" / TINY / f"{TINY}.ipynb")
    sols = solution_sources(read_notebook(course / "source" / TINY / f"{TINY}.ipynb"))
    students = [f"s{i}" for i in range(4)]
    for s in students:
        _submit(course, s, _variant(rel, sols, before="import time\ntime.sleep(2.5)\n"))
    db = course / "gradebook.db"
    proc = subprocess.Popen([PYTHON, "-m", "autograder", "--course", str(course), "grade", "--jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    done: list = []
    while time.time() < deadline and not done:
        time.sleep(0.3)
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    done = con.execute("select student, graded_at from chainrule_submission").fetchall()
            except sqlite3.OperationalError:
                done = []
    assert done, "no verdict within the time limit"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    kept = ResultsStore(f"sqlite:///{db}").submissions(TINY)
    assert 1 <= len(kept) < 4
    before = {s.student: s.graded_at for s in kept}
    rerun = _cmd(course, "grade", "--jobs", "1")
    assert rerun.returncode == 0, rerun.stderr
    assert f"[{4 - len(kept)}/{4 - len(kept)}]" in rerun.stderr
    after = {s.student: s for s in ResultsStore(f"sqlite:///{db}").submissions(TINY)}
    assert set(after) == set(students) and all(s.score == FULL for s in after.values())
    assert all(after[s].graded_at == t for s, t in before.items())  # finished verdicts were kept
