"""The self-check's pieces (chainrule_utils.fingerprint, .values, .verdicts, .selfcheck): fingerprints
round like the grader compares, a reference made of fingerprints names every numeric mistake with the
grader's own rule and sentence, the value rule is the grader's, and a missing data file never raises.
The end-to-end agreement with the grader on the real course is tests/autograder/test_student_answers.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule_utils import fingerprint as fp
from chainrule_utils import selfcheck
from chainrule_utils.diagnosis import ExactReference, diagnose_reference
from chainrule_utils.values import Other, plain, values_equal


def _printed(exp: np.ndarray, rtol: float = 1e-11, others=()):
    """The PrintedReference a release would store for `exp`, and the exact one the grader uses."""
    grids = fp.plan_grids([exp], list(others), rtol, approx=True)
    data = json.loads(json.dumps(fp.numeric_print(exp, grids, "salt", 0)))
    tol = rtol * np.maximum(1.0, np.abs(exp))
    return fp.PrintedReference(data, grids, "salt", 0), ExactReference(exp, tol)


RNG = np.random.default_rng(3)
J = RNG.uniform(-2, 2, size=(3, 3))
D = np.diag(RNG.uniform(0.5, 2, size=4))
V = RNG.uniform(-2, 2, size=5)
M = RNG.uniform(-2, 2, size=(3, 2))

CASES = [  # (expected, answer): every diagnosis of chainrule_utils.diagnosis
    (J, J * (1 + 1e-15)), (J, -J), (J, 2 * J), (J, 0.5 * J), (J, 1.37 * J), (J, -1.37 * J), (J, J.T), (J, -J.T),
    (J, 3 * J.T), (J, np.diag(np.diag(J))), (J, np.where(np.eye(3, dtype=bool), 9.0, J)), (J, np.zeros((3, 3))),
    (J, J + 1.0), (J, np.where(np.arange(9).reshape(3, 3) == 4, np.nan, J)), (J, J[:2]), (J, J.ravel()),
    (D, np.diag(D)), (D, np.diag(D) + 1), (np.diag(D), D), (np.diag(D), D + 1), (V, V.reshape(1, 5)),
    (V, V[::-1]), (M, M.T), (M, -M.T), (M, 2 * M.T), (M, M.T + 1), (np.array(2.5), np.array(-2.5)),
    (np.array(2.5), 5.0), (np.array(2.5), 3.5), (np.array(2.5), 1.25 * 1.37), (V, None), (V, "text"),
    (V, [[1, 2], [3]]), (V, V.astype(complex) + 1e-3j), (V, V * (1 + 1e-9)),
]


@pytest.mark.parametrize(("exp", "got"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_a_reference_of_fingerprints_names_the_mistake_the_exact_one_names(exp, got):
    printed, exact = _printed(np.asarray(exp, dtype=float))
    a, b = diagnose_reference(got, exact), diagnose_reference(got, printed)
    assert (b.kind, b.message) == (a.kind, a.message)


def test_fingerprints_ignore_floating_point_noise_and_see_the_tolerance():
    for trial in range(200):
        rng = np.random.default_rng(trial)
        exp = rng.uniform(-50, 50, size=6) * 10.0 ** rng.integers(-3, 3)
        printed, _ = _printed(exp)
        assert printed.close_all(exp * (1 + rng.uniform(-4e-16, 4e-16, size=6)))
        assert not printed.close(exp + 1e-7 * np.maximum(1, np.abs(exp))).any()


def test_a_release_refuses_values_it_cannot_keep_away_from_a_rounding_boundary():
    with pytest.raises(ValueError):
        fp.choose_grid(np.arange(4000) / 4000, 1.0)
    grid = fp.choose_grid([0.0, 0.25, 0.5], 1.0)
    assert min(abs((v / grid.q + grid.offset) % 1 - 0.5) for v in (0.0, 0.25, 0.5)) <= 0.5 - 0.1


def test_the_self_check_data_holds_no_expected_value():
    exp = np.array([[1.234567, -2.5], [0.75, 3.141593]])
    grids = fp.plan_grids([exp], [], 1e-11, approx=True)
    text = json.dumps({"grids": grids.to_json(), "ref": fp.numeric_print(exp, grids, "salt", 0)})
    for v in exp.ravel():
        for shown in (f"{v:g}", f"{v:.3g}", repr(float(v))):
            assert shown not in text


@pytest.mark.parametrize("value", [
    (np.int64(2), np.int64(3)), [np.float32(1.5), 2], np.array(2.5), np.array([1, 2]), np.bool_(True),
    {"a": np.int8(1)}, None, "text", 10**500, object(), np.array(["a"]), 3 + 0j,
])
def test_plain_is_what_the_grader_receives(value):
    from autograder.kinds._numbers import numeric
    from autograder.wire import decode, encode

    got, grader = plain(value), decode(encode(numeric(value)))
    if isinstance(grader, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == grader.dtype and np.array_equal(got, grader)
    elif hasattr(grader, "type_name"):
        assert isinstance(got, Other)
    else:
        assert got == grader and type(got) is type(grader)


def test_one_value_rule_for_tuples_of_numpy_integers():
    grids = fp.plan_grids([np.array([2.0, 3.0])], [], 1e-7)
    stored = fp.value_print((2, 3), grids.exact, "s")
    for answer in [(np.int64(2), np.int64(3)), [2, 3], (2.0, 3.0), (np.array(2), 3)]:
        assert values_equal(plain(answer), (2, 3), 1e-7, 0)
        assert fp.value_matches(plain(answer), stored, grids.exact, "s")
    for answer in [(3, 2), (2, 3, 1), np.array([2, 3]), "(2, 3)", (True, 3)]:
        assert not values_equal(plain(answer), (2, 3), 1e-7, 0)
        assert not fp.value_matches(plain(answer), stored, grids.exact, "s")


def test_check_without_data_prints_one_line_and_never_raises(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    selfcheck.check("01_power", object())
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "selfcheck.json" in out[0]
    (tmp_path / "selfcheck.json").write_text(json.dumps({"format": selfcheck.FORMAT, "exercises": {}}))
    selfcheck.check("01_power", object())
    assert "no data for 01_power" in capsys.readouterr().out
    (tmp_path / "selfcheck.json").write_text("{not json")
    selfcheck.check("01_power", object())
    assert "selfcheck.json" in capsys.readouterr().out


def test_a_failed_self_check_shows_its_sentence_without_a_traceback():
    err = selfcheck.SelfCheckFailed("Self-check of f: wrong.")
    assert isinstance(err, AssertionError)
    assert "Self-check of f: wrong." in err._render_traceback_()[0]


def test_a_time_limit_landing_in_a_destructor_prints_nothing_and_still_stops_the_call(capfd):
    import time

    from chainrule_utils.symbolic.timelimit import call_with_timeout

    class Slow:
        def __del__(self):
            t = time.monotonic()
            while time.monotonic() - t < 0.02:
                pass

    def spin():
        while True:
            Slow()
            t = time.monotonic()
            while time.monotonic() - t < 0.02:
                pass

    for _ in range(5):
        start = time.monotonic()
        assert call_with_timeout(spin, 0.1) == (False, None)
        assert time.monotonic() - start < 2.0
    captured = capfd.readouterr()
    assert "Exception ignored" not in captured.err and "Timeout" not in captured.err
