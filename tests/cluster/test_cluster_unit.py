"""autograder.cluster without a grading run: the task's plain data both ways, the fingerprint, the
refusal of another chainrule, a task that fails on the worker, and --cluster usage errors."""
from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import cluster, sandbox
from autograder.course import CourseError

pytestmark = pytest.mark.xdist_group("cluster")


def test_a_run_result_travels_as_plain_data_and_comes_back_equal():
    res = sandbox.RunResult(answers={("g1", None): {"kind": "value", "v": [1, 2]}, ("g1", 0): None},
                            cell_errors={3: "ValueError: x", None: "?"}, last_cell=7, stopped_at=None,
                            ungraded=None, warning="no cgroup", tampered=2, started=1.0, ended=2.5, pid=42)
    d = cluster.result_to_dict(res)
    assert all(isinstance(k, str) for k in d) and isinstance(d["answers"], list)
    assert pickle.loads(pickle.dumps(d)) == d
    assert cluster.result_from_dict(d) == res


def test_the_fingerprint_names_the_version_and_changes_with_any_source_file(tmp_path):
    import shutil

    import autograder

    fp = cluster.fingerprint()
    assert fp.startswith("chainrule 0.") and fp.endswith(")") and len(fp.rsplit("(", 1)[1]) == 13
    copy = Path(shutil.copytree(Path(autograder.__file__).parent, tmp_path / "autograder",
                                ignore=shutil.ignore_patterns("__pycache__")))
    before = cluster.source_hash([copy])
    assert before == cluster.source_hash([Path(autograder.__file__).parent])
    with open(copy / "judge.py", "a") as fh:
        fh.write("\n# one more line\n")
    edited = cluster.source_hash([copy])
    assert edited != before
    (copy / "judge.py").rename(copy / "judge2.py")                       # a renamed file counts too
    assert cluster.source_hash([copy]) not in (before, edited)


def test_a_task_for_another_chainrule_is_refused_not_run():
    task = {"fingerprint": "chainrule 9.9 (000000000000)", "steps": [], "files": [], "limits": {},
            "protect": []}
    reply = cluster.run_task(task)
    assert "result" not in reply
    assert "it runs " + cluster.fingerprint() in reply["refused"] and "chainrule 9.9 (000000000000)" in reply["refused"]


def test_file_bundle_walks_folders_and_task_files_stay_in_their_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1,2\n")
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    bundle = cluster.file_bundle([tmp_path / "data", tmp_path / "img.png"])
    assert sorted(bundle) == [("data/x.csv", b"1,2\n"), ("img.png", b"\x89PNG")]
    task = {"fingerprint": cluster.fingerprint(), "steps": [], "files": [("../escape", b"x")],
            "limits": {}, "protect": []}
    with pytest.raises(ValueError, match="outside its folder"):
        cluster.run_task(task)


@pytest.mark.parametrize("address, says", [("local:0", "N >= 1"), ("local:x", "N >= 1"),
                                           ("nonsense", "scheduler address")])
def test_bad_cluster_addresses_are_one_line(address, says):
    with pytest.raises(CourseError, match=says):
        cluster.DaskSandboxes(address)


def test_an_unreachable_scheduler_is_one_line():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CourseError, match="cannot reach a Dask scheduler"):
        cluster.DaskSandboxes(f"tcp://127.0.0.1:{port}", timeout=2)


@pytest.mark.slow
def test_a_task_that_fails_on_the_worker_is_that_submissions_error_only(dask_cluster):
    """An exception inside the task (here: steps the sandbox cannot read) is retried, then raised as
    an ordinary error (grade records that one submission as a grader error), not as a lost cluster."""
    runs = cluster.DaskSandboxes(dask_cluster[0])
    try:
        job = SimpleNamespace(steps=5, notebook=SimpleNamespace(stem="broken", release_files=[]))
        with pytest.raises(TypeError):
            runs.run_student(job, limits=sandbox.Limits(timeout=20), protect=[])
    finally:
        runs.close()
