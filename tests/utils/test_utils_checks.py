"""check_jacobian / check_gradient / check_jvp / check_vjp: no false alarms, mistakes named."""

import numpy as np
import pytest

from chainrule_utils import CheckReport, check_gradient, check_jacobian, check_jvp, check_vjp


def g(x):  # seed 003, worked example 1: u = (x1^2 + x2, x1 x2)
    return np.array([x[0] ** 2 + x[1], x[0] * x[1]])


def jac_g(x):
    return np.array([[2 * x[0], 1.0], [x[1], x[0]]])


def h(x):
    u = g(x)
    return u[0] + u[1] ** 2


def grad_h(x):
    return np.array([2 * x[0] + 2 * x[0] * x[1] ** 2, 1 + 2 * x[0] ** 2 * x[1]])


X = np.array([1.0, 2.0])


def test_correct_jacobian_array_and_callable():
    for answer in (jac_g, jac_g(X)):
        r = check_jacobian(g, answer, X)
        assert isinstance(r, CheckReport) and r and r.ok
        assert r.max_abs_error <= 1e-14 and "correct" in str(r)
        assert r.assert_ok() is r


def test_gradient_of_seed_example_is_10_5():
    r = check_gradient(h, np.array([10.0, 5.0]), X)
    assert r and np.allclose(r.expected, [10, 5])
    assert check_gradient(h, grad_h, np.array([-0.3, 0.8]))


def test_mistakes_are_named_in_the_report():
    cases = {
        "transpose": lambda x: jac_g(x).T,
        "sign": lambda x: -jac_g(x),
        "factor": lambda x: jac_g(x) / 2,
        "diag_only": lambda x: np.diag(np.diag(jac_g(x))),
        "shape": lambda x: jac_g(x)[0],
    }
    for kind, answer in cases.items():
        r = check_jacobian(g, answer, X)
        assert not r and r.diagnosis.kind == kind, (kind, str(r))
        with pytest.raises(AssertionError) as info:
            r.assert_ok()
        assert kind.upper() in str(info.value)


def test_single_entry_off_by_1e_4_relative_is_caught_and_located():
    J = jac_g(X)
    J[1, 0] *= 1 + 1e-4
    r = check_jacobian(g, J, X)
    assert r.diagnosis.kind == "entries" and r.worst_index == (1, 0)
    assert r.max_rel_error == pytest.approx(1e-4, rel=1e-3)  # relative to max(1, |2|)


SCALES = np.logspace(-6, 6, 7)


def f_scaled(x):
    return SCALES * np.sin(x) + 0.5 * SCALES * x[::-1] ** 2


def jac_scaled(x):
    n = x.size
    J = np.diag(SCALES * np.cos(x))
    J[np.arange(n), np.arange(n)[::-1]] += SCALES * x[::-1]
    return J


def test_badly_scaled_exact_jacobian_no_false_alarm_and_tiny_entry_errors_caught():
    x = np.linspace(-1.3, 1.7, 7)
    assert check_jacobian(f_scaled, jac_scaled, x)
    J = jac_scaled(x)
    J[0, 0] *= 1 + 1e-4  # the 1e-6-sized entry
    r = check_jacobian(f_scaled, J, x)
    assert r.diagnosis.kind == "entries" and r.diagnosis.details["indices"] == [(0, 0)]


def test_non_analytic_function_falls_back_to_richardson_without_false_alarm():
    def relu_mix(x):
        return np.maximum(x, 0) * SCALES + np.abs(x[::-1]) * 1e-3

    def jac(x):
        J = np.diag((x > 0) * SCALES)
        J[np.arange(7), np.arange(7)[::-1]] += np.sign(x[::-1]) * 1e-3
        return J

    x = np.array([-1.2, 0.4, 0.9, -0.3, 1.5, 2.0, -0.7])
    r = check_jacobian(relu_mix, jac, x)
    assert r and "richardson" in str(r.notes)
    for i, j in [(5, 5), (0, 6)]:  # a 1e6 entry and a 1e-3 entry
        wrong = jac(x)
        wrong[i, j] *= 1 + 1e-4
        d = check_jacobian(relu_mix, wrong, x).diagnosis
        assert d.kind == "entries" and d.details["indices"] == [(i, j)]


