"""diagnose: every kind is named when (and only when) it fits, and hostile answers never raise."""

import numpy as np
import pytest

from chainrule_utils import Diagnosis, check_array, diagnose
from chainrule_utils.diagnosis import KINDS

RNG = np.random.default_rng(0)


def _random_jacobian(m, n, rng):
    J = rng.uniform(-3, 3, size=(m, n))
    J[np.abs(J) < 0.1] += 0.5  # keep entries clearly non-zero
    return J


def test_correct_answer_is_ok_and_truthy():
    J = np.array([[1.0, 2.0], [3.0, 4.0]])
    d = diagnose(J.copy(), J)
    assert d.kind == "ok" and d and isinstance(d, Diagnosis)
    assert diagnose(J + 1e-12, J)  # rounding noise is not a mistake


def test_list_and_scalar_answers_are_accepted():
    assert diagnose([[1, 2], [3, 4]], np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert diagnose(2.5, 2.5)
    assert diagnose(np.float32(0.5), 0.5)
    assert not diagnose(2.6, 2.5)


def test_seed_003_worked_example_gradient_is_10_5():
    # h = u1 + u2**2 with u = (x1**2 + x2, x1*x2); grad h(1, 2) = (10, 5) (seed 003, worked example 1)
    expected = np.array([10.0, 5.0])
    assert diagnose([10, 5], expected)
    d = diagnose([5, 2.5], expected)
    assert d.kind == "factor" and d.details["factor"] == 0.5
    assert diagnose([[10, 5]], expected).kind == "shape"  # a 1x2 row where a gradient of shape (2,) is due


def test_transpose_square_and_rectangular():
    J = np.array([[1.0, 2.0], [3.0, 4.0]])
    d = diagnose(J.T, J)
    assert d.kind == "transpose" and "numerator layout" in d.message
    R = np.arange(6.0).reshape(2, 3) + 1
    d = diagnose(R.T, R)
    assert d.kind == "transpose"
    assert d.details["expected_shape"] == [2, 3]


def test_other_layout_shape_with_wrong_values_is_a_shape_error_that_says_so():
    R = np.arange(6.0).reshape(2, 3) + 1
    d = diagnose(R.T + 1, R)
    assert d.kind == "shape" and d.details["other_layout"] is True and "transpose" in d.message


def test_general_array_shapes_transpose():
    # f: R^(2,3) -> R^4, Jacobian shape (4, 2, 3); the denominator layout would be (2, 3, 4)
    J = RNG.uniform(1, 2, size=(4, 2, 3))
    assert diagnose(np.transpose(J, (1, 2, 0)), J).kind == "transpose"


def test_sign_factor_and_missing_two():
    J = np.array([[1.0, -2.0], [0.5, 4.0]])
    assert diagnose(-J, J).kind == "sign"
    d = diagnose(0.5 * J, J)
    assert d.kind == "factor" and d.details["factor"] == 0.5 and "missing 2" in d.message
    d = diagnose(-3 * J, J)
    assert d.kind == "factor" and d.details["factor"] == -3
    d = diagnose(1.7321 * J, J)
    assert d.kind == "factor" and d.details["factor"] == pytest.approx(1.7321)


def test_scalar_factor_only_when_the_ratio_is_telling():
    assert diagnose(3.0, 1.5).kind == "factor"  # an extra 2
    assert diagnose(-1.5, 1.5).kind == "sign"
    assert diagnose(3.7, 5.0).kind == "wrong"  # any wrong number is "some factor" of the right one


def test_diag_vector_and_diag_matrix():
    d_vals = np.array([0.5, -1.0, 2.0])
    D = np.diag(d_vals)
    d = diagnose(d_vals, D)
    assert d.kind == "diag_vector" and "diagonal matrix" in d.message
    d = diagnose(D, d_vals)
    assert d.kind == "diag_matrix"
    # a vector that is NOT the diagonal is just a shape error
    assert diagnose(d_vals + 1, D).kind == "shape"
    # a full (non-diagonal) Jacobian cannot be "the vector of its diagonal"
    full = D + 0.3
    assert diagnose(np.diag(full), full).kind == "shape"


def test_diag_only():
    J = np.array([[1.0, 2.0], [3.0, 4.0]])
    d = diagnose(np.diag(np.diag(J)), J)
    assert d.kind == "diag_only"
    # a diagonal Jacobian answered correctly is ok, not diag_only
    assert diagnose(np.diag([1.0, 4.0]), np.diag([1.0, 4.0]))


def test_entries_names_the_wrong_indices():
    J = np.arange(1.0, 10.0).reshape(3, 3)
    G = J.copy()
    G[0, 1] *= 1 + 1e-4
    G[2, 2] = 0
    d = diagnose(G, J)
    assert d.kind == "entries"
    assert d.details["indices"] == [(0, 1), (2, 2)] and d.details["count"] == 2
    assert "(0,1)" in d.message


def test_all_entries_wrong_without_a_pattern_is_wrong():
    J = np.array([[1.0, 2.0], [3.0, 4.0]])
    d = diagnose(np.array([[5.0, -1.0], [0.3, 9.0]]), J)
    assert d.kind == "wrong"


def test_nonfinite():
    J = np.array([1.0, 2.0, 3.0])
    d = diagnose([1.0, np.nan, np.inf], J)
    assert d.kind == "nonfinite" and d.details["indices"] == [(1,), (2,)]
    # a reference that is itself infinite there is matched by the same infinity
    assert diagnose([np.inf, 2.0], [np.inf, 2.0])


def test_tolerance_rule_is_relative_to_max_1_abs_expected():
    assert diagnose(1e-9, 0.0, rtol=1e-7)            # |err| <= 1e-7 * max(1, 0)
    assert not diagnose(1e-6, 0.0, rtol=1e-7)
    assert diagnose(1e6 + 0.05, 1e6, rtol=1e-7)      # 0.05 <= 1e-7 * 1e6
    assert not diagnose(1e6 + 0.2, 1e6, rtol=1e-7)
    assert diagnose(1.5, 1.0, rtol=0, atol=0.6)


@pytest.mark.parametrize("hostile", [
    None, "abc", b"bytes", [[1, 2], [3]], {"a": 1}, {1, 2}, object(), np.array([object(), 1], dtype=object),
    10 ** 400, [10 ** 400, 1], (x for x in range(3)), [[[[[]]]]], np.zeros((1000, 1000)), ..., print,
    [1, "2"], np.array(["1", "2"]), [None, None],
])
def test_hostile_answers_are_diagnosed_never_raised(hostile):
    d = diagnose(hostile, np.array([1.0, 2.0]))
    assert isinstance(d, Diagnosis) and d.kind in KINDS and d.kind != "ok" and d.message


def test_objects_that_explode_on_conversion_are_diagnosed():
    class Evil:
        def __array__(self, *a, **k):
            raise RuntimeError("boom")

        def __len__(self):
            raise RuntimeError("boom")

    class Liar(list):
        def __len__(self):
            return 10 ** 9

    for bad in (Evil(), Liar([1.0, 2.0])):
        d = diagnose(bad, np.array([1.0, 2.0]))
        assert isinstance(d, Diagnosis)


def test_complex_answers():
    assert diagnose(np.array([1 + 0j, 2 + 0j]), [1.0, 2.0])  # zero imaginary part is fine
    d = diagnose(np.array([1 + 1j, 2 + 0j]), [1.0, 2.0])
    assert d.kind == "wrong" and "imaginary" in d.message


def test_sympy_objects_are_numbers_when_numeric_and_diagnosed_when_symbolic():
    sympy = pytest.importorskip("sympy")
    x = sympy.Symbol("x")
    assert diagnose(sympy.Matrix([[1, 2]]), np.array([[1.0, 2.0]]))
    assert diagnose(sympy.Rational(1, 2), 0.5)
    d = diagnose(sympy.Matrix([[x, 2]]), np.array([[1.0, 2.0]]))
    assert d.kind == "wrong" and not d


def test_bad_expected_raises_valueerror():
    with pytest.raises(ValueError):
        diagnose([1.0], "not numbers")


def test_property_random_jacobians_each_mistake_is_named():
    rng = np.random.default_rng(42)
    for trial in range(200):
        m, n = rng.integers(1, 6, size=2)
        J = _random_jacobian(m, n, rng)
        assert diagnose(J + rng.uniform(-1e-10, 1e-10, J.shape), J).kind == "ok"
        if J.size > 1:
            assert diagnose(-J, J).kind == "sign", trial
        c = rng.choice([2.0, 0.5, 3.0, -2.0]) if J.size == 1 else rng.uniform(1.2, 4) * rng.choice([-1, 1])
        d = diagnose(c * J, J)
        assert d.kind == "factor" and d.details["factor"] == pytest.approx(c), trial
        if m > 1 or n > 1:
            if m == n and np.allclose(J, J.T):
                continue
            assert diagnose(J.T, J).kind == "transpose", trial
        if J.size > 1:
            G = J.copy()
            i, j = rng.integers(m), rng.integers(n)
            G[i, j] *= 1 + 1e-4
            d = diagnose(G, J)
            assert d.kind == "entries" and d.details["indices"] == [(i, j)], trial


def test_property_a_wrong_answer_is_never_ok():
    rng = np.random.default_rng(7)
    for _ in range(300):
        J = _random_jacobian(*rng.integers(1, 5, size=2), rng)
        G = J.copy()
        G.flat[rng.integers(G.size)] += rng.choice([-1, 1]) * rng.uniform(1e-6, 10) * max(1, np.abs(J).max())
        assert not diagnose(G, J, rtol=1e-7)


def test_check_array_report():
    r = check_array([1.0, 2.0], [1.0, 2.0])
    assert r and r.max_abs_error == 0
    r = check_array([1.0, 2.5], [1.0, 2.0])
    assert not r and r.worst_index == (1,) and r.max_abs_error == pytest.approx(0.5)
    assert r.diagnosis.kind == "entries"
    with pytest.raises(AssertionError, match="1 of 2"):
        r.assert_ok()
    assert check_array([1.0 + 1e-10], [1.0])  # rtol 1e-9 by default
    assert not check_array([1.0 + 1e-8], [1.0])
    r = check_array(None, [1.0])
    assert not r and "None" in str(r)


def test_undefined_expected_and_all_zero_answers_get_their_own_message():
    d = diagnose([1.0, 2.0], [np.nan, 2.0])
    assert d.kind == "wrong" and "undefined" in d.message and d.details["indices"] == [(0,)]
    d = diagnose(np.zeros((2, 2)), np.ones((2, 2)))
    assert d.kind == "wrong" and "all zeros" in d.message
    d = diagnose([0.0, 1.0], [0.0, 0.0])
    assert d.kind == "entries" and d.details["indices"] == [(1,)]


def test_transpose_combined_with_sign_or_factor():
    R = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    S = np.array([[1.0, 2.0], [3.0, 4.0]])
    for got, expected, factor in ((-R.T, R, -1.0), (2 * R.T, R, 2.0), (-S.T, S, -1.0), (0.5 * S.T, S, 0.5)):
        d = diagnose(got, expected)
        assert d.kind == "transpose" and d.details["factor"] == factor
        assert "Besides" in d.message
    assert "factor" not in diagnose(S.T, S).details


def test_reveal_false_never_prints_an_expected_value():
    exp = np.array([[1.25, 3.0], [0.0, -7.5]])
    got = exp.copy()
    got[0, 1] = 2.0
    shown, hidden = diagnose(got, exp), diagnose(got, exp, reveal=False)
    assert shown.kind == hidden.kind == "entries" and shown.details == hidden.details
    assert "expected 3" in shown.message and "3" not in hidden.message.split("(e.g.")[1]
    scalar = diagnose(np.float64(4.5), np.float64(12.625), reveal=False)
    assert scalar.kind == "wrong" and "12.625" not in scalar.message and "4.5" in scalar.message
    zero = diagnose(np.array([0.5, 1.0]), np.zeros(2), reveal=False)
    assert not zero and "zero" not in zero.message
