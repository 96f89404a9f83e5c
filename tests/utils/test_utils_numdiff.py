"""numerical_jacobian / numerical_gradient: layout, accuracy per method, batching, clear errors."""

import numpy as np
import pytest

from chainrule_utils import numerical_gradient, numerical_jacobian
from chainrule_utils.numdiff import STEP_FACTORS, default_steps, directional_derivative

A = np.array([[0.3, -1.2, 0.7], [0.5, 0.1, -0.4]])


def f_smooth(x):
    return np.array([np.sin(x[0]) * x[1] + np.exp(0.3 * x[2]), x[0] ** 2 * np.cos(x[1]) - x[2]])


def jac_smooth(x):
    return np.array([
        [np.cos(x[0]) * x[1], np.sin(x[0]), 0.3 * np.exp(0.3 * x[2])],
        [2 * x[0] * np.cos(x[1]), -x[0] ** 2 * np.sin(x[1]), -1.0],
    ])


X0 = np.array([0.7, -1.3, 0.4])


def _rel_err(J, ref):
    return np.max(np.abs(J - ref) / np.maximum(1.0, np.abs(ref)))


@pytest.mark.parametrize("method, bound", [("forward", 1e-6), ("central", 1e-9), ("complex", 1e-14),
                                           ("richardson", 1e-11)])
def test_accuracy_per_method(method, bound):
    J = numerical_jacobian(f_smooth, X0, method=method)
    assert J.shape == (2, 3)
    assert _rel_err(J, jac_smooth(X0)) <= bound


@pytest.mark.parametrize("method", ["forward", "central", "complex", "richardson"])
def test_batched_equals_unbatched_and_calls_f_once(method):
    calls = []

    def fb(X):  # X: (k, 3) -> (k, 2)
        calls.append(X.shape)
        return np.stack([np.sin(X[:, 0]) * X[:, 1] + np.exp(0.3 * X[:, 2]),
                         X[:, 0] ** 2 * np.cos(X[:, 1]) - X[:, 2]], axis=1)

    J = numerical_jacobian(fb, X0, method=method, batched=True, check_analytic=False)
    assert len(calls) == 1
    assert np.allclose(J, numerical_jacobian(f_smooth, X0, method=method), rtol=1e-12, atol=1e-12)


def test_central_batched_uses_one_call_with_2n_points():
    seen = []

    def fb(X):
        seen.append(X.shape)
        return np.tanh(X @ A.T)

    numerical_jacobian(fb, X0, batched=True)
    assert seen == [(6, 3)]


def test_numerator_layout_for_array_shapes():
    W = np.arange(6.0).reshape(2, 3) / 5

    def f(M):  # R^(2,3) -> R^4
        return np.array([M[0, 0] * M[1, 2], np.sin(M[0, 1]), M.sum(), M[1, 0] ** 3])

    J = numerical_jacobian(f, W, method="complex")
    assert J.shape == (4, 2, 3)
    assert J[0, 0, 0] == pytest.approx(W[1, 2]) and J[0, 1, 2] == pytest.approx(W[0, 0])
    assert J[1, 0, 1] == pytest.approx(np.cos(W[0, 1]))
    assert np.allclose(J[2], 1.0)
    assert J[3, 1, 0] == pytest.approx(3 * W[1, 0] ** 2)


def test_scalar_input_and_scalar_output():
    assert numerical_jacobian(np.sin, 0.5, method="complex") == pytest.approx(np.cos(0.5), abs=1e-15)
    g = numerical_gradient(lambda x: np.sum(x ** 2), np.array([1.0, -2.0]))
    assert g.shape == (2,) and np.allclose(g, [2.0, -4.0], atol=1e-9)


def test_seed_003_gradient_10_5():
    def h(x):
        u1, u2 = x[0] ** 2 + x[1], x[0] * x[1]
        return u1 + u2 ** 2

    assert np.allclose(numerical_gradient(h, [1.0, 2.0], method="complex"), [10.0, 5.0], atol=1e-14)


def test_seed_003_pullback_example_9_9():
    def ell(x):
        u = np.array([x[0] + 2 * x[1], x[0] - x[1]])
        return u[0] ** 2 + 3 * u[1]

    assert np.allclose(numerical_gradient(ell, [1.0, 1.0], method="richardson"), [9.0, 9.0], atol=1e-10)


def test_badly_scaled_complex_step_stays_at_rounding_level():
    scales = np.logspace(-3, 3, 7)

    def f(x):
        return np.exp(np.sin(x * scales)) * x ** 2

    x = 1.0 / scales
    ref = np.diag(np.exp(np.sin(1.0)) * (np.cos(1.0) * scales * x ** 2 + 2 * x))
    J = numerical_jacobian(f, x, method="complex")
    assert np.max(np.abs(J - ref) / np.maximum(1, np.abs(ref))) <= 1e-14