def test_non_analytic_with_large_inputs_uses_adaptive_steps():
    # |sin(x)| at x from 1e-3 to 1e3: one step ε^(1/5)·|x| is far too large at x = 1000
    x = np.logspace(-3, 3, 9)
    x[np.abs(np.sin(x)) < 0.05] += 0.3  # stay away from the kinks

    def f(x):
        return np.abs(np.sin(x))

    exact = np.diag(np.sign(np.sin(x)) * np.cos(x))
    r = check_jacobian(f, exact, x)
    assert r and "richardson" in str(r.notes)
    wrong = exact.copy()
    wrong[-1, -1] *= 1 + 1e-4
    assert check_jacobian(f, wrong, x).diagnosis.details["indices"] == [(8, 8)]


def test_elementwise_tanh_vector_instead_of_diagonal():
    x = np.array([0.1, -0.5, 2.0])
    r = check_jacobian(np.tanh, 1 - np.tanh(x) ** 2, x)
    assert r.diagnosis.kind == "diag_vector"
    assert check_jacobian(np.tanh, np.diag(1 - np.tanh(x) ** 2), x)


def test_answer_function_that_raises_gives_a_clear_error():
    def broken(x):
        return 1 / 0

    with pytest.raises(RuntimeError, match="Your Jacobian function raised ZeroDivisionError"):
        check_jacobian(g, broken, X)

    def stub(x):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        check_jacobian(g, stub, X)


def test_hostile_answer_values_are_reported_not_raised():
    for bad in (None, "jac", [[1, 2], [3]], {"a": 1}):
        r = check_jacobian(g, bad, X)
        assert not r and r.diagnosis.kind == "wrong"


def test_check_gradient_needs_scalar_f():
    with pytest.raises(ValueError, match="scalar-valued"):
        check_gradient(g, np.zeros(2), X)


def test_tolerance_arguments():
    J = jac_g(X) * (1 + 1e-5)
    assert not check_jacobian(g, J, X)
    assert check_jacobian(g, J, X, rtol=1e-4)
    assert check_jacobian(g, J + 0.5, X, atol=1.0)


def test_jvp_and_vjp():
    def jvp(x, v):
        return jac_g(x) @ v

    def vjp(x, w):
        return jac_g(x).T @ w

    assert check_jvp(g, jvp, X)
    assert check_vjp(g, vjp, X)
    assert check_jvp(g, lambda x, v: jac_g(x).T @ v, X).diagnosis.kind == "transpose"
    assert check_vjp(g, lambda x, w: jac_g(x) @ w, X).diagnosis.kind == "transpose"
    assert check_vjp(g, lambda x, w: -vjp(x, w), X).diagnosis.kind == "sign"
    assert check_vjp(g, lambda x, w: vjp(x, w)[:1], X).diagnosis.kind == "shape"


def test_seed_003_pullback_example():
    # u = (x1 + 2 x2, x1 - x2), l = u1^2 + 3 u2; at (1, 1): pullback of (6, 3) through Dg^T is (9, 9)
    G = np.array([[1.0, 2.0], [1.0, -1.0]])
    assert check_vjp(lambda x: G @ x, lambda x, w: G.T @ w, np.array([1.0, 1.0]))
    assert np.allclose(G.T @ np.array([6.0, 3.0]), [9.0, 9.0])


def test_large_input_vjp_uses_the_dot_product_identity():
    rng = np.random.default_rng(1)
    n = 600
    A = rng.standard_normal((5, n)) / np.sqrt(n)

    def f(x):
        return np.tanh(A @ x)

    def vjp(x, w):
        return A.T @ ((1 - np.tanh(A @ x) ** 2) * w)

    x = rng.standard_normal(n)
    r = check_vjp(f, vjp, x)
    assert r and "⟨J v, w⟩" in r.what
    bad = check_vjp(f, lambda x, w: 1.01 * vjp(x, w), x)
    assert not bad
    assert check_jvp(f, lambda x, v: (1 - np.tanh(A @ x) ** 2) * (A @ v), x)
    assert not check_jvp(f, lambda x, v: (A @ v), x)
    r = check_vjp(f, lambda x, w: vjp(x, w)[:10], x)
    assert r.diagnosis.kind == "shape" and r.diagnosis.details["expected_shape"] == [n]


def test_relu_jacobian_is_a_diagonal_matrix_not_a_vector_erratum_001_88():
    x = np.array([-1.5, 0.3, 2.0, -0.2])
    J = np.diag((x > 0).astype(float))
    assert check_jacobian(lambda v: np.maximum(0.0, v), J, x)
    r = check_jacobian(lambda v: np.maximum(0.0, v), (x > 0).astype(float), x)
    assert r.diagnosis.kind == "diag_vector"


