"""`grade --cluster`: the same verdicts as local grading (every score, mistake, message and reason), a
worker killed mid-run changes no grade, a hostile submission harms nobody else, workers with another
chainrule are refused, and a coordinator or scheduler that dies loses nothing (a rerun finishes).

One sample class (2 assignments, correct/blank/wrong/broken submissions) is graded locally once with
probes from a fixed seed; each cluster grading runs on a fresh copy of the collected class with the
same seed and must store exactly the same verdicts."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scalekit import disagreements, sample_class, verdicts
from test_pipe_fixture import make_course

from autograder.__main__ import main

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cluster")]
LIMITS = ["--cell-timeout", "3", "--timeout", "60"]


def _db(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """The collected class, never graded (copy it before grading)."""
    course = make_course(tmp_path_factory.mktemp("cluster"))
    manifest = sample_class(course, 6, seed=21, broken=3)
    return course, manifest


def _copy(collected, where: Path) -> Path:
    course = shutil.copytree(collected[0], where / "course")
    for leftover in ("gradebook.db", "autograded"):
        path = course / leftover
        if path.is_dir():
            shutil.rmtree(path)
    return course


def _grade(course: Path, *extra: str) -> int:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("autograder.grading.secret_rng", lambda: np.random.default_rng(2024))
        return main(["--course", str(course), "grade", *LIMITS, *extra])


@pytest.fixture(scope="module")
def local_truth(collected, tmp_path_factory):
    course = _copy(collected, tmp_path_factory.mktemp("local"))
    assert _grade(course, "--jobs", "2") == 0
    got = verdicts(_db(course))
    assert not disagreements(collected[1], got)
    assert len(got) == len(collected[1]["submissions"])
    return got, course


def test_local_n_grades_exactly_like_local_grading(collected, local_truth, tmp_path, capsys):
    local_truth, local_course = local_truth
    course = _copy(collected, tmp_path)
    assert _grade(course, "--cluster", "local:2") == 0
    err = capsys.readouterr().err
    assert "grading on Dask cluster tcp://" in err and "2 worker(s), 2 thread(s)" in err
    assert f"[{len(local_truth)}/{len(local_truth)}]" in err                # the same progress lines
    assert f"graded {sum(v[0] == 'graded' for v in local_truth.values())}, ungraded" in err
    assert verdicts(_db(course)) == local_truth
    local = _autograded(local_course)
    assert local and _autograded(course) == local                   # the same autograded notebooks


def _autograded(course: Path) -> dict:
    return {str(p.relative_to(course)): p.read_bytes() for p in (course / "autograded").rglob("*.ipynb")}


def test_a_worker_killed_mid_run_changes_no_grade(collected, local_truth, dask_cluster, tmp_path):
    local_truth, _ = local_truth
    address, client = dask_cluster
    course = _copy(collected, tmp_path)
    killed: list = []
    stop = threading.Event()

    def killer():
        deadline = time.time() + 120
        while not stop.is_set() and time.time() < deadline and not killed:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                time.sleep(0.3)                                    # well inside a sandbox run
                pids = client.run(os.getpid)
                for w, keys in client.processing().items():
                    if keys and w in pids:
                        os.kill(pids[w], signal.SIGKILL)
                        killed.append((w, list(keys)))
                        break
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        assert _grade(course, "--cluster", address) == 0
    finally:
        stop.set()
        t.join()
    assert killed, "no worker was busy to be killed"
    assert verdicts(_db(course)) == local_truth
    client.wait_for_workers(2, timeout=300)                        # the nanny brings it back


HOSTILE = {
    "cpu_hog": "import threading\nfor _ in range(4):\n    threading.Thread(target=lambda: [0 for _ in iter(int, 1)], daemon=True).start()\nwhile True:\n    pass\n",
    "crash": "import ctypes\nctypes.string_at(0)\n",
    "huge_output": "import sys\nfor _ in range(60):\n    sys.stdout.write('x' * 5_000_000)\nd_cube = 'y' * 200_000_000\n",
    "memory_hog": "blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))\n",
}


def test_a_hostile_submission_on_a_worker_harms_nobody_else(collected, local_truth, dask_cluster, tmp_path):
    """Hostile students graded in the same batch on the same workers: every other verdict is unchanged,
    each hostile one costs only its own grade (ungraded with a reason, or zero), the workers live."""
    from autograder.notebooks import read_notebook, with_answers, write_notebook

    local_truth, _ = local_truth
    address, client = dask_cluster
    course = _copy(collected, tmp_path)
    released = read_notebook(course / "release" / "01_tiny" / "01_tiny.ipynb")
    for name, code in HOSTILE.items():
        nb = with_answers(released, {"01_cube_answer": code})
        write_notebook(nb, course / "submitted" / f"zz_{name}" / "01_tiny" / "01_tiny.ipynb")
    assert _grade(course, "--cluster", address) == 0
    got = verdicts(_db(course))
    assert {k: v for k, v in got.items() if not k[1].startswith("zz_")} == local_truth
    for name in HOSTILE:                            # each costs only its own grade, with a reason
        status, reason, score, rows = got[("01_tiny", f"zz_{name}")]
        if status == "ungraded":
            assert reason, name
        else:
            assert rows["01_cube"][0] == 0 and rows["01_cube"][2], (name, rows["01_cube"])
    assert len(client.nthreads()) == 2


def test_a_worker_with_another_chainrule_is_refused(collected, dask_cluster, capsys):
    """One worker claims another version: it is refused with both fingerprints named and no task runs
    there; when every worker differs, grading does not start."""
    from autograder import cluster, sandbox
    from autograder.course import CourseError
    from autograder.grading import build_reference, load_plan, student_job
    from autograder.notebooks import read_notebook

    address, client = dask_cluster
    client.wait_for_workers(2, timeout=300)
    workers = sorted(client.nthreads())

    def pretend(version):
        import autograder.cluster as c

        c.fingerprint = (lambda: version) if version else c.__dict__["_real_fingerprint"]
        return True

    def remember():
        import autograder.cluster as c

        c.__dict__.setdefault("_real_fingerprint", c.fingerprint)
        return True

    client.run(remember)
    course = collected[0]
    from autograder.course import Course

    plan = load_plan(Course.open(course), "02_small")
    nb = plan.notebooks[0]
    ref = build_reference(plan, limits=sandbox.Limits(timeout=30), protect=[])[nb.stem]
    job = student_job(nb, ref, read_notebook(course / "release" / "02_small" / "02_small.ipynb"))
    try:
        client.run(pretend, "chainrule 0.0.1 (0123456789ab)", workers=[workers[0]])
        runs = cluster.DaskSandboxes(address)
        try:
            for _ in range(3):
                res = runs.run_student(job, limits=sandbox.Limits(timeout=30), protect=[])
                assert res.ungraded is None and res.answers
            assert runs.threads == 1
        finally:
            runs.close()
        err = capsys.readouterr().err
        assert f"refusing Dask worker {workers[0]}: it runs chainrule 0.0.1 (0123456789ab), this grader runs " \
               f"{cluster.fingerprint()}" in err
        # a worker that changes after grading started is refused by the task itself
        client.run(pretend, None, workers=[workers[0]])
        runs = cluster.DaskSandboxes(address)
        try:
            assert runs.threads == 2
            client.run(pretend, "chainrule 0.0.2 (ba9876543210)", workers=[workers[1]])
            for _ in range(4):
                assert runs.run_student(job, limits=sandbox.Limits(timeout=30), protect=[]).answers
        finally:
            runs.close()
        assert "it runs chainrule 0.0.2 (ba9876543210)" in capsys.readouterr().err
        client.run(pretend, "chainrule 0.0.3 (ffffffffffff)")
        with pytest.raises(CourseError, match="no worker can grade: refusing Dask worker"):
            cluster.DaskSandboxes(address)
    finally:
        client.run(pretend, None)


def test_a_rerun_after_the_coordinator_dies_finishes_what_is_left(collected, dask_cluster, tmp_path):
    address, _ = dask_cluster
    course = _copy(collected, tmp_path)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    cmd = [sys.executable, "-m", "autograder", "--course", str(course), "grade", *LIMITS, "--cluster", address]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("[3/"):
            proc.kill()                                            # the coordinator dies, no clean-up
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    first = verdicts(_db(course))
    total = len(collected[1]["submissions"])
    assert 3 <= len(first) < total
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"[{total - len(first)}/{total - len(first)}]" in rerun.stderr     # only what was left
    got = verdicts(_db(course))
    assert len(got) == total and not disagreements(collected[1], got)
    assert {k: got[k] for k in first} == first                                  # nothing regraded


def test_a_lost_scheduler_stops_the_batch_and_keeps_the_verdicts(collected, dask_cluster, tmp_path, capsys):
    """The scheduler goes away mid-batch: one error line, exit 2, verdicts so far kept (no infrastructure
    failure is stored as a verdict), and a rerun on another cluster finishes the class."""
    import distributed

    course = _copy(collected, tmp_path)
    lone = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                                    silence_logs=logging.CRITICAL)
    results = {}

    def closer():
        deadline = time.time() + 120
        while time.time() < deadline:
            done = len(verdicts(_db(course))) if (course / "gradebook.db").exists() else 0
            if done >= 2:
                lone.close()
                return
            time.sleep(0.2)

    t = threading.Thread(target=closer, daemon=True)
    t.start()
    try:
        results["rc"] = _grade(course, "--cluster", lone.scheduler_address)
    finally:
        t.join()
        lone.close()
    err = capsys.readouterr().err
    kept = verdicts(_db(course))
    assert results["rc"] == 2, err[-2000:]
    assert "lost the Dask" in err and "rerun to grade the rest" in err
    assert 2 <= len(kept) < len(collected[1]["submissions"])
    assert not any("grader error" in (v[1] or "") for v in kept.values())
    assert _grade(course, "--cluster", dask_cluster[0]) == 0
    got = verdicts(_db(course))
    assert len(got) == len(collected[1]["submissions"]) and not disagreements(collected[1], got)
