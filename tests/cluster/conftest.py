"""A Dask LocalCluster of 2 single-threaded worker processes (nanny-restarted when killed), shared by
the cluster tests (xdist group "cluster"), reached through its tcp:// address as an instructor's
scheduler would be; and probes drawn from a fixed seed so that two gradings can be compared exactly."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "autograder"))  # test_pipe_fixture


@pytest.fixture(scope="session")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield cluster.scheduler_address, client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def fixed_probes(monkeypatch):
    """Reference runs in this process draw their probes from seed 2024 (the same for every grading)."""
    monkeypatch.setattr("autograder.grading.secret_rng", lambda: np.random.default_rng(2024))
