"""Plot helpers: they draw what they claim (labelled axes, titles, the data), never show()."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from chainrule_utils.plots import computation_graph, fd_error_curve, pushforward_pullback  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: (_ for _ in ()).throw(AssertionError("show() called")))
    yield
    plt.close("all")


def test_fd_error_curve_has_the_u_shape():
    ax = fd_error_curve(np.sin, np.cos, 1.0)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    lines = {line.get_label(): line for line in ax.get_lines()}
    central = next(v for k, v in lines.items() if k.startswith("central"))
    h, err = central.get_data()
    best = h[np.argmin(err)]
    assert 1e-7 < best < 1e-3  # the bottom of the U is near eps^(1/3)
    assert err[0] > 1e3 * err.min() and err[-1] > 1e3 * err.min()  # rounding left, truncation right
    complex_line = next(v for k, v in lines.items() if k.startswith("complex"))
    h_c, err_c = complex_line.get_data()
    assert np.max(err_c[h_c <= 1e-8]) < 1e-14  # no rounding blow-up for the complex step


def test_fd_error_curve_on_given_axes_and_non_analytic_f():
    fig, ax = plt.subplots()
    out = fd_error_curve(lambda x: abs(x) ** 3, lambda x: 3 * x * abs(x), 0.5, ax=ax)
    assert out is ax
    assert not any(line.get_label().startswith("complex") for line in ax.get_lines())
    with pytest.raises(ValueError, match="steps"):
        fd_error_curve(np.sin, np.cos, 1.0, steps=[-1, 1])


def _f(x):
    return np.array([x[0] ** 2 - x[1], x[0] * x[1]])


def _jac(x):
    return np.array([[2 * x[0], -1.0], [x[1], x[0]]])


def test_pushforward_pullback_two_panels():
    x0, v, w = np.array([1.0, 0.5]), np.array([0.2, 0.1]), np.array([1.0, -1.0])
    fig = pushforward_pullback(_f, _jac, x0, v, w)
    ax_in, ax_out = fig.axes[:2]
    assert "Input" in ax_in.get_title() and "Output" in ax_out.get_title()
    # the arrows end at x0 + J^T w (input panel) and f(x0) + J v (output panel)
    ends_in = [tuple(np.round(a.xy, 9)) for a in ax_in.texts if hasattr(a, "xy")]
    ends_out = [tuple(np.round(a.xy, 9)) for a in ax_out.texts if hasattr(a, "xy")]
    assert tuple(np.round(x0 + _jac(x0).T @ w, 9)) in ends_in
    assert tuple(np.round(_f(x0) + _jac(x0) @ v, 9)) in ends_out


def test_pushforward_pullback_single_axes_and_bad_shapes():
    fig, ax = plt.subplots()
    assert pushforward_pullback(_f, _jac([1.0, 1.0]), [1.0, 1.0], [0.1, 0], [0, 1], ax=ax) is ax
    with pytest.raises(ValueError, match="R²"):
        pushforward_pullback(lambda x: x, np.eye(3), [1.0, 2.0, 3.0], [1, 0, 0], [0, 1, 0])


def test_computation_graph_levels_and_labels():
    edges = [("x1", "u1"), ("x2", "u1"), ("x1", "u2"), ("x2", "u2"), ("u1", "h", "1"), ("u2", "h", "2 u2")]
    labels = {"u1": "u₁ = x₁² + x₂", "u2": "u₂ = x₁x₂", "h": "h = u₁ + u₂²"}
    ax = computation_graph(edges, labels)
    texts = [t.get_text() for t in ax.texts]
    assert "u₁ = x₁² + x₂" in texts and "x1" in texts and "2 u2" in texts
    positions = {t.get_text(): t.get_position() for t in ax.texts}
    assert positions["x1"][0] == 0 and positions["u₂ = x₁x₂"][0] == 1 and positions["h = u₁ + u₂²"][0] == 2
    assert ax.get_title()
    with pytest.raises(ValueError, match="cycle"):
        computation_graph([("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="edges"):
        computation_graph([])


def test_import_of_plots_is_lazy_about_pyplot():
    import chainrule_utils

    assert chainrule_utils.plots.fd_error_curve is fd_error_curve
