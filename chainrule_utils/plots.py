"""Figures for the notebooks (matplotlib is imported when a function is called, never at import).

- ``fd_error_curve(f, df, x0)``: error of forward / central / complex-step differences against the
  step h (log-log): the truncation slope, the rounding slope, and the U between them.
- ``pushforward_pullback(f, jac, x0, v, w)``: for f: R² → R², the arrow v at x0 pushed forward to
  J v at f(x0), and the gradient w at f(x0) pulled back to Jᵀ w at x0.
- ``computation_graph(edges, labels)``: a small left-to-right graph of intermediate variables.

Each returns the Axes (or the Figure when it made several) and never calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np

from .numdiff import EPS


def _new_axes(ax, **subplot_kw):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(**subplot_kw)
    return ax


def fd_error_curve(f, df, x0: float, ax=None, *, steps=None):
    """Plot |difference quotient − f'(x0)| against the step h for forward, central and complex step.

    f: a scalar function of one variable (numpy-friendly; the complex-step curve is drawn only when f
    returns complex values for complex input).
    df: the exact derivative, a callable or the number f'(x0). steps: the h values (default
    10^-16 … 10^0). Dashed lines mark the textbook best steps √ε and ε^(1/3). Returns the Axes.
    """
    x0 = float(x0)
    exact = float(df(x0)) if callable(df) else float(df)
    h = np.logspace(-16, 0, 161) if steps is None else np.asarray(steps, dtype=float)
    if h.ndim != 1 or h.size < 2 or np.any(h <= 0):
        raise ValueError("steps must be a 1-D array of at least two positive numbers")
    with np.errstate(all="ignore"):
        fwd = np.array([(f(x0 + s) - f(x0)) / s for s in h], dtype=float)
        cen = np.array([(f(x0 + s) - f(x0 - s)) / (2 * s) for s in h], dtype=float)
        try:  # only for f that keeps complex input complex (abs, np.real, float() do not)
            cpx = None
            if np.iscomplexobj(f(x0 + 1e-30j)):
                cpx = np.array([np.imag(f(x0 + 1j * s)) / s for s in h], dtype=float)
        except (TypeError, ValueError):
            cpx = None
    floor = EPS * max(1.0, abs(exact)) / 10  # plot exact zeros at a visible floor
    ax = _new_axes(ax)
    ax.loglog(h, np.maximum(np.abs(fwd - exact), floor), label="forward  (f(x+h) − f(x)) / h")
    ax.loglog(h, np.maximum(np.abs(cen - exact), floor), label="central  (f(x+h) − f(x−h)) / 2h")
    if cpx is not None:
        ax.loglog(h, np.maximum(np.abs(cpx - exact), floor), label="complex step  Im f(x+ih) / h")
    for best, name in ((EPS ** 0.5, "√ε"), (EPS ** (1 / 3), "ε^(1/3)")):
        ax.axvline(best * max(1.0, abs(x0)), color="grey", linestyle="--", linewidth=0.8)
        ax.text(best * max(1.0, abs(x0)), 0.98, name, transform=ax.get_xaxis_transform(), ha="center",
                va="top", fontsize=8, color="grey")
    ax.set_xlabel("step h")
    ax.set_ylabel("absolute error of the derivative")
    ax.set_title(f"Finite-difference error at x0 = {x0:g}: truncation (right) vs rounding (left)")
    ax.legend(fontsize=8, loc="lower left")
    return ax


def pushforward_pullback(f, jac, x0, v, w, ax=None):
    """Draw, for f: R² → R², the pushforward J v of a small arrow v at x0 and the pullback Jᵀ w of
    a gradient w at f(x0). jac: the 2×2 Jacobian at x0, or a callable of x.

    ax: None (a new Figure with an input panel and an output panel; the Figure is returned), a pair of
    Axes (input, output; the Figure is returned), or one Axes (both planes overlaid; it is returned).
    """
    x0, v, w = (np.asarray(a, dtype=float).reshape(-1) for a in (x0, v, w))
    J = np.asarray(jac(x0) if callable(jac) else jac, dtype=float)
    y0 = np.asarray(f(x0), dtype=float).reshape(-1)
    if not (x0.shape == v.shape == w.shape == y0.shape == (2,) and J.shape == (2, 2)):
        raise ValueError("pushforward_pullback draws maps R² → R²: x0, v, w, f(x0) of shape (2,) and a "
                         f"(2, 2) Jacobian; got x0 {x0.shape}, v {v.shape}, w {w.shape}, f(x0) {y0.shape}, "
                         f"J {J.shape}")
    jv, jtw = J @ v, J.T @ w
    # the image of the straight segment x0 + t v, to compare with its linearisation J v
    t = np.linspace(0.0, 1.0, 30)
    curve = np.array([np.asarray(f(x0 + s * v), dtype=float).reshape(-1) for s in t])

    import matplotlib.pyplot as plt

    if ax is None:
        fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(10, 4.5))
        result = fig
    elif isinstance(ax, list | tuple | np.ndarray):
        ax_in, ax_out = ax
        result = ax_in.figure
    else:
        ax_in = ax_out = ax
        result = ax

    def arrow(axes, start, d, color, label):
        axes.annotate("", xy=start + d, xytext=start,
                      arrowprops={"arrowstyle": "->", "color": color, "linewidth": 2})
        axes.plot([], [], color=color, linewidth=2, label=label)

    ax_in.plot(*x0, "ko")
    arrow(ax_in, x0, v, "tab:blue", "v (a small step at x0)")
    arrow(ax_in, x0, jtw, "tab:red", "Jᵀ w (pulled-back gradient)")
    ax_out.plot(*y0, "ks")
    ax_out.plot(curve[:, 0], curve[:, 1], color="tab:blue", linestyle=":", label="f(x0 + t v), 0 ≤ t ≤ 1")
    arrow(ax_out, y0, jv, "tab:blue", "J v (pushforward)")
    arrow(ax_out, y0, w, "tab:red", "w (gradient at f(x0))")
    for axes, pts in ((ax_in, [x0, x0 + v, x0 + jtw]), (ax_out, [y0, y0 + jv, y0 + w, *curve])):
        pts = np.array(pts)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.15 * max(float(np.max(hi - lo)), 1e-9)
        axes.update_datalim(np.array([lo - pad, hi + pad]))
        axes.autoscale_view()
        axes.set_aspect("equal", adjustable="datalim")
        axes.legend(fontsize=8, loc="best")
        axes.grid(True, alpha=0.3)
    if ax_in is ax_out:
        ax_in.set_xlabel("first coordinate")
        ax_in.set_ylabel("second coordinate")
        ax_in.set_title("Pushforward J v and pullback Jᵀ w (input and output planes overlaid)")
    else:
        ax_in.set_xlabel("x₁")
        ax_in.set_ylabel("x₂")
        ax_in.set_title(f"Input space: x0 = ({x0[0]:g}, {x0[1]:g})")
        ax_out.set_xlabel("y₁")
        ax_out.set_ylabel("y₂")
        ax_out.set_title(f"Output space: f(x0) = ({y0[0]:.3g}, {y0[1]:.3g})")
        result.suptitle("Jacobians push small steps forward; their transposes pull gradients back")
    return result


def computation_graph(edges, labels=None, ax=None, *, title: str = "Computational graph"):
    """Draw a small directed graph of intermediate variables, inputs on the left, output on the right.

    edges: (source, target) pairs, or (source, target, text) to label an edge (e.g. a local
    derivative). labels: optional dict node -> text shown in the node (default: the node name).
    Nodes are placed in columns by their longest distance from an input. Returns the Axes.
    """
    edges = [tuple(e) for e in edges]
    if not edges or any(len(e) not in (2, 3) for e in edges):
        raise ValueError("edges must be a non-empty list of (source, target) or (source, target, label)")
    labels = dict(labels or {})
    nodes = []
    for e in edges:
        for n in e[:2]:
            if n not in nodes:
                nodes.append(n)
    parents = {n: [e[0] for e in edges if e[1] == n] for n in nodes}
    level: dict = {}

    def depth(n, stack=()):
        if n in stack:
            raise ValueError(f"the graph has a cycle through {n!r}")
        if n not in level:
            level[n] = 0 if not parents[n] else 1 + max(depth(p, (*stack, n)) for p in parents[n])
        return level[n]

    for n in nodes:
        depth(n)
    columns: dict = {}
    for n in nodes:
        columns.setdefault(level[n], []).append(n)
    pos = {}
    for col, members in columns.items():
        for i, n in enumerate(members):
            pos[n] = (float(col), (len(members) - 1) / 2 - i)

    ax = _new_axes(ax, figsize=(1.8 + 2.2 * len(columns), 1.5 + 1.2 * max(map(len, columns.values()))))
    for e in edges:
        (x1, y1), (x2, y2) = pos[e[0]], pos[e[1]]
        ax.annotate("", xy=(x2, y2), xytext=(x1, y1),
                    arrowprops={"arrowstyle": "-|>", "color": "0.3", "shrinkA": 22, "shrinkB": 22})
        if len(e) == 3:
            ax.text((x1 + x2) / 2, (y1 + y2) / 2 + 0.08, str(e[2]), ha="center", va="bottom", fontsize=8,
                    color="tab:red")
    sinks = {n for n in nodes if not any(e[0] == n for e in edges)}
    for n, (x, y) in pos.items():
        color = "#cfe2f3" if level[n] == 0 else ("#f4cccc" if n in sinks else "#fff2cc")
        ax.text(x, y, labels.get(n, str(n)), ha="center", va="center", fontsize=10,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": color, "edgecolor": "0.3"})
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_xticks(sorted(columns))
    ax.set_xticklabels([f"level {c}" for c in sorted(columns)], fontsize=8)
    ax.set_yticks([])
    ax.set_xlabel("inputs → intermediate variables → output")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(title)
    return ax
