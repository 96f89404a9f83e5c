"""The numdiff benchmark script runs (tiny sizes; the speed goals themselves live in bench/, not here)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_numdiff.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_numdiff", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_sections_run_and_report_their_goals(capsys):
    pytest.importorskip("scipy")
    bench = _load()
    assert bench.bench_badly_scaled(1, True, False) is True  # complex step <= 1e-14: an accuracy goal
    assert bench.bench_smooth_accuracy(False) is True
    assert bench.bench_speed(30, 1, True) in (True, False)
    out = capsys.readouterr().out
    assert "scipy approx_derivative 3-point (baseline)" in out and "speed-up" in out


def test_bench_rejects_bad_arguments():
    bench = _load()
    with pytest.raises(SystemExit):
        bench.main(["--n", "0"])