def test_default_steps_follow_the_stated_rules():
    x = np.array([0.0, 1e-3, 10.0, -1e4])
    expected = np.finfo(float).eps ** (1 / 3) * np.array([1, 1, 10, 1e4])
    assert np.allclose(default_steps(x, "central"), expected)
    assert STEP_FACTORS["forward"] == pytest.approx(np.sqrt(np.finfo(float).eps))
    assert STEP_FACTORS["complex"] <= 1e-15


def test_custom_step():
    # a huge central step has large truncation error: the step argument is really used
    J_big = numerical_jacobian(np.sin, np.array([0.3]), step=0.5)
    J_def = numerical_jacobian(np.sin, np.array([0.3]))
    assert abs(J_big[0, 0] - np.cos(0.3)) > 1e-3 > abs(J_def[0, 0] - np.cos(0.3))
    with pytest.raises(ValueError, match="step"):
        numerical_jacobian(np.sin, np.array([0.3]), step=-1.0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # np.log(0) warns before we raise
def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="finite"):
        numerical_jacobian(np.sin, np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="real numbers"):
        numerical_jacobian(np.sin, "abc")
    with pytest.raises(ValueError, match="unknown method"):
        numerical_jacobian(np.sin, 1.0, method="spline")
    with pytest.raises(TypeError, match="callable"):
        numerical_jacobian(3, 1.0)
    with pytest.raises(TypeError, match="must return numbers"):
        numerical_jacobian(lambda x: "no", np.array([1.0]))
    with pytest.raises(TypeError, match="returned None"):
        numerical_jacobian(lambda x: None, np.array([1.0]))
    with pytest.raises(TypeError, match="must return numbers"):
        numerical_jacobian(lambda x: [x[0], None], np.array([1.0]))
    with pytest.raises(ValueError, match="shape"):
        numerical_jacobian(lambda x: np.ones(2) if x[0] > 1 else np.ones(3), np.array([1.0]))
    with pytest.raises(ValueError, match="NaN or inf"):
        numerical_jacobian(np.log, np.array([0.0]))
    with pytest.raises(ValueError, match="scalar-valued"):
        numerical_gradient(np.sin, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="one result per point"):
        numerical_jacobian(lambda X: np.ones(3), np.array([1.0, 2.0]), batched=True)


def test_batched_nonfinite_is_located_and_huge_finite_values_are_not_a_false_alarm():
    """The batched path tests finiteness with one sum: a NaN must still be named at its point, and
    values whose sum overflows (all finite) must not be reported as NaN/inf."""
    def log_batch(X):
        with np.errstate(invalid="ignore"):
            return np.log(X)
    with pytest.raises(ValueError, match=r"NaN or inf at x - h·e_1"):
        numerical_jacobian(log_batch, np.array([2.0, 1e-9]), batched=True)
    J = numerical_jacobian(lambda X: 1e307 * (1 + X), np.array([1.0, 2.0]), batched=True)
    assert np.all(np.isfinite(J))
    np.testing.assert_allclose(J, 1e307 * np.eye(2), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Casting complex values")
@pytest.mark.parametrize("f, why", [
    (np.abs, "real result"),
    (lambda x: np.real(x) ** 2, "real result"),
    (lambda x: np.abs(x) * x, "analytic"),
    (lambda x: np.conj(x) * x, "analytic"),
    (lambda x: np.array([float(x[0]) ** 2]), "complex"),
])
def test_complex_step_refuses_non_analytic_functions(f, why):
    with pytest.raises(ValueError, match=why):
        numerical_jacobian(f, np.array([0.8]), method="complex")


def test_directional_derivative():
    v = np.array([0.2, -1.0, 0.5])
    expected = jac_smooth(X0) @ v
    assert np.allclose(directional_derivative(f_smooth, X0, v), expected, atol=1e-14)
    assert np.allclose(directional_derivative(f_smooth, X0, v, method="richardson"), expected, atol=1e-10)


def test_an_exception_inside_f_names_the_point():
    from chainrule_utils.numdiff import FunctionError

    def f(x):
        if x[1] > 2.0:
            raise ZeroDivisionError("boom")
        return x ** 2

    with pytest.raises(FunctionError, match=r"f raised ZeroDivisionError at x \+ h·e_1: boom"):
        numerical_jacobian(f, np.array([1.0, 2.0]))
    def real_only(x):
        if np.iscomplexobj(x):
            raise TypeError("real numbers only")
        return x

    with pytest.raises(ValueError, match="accept complex input; f raised TypeError"):
        numerical_jacobian(real_only, np.array([1.0]), method="complex")