def test_kinks_accept_any_subgradient_and_say_so():
    x = np.array([0.0, 1.0, -2.0])

    def relu(v):
        return np.maximum(0.0, v)

    for at_zero in (0.0, 1.0, 0.5):
        r = check_jacobian(relu, np.diag([at_zero, 1.0, 0.0]), x)
        assert r, str(r)
        assert "not differentiable" in str(r.notes)
    assert check_jacobian(relu, np.diag([2.0, 1.0, 0.0]), x).diagnosis.kind == "entries"
    assert check_jacobian(relu, np.diag([0.0, 1.0, 1.0]), x).diagnosis.details["indices"] == [(2, 2)]
    # a smooth but rapidly curving function is not mistaken for a kink
    r = check_jacobian(lambda v: np.abs(v) ** 1.5 + np.sin(300 * v), np.diag(1.5 * np.sqrt([0.5]) +
                       300 * np.cos(150.0)), np.array([0.5]))
    assert r and "not differentiable" not in str(r.notes)


def _neuron_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 3))
    y = rng.normal(size=6)
    w = np.array([0.8, -0.5, 0.3])
    return X, y, w


def test_neuron_mse_gradient_activity_per_sample_errata_001_95_and_001_104():
    X, y, w = _neuron_data()
    b = 0.1
    z = X @ w + b
    assert (z > 0).any() and (z <= 0).any()  # some samples active, some not

    def cost_w(v):
        return np.mean((np.maximum(0, X @ v + b) - y) ** 2)

    e = np.maximum(0, z) - y
    grad_w = 2 / len(y) * ((z > 0) * e) @ X
    assert check_gradient(cost_w, grad_w, w)
    # the seed's version that ignores each sample's activity is caught
    assert not check_gradient(cost_w, 2 / len(y) * e @ X, w)

    def cost_b(c):
        return np.mean((np.maximum(0, X @ w + c) - y) ** 2)

    grad_b = 2 / len(y) * np.sum((z > 0) * e)
    assert check_gradient(cost_b, grad_b, b)
    # "just the average error" is half the right value
    d = check_gradient(cost_b, grad_b / 2, b).diagnosis
    assert d.kind == "factor" and d.details["factor"] == 0.5


ACTIVATIONS = {
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sin": (np.sin, np.cos),
    "exp": (lambda z: np.exp(0.3 * z), lambda z: 0.3 * np.exp(0.3 * z)),
    "cube": (lambda z: z ** 3, lambda z: 3 * z ** 2),
    "abs_cube": (lambda z: np.abs(z) ** 3, lambda z: 3 * z * np.abs(z)),  # not analytic: richardson path
}


def test_property_random_functions_checks_never_false_alarm_and_name_each_mistake():
    rng = np.random.default_rng(2024)
    names = list(ACTIVATIONS)
    for trial in range(40):
        m, n = (int(k) for k in rng.integers(1, 5, size=2))
        A = rng.normal(size=(m, n)) * 10.0 ** rng.uniform(-2, 2, size=(m, 1))  # rows of different scales
        b = rng.normal(size=m)
        act, dact = ACTIVATIONS[names[trial % len(names)]]
        x = rng.uniform(-1.5, 1.5, size=n)

        def f(v, A=A, b=b, act=act):
            return act(A @ v + b)

        J = dact(A @ x + b)[:, None] * A
        assert check_jacobian(f, J, x), (trial, str(check_jacobian(f, J, x)))
        if np.abs(J).max() < 1e-3:
            continue
        assert check_jacobian(f, -J, x).diagnosis.kind == "sign", trial
        c = float(rng.choice([2.0, 0.5, 3.0]))
        assert check_jacobian(f, c * J, x).diagnosis.kind == "factor", trial
        if J.shape != (1, 1) and not (m == n and np.allclose(J, J.T)):
            assert check_jacobian(f, J.T, x).diagnosis.kind == "transpose", trial


def test_check_gradient_accepts_a_one_element_output_as_scalar():
    assert check_gradient(lambda x: np.array([np.sum(x ** 2)]), lambda x: 2 * x, np.array([1.0, -3.0]))


def test_check_array_reveal_false_hides_the_expected_value_and_the_error_size():
    from chainrule_utils import check_array

    shown = check_array(14, 10.0)
    hidden = check_array(14, 10.0, reveal=False)
    assert not shown and not hidden and shown.diagnosis.kind == hidden.diagnosis.kind
    assert "10" in str(shown)
    assert "10" not in str(hidden) and "0.4" not in str(hidden) and "largest error" not in str(hidden)
    with pytest.raises(AssertionError) as err:
        hidden.assert_ok()
    assert "10" not in str(err.value)
    assert check_array(10, 10.0, reveal=False)
