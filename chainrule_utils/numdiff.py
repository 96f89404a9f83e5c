"""Numerical Jacobians by finite differences and the complex step, in numerator layout.

``numerical_jacobian(f, x)`` has shape ``f(x).shape + x.shape``: entry ``[i..., j...]`` is
``∂f_i/∂x_j``. Column j comes from perturbing x along the unit vector e_j by ``h_j = c · max(1, |x_j|)``
(scaling with |x_j| keeps x_j + h_j a real change in floating point; the max keeps h from vanishing
near 0). The quotient divides by the step actually taken, (x_j + h_j) − x_j as rounded, not by h_j.
ε = 2.2e-16 is the machine epsilon. The constant c balances truncation against rounding:

- ``"forward"``  (f(x+h) − f(x))/h: truncation ~ h·f''/2, rounding ~ ε·|f|/h; minimised at
  h ~ √ε ≈ 1.5e-8, error ~ √ε ≈ 1e-8. n + 1 evaluations.
- ``"central"``  (f(x+h) − f(x−h))/2h: truncation ~ h²·f'''/6, rounding ~ ε·|f|/h; minimised at
  h ~ ε^(1/3) ≈ 6e-6, error ~ ε^(2/3) ≈ 4e-11. 2n evaluations.
- ``"complex"``  Im f(x + i·h)/h: truncation ~ h²·f'''/6 and NO subtraction, so no rounding error
  to amplify: h can be tiny; h = 1e-20·max(1, |x_j|) makes h² vanish against ε, error ~ ε.
  Needs f analytic in x (numpy ufuncs on complex input; no abs, np.real, comparisons, conj): it is
  checked against real central differences along one random direction (3 to 11 more evaluations;
  ``check_analytic=False`` skips it), and a non-analytic f raises ValueError. n evaluations.
- ``"richardson"`` central differences D(h) and D(h/2) combined as (4·D(h/2) − D(h))/3, which
  cancels the h² term and leaves truncation ~ h⁴; rounding ~ ε·|f|/h, so the best step is
  h ~ ε^(1/5) ≈ 7e-4 and the error ~ ε^(4/5) ≈ 3e-13. 4n evaluations. Use it when f is not analytic.

With ``batched=True`` f receives all perturbed points at once, stacked along a new leading axis
(shape ``(k,) + x.shape``) and must return shape ``(k,) + f(x).shape``: one Python call in all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPS = np.finfo(float).eps
STEP_FACTORS = {
    "forward": EPS ** 0.5,
    "central": EPS ** (1 / 3),
    "complex": 1e-20,
    "richardson": EPS ** 0.2,
}
METHODS = tuple(STEP_FACTORS)


def default_steps(x: np.ndarray, method: str) -> np.ndarray:
    """The step for each entry of x: ``STEP_FACTORS[method] * max(1, |x|)``, same shape as x."""
    return STEP_FACTORS[method] * np.maximum(1.0, np.abs(x))


def numerical_jacobian(f: Callable, x, *, method: str = "central", step=None, batched: bool = False,
                       check_analytic: bool = True) -> np.ndarray:
    """Jacobian of f at x in numerator layout: shape ``f(x).shape + x.shape``.

    method: "forward", "central", "complex" or "richardson" (see the module docstring for the step
    rules). step: None for the default rule, or a scalar / array (shape of x) of relative step
    factors that replace c in ``h = c * max(1, |x|)``. batched: f takes a stack of points.
    """
    x = _as_point(x)
    if method not in STEP_FACTORS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    factor = STEP_FACTORS[method] if step is None else np.asarray(step, dtype=float)
    if np.any(~np.isfinite(factor)) or np.any(factor <= 0):
        raise ValueError("step must be positive and finite")
    h = np.broadcast_to(factor * np.maximum(1.0, np.abs(x)), x.shape).ravel()
    evaluate = _Evaluator(f, x, batched)
    if method == "forward":
        cols = _forward(evaluate, x, h)
    elif method == "central":
        cols = _central(evaluate, x, h)
    elif method == "complex":
        cols = _complex(evaluate, x, h, check_analytic)
    else:
        cols = _richardson(evaluate, x, h)[0]
    return _assemble(cols, evaluate.out_shape, x.shape)


def numerical_gradient(f: Callable, x, **kwargs) -> np.ndarray:
    """Gradient of a scalar-valued f at x: shape of x. Keywords as for ``numerical_jacobian``."""
    jac = numerical_jacobian(f, x, **kwargs)
    x_shape = np.shape(x)
    if jac.shape != x_shape:
        out_shape = jac.shape[: jac.ndim - len(x_shape)]
        raise ValueError(f"numerical_gradient needs a scalar-valued f; f returned shape {out_shape}: "
                         "use numerical_jacobian")
    return jac


# ----------------------------------------------------------------------------------------------


def _as_point(x) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception as exc:
        raise TypeError(f"x must be an array of real numbers, got {type(x).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"x must be an array of real numbers, got dtype {arr.dtype}")
    arr = arr.astype(float)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"x must be finite; it has {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    if arr.size == 0:
        raise ValueError("x is empty: there is nothing to differentiate with respect to")
    return arr


class FunctionError(RuntimeError):
    """f itself raised while being differentiated (the message names the point)."""


class _Evaluator:
    """Calls f on a stack of points (one call when batched) and checks what comes back."""

    def __init__(self, f, x, batched):
        if not callable(f):
            raise TypeError(f"f must be callable, got {type(f).__name__}")
        self.f, self.x, self.batched = f, x, batched
        self.out_shape = None

    def _call(self, point, where: str):
        try:
            return self.f(point)
        except TimeoutError:  # an outer time limit must still fire
            raise
        except Exception as exc:
            raise FunctionError(f"f raised {type(exc).__name__} at {where}: {exc}") from exc

    def __call__(self, points: np.ndarray, labels: Callable[[int], str]) -> np.ndarray:
        """points: shape (k,) + x.shape. Returns f at each point, shape (k, m) (m = output size)."""
        if self.batched:
            out = _numeric(self._call(points, "the batch of points"), "f (batched)")
            if out.ndim == 0 or out.shape[0] != points.shape[0]:
                raise ValueError(f"with batched=True, f must return one result per point along axis 0: "
                                 f"it got {points.shape[0]} points and returned shape {out.shape}")
            if self.out_shape is None:
                self.out_shape = out.shape[1:]
            elif out.shape[1:] != self.out_shape:
                raise ValueError(f"f returned shape {out.shape[1:]} per point here but {self.out_shape} "
                                 "elsewhere")
            flat = out.reshape(out.shape[0], -1)
            # One sum is a cheap test (a NaN or inf anywhere makes it non-finite); only when it fails
            # (or merely overflowed) is the row located, entry by entry.
            with np.errstate(over="ignore", invalid="ignore"):
                total = np.add.reduce(flat, axis=None)
            if not np.isfinite(total):
                finite = np.isfinite(flat).all(axis=1)
                if not finite.all():
                    k = int(np.argmin(finite))
                    raise ValueError(f"f returned NaN or inf at {labels(k)}: x may be at the edge of f's "
                                     "domain")
            return flat
        out = None
        for k in range(points.shape[0]):
            r = _numeric(self._call(points[k], labels(k)), "f")
            if self.out_shape is None:
                self.out_shape = r.shape
            elif r.shape != self.out_shape:
                raise ValueError(f"f returned shape {r.shape} at {labels(k)} but {self.out_shape} elsewhere")
            if out is None or (r.dtype.kind == "c" and out.dtype.kind != "c"):
                out = np.empty((points.shape[0], r.size), dtype=np.result_type(r.dtype, float)) \
                    if out is None else out.astype(complex)
            out[k] = r.reshape(-1)
        if not np.isfinite(out).all():
            k = int(np.argmin(np.isfinite(out).all(axis=1)))
            raise ValueError(f"f returned NaN or inf at {labels(k)}: x may be at the edge of f's domain")
        return out


def _numeric(value, who: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{who} returned None: does it forget to return its result?")
    try:
        arr = np.asarray(value)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception as exc:
        raise TypeError(f"{who} must return numbers, it returned a {type(value).__name__}") from exc
    if arr.dtype.kind in "biuf":
        return arr.astype(float, copy=False)
    if arr.dtype.kind == "c":
        return arr
    if arr.dtype.kind == "O" and not any(v is None for v in arr.flat):
        try:
            return arr.astype(float)
        except TimeoutError:  # an outer time limit must still fire
            raise
        except Exception:
            try:
                return arr.astype(complex)
            except TimeoutError:  # an outer time limit must still fire
                raise
            except Exception:
                pass
    raise TypeError(f"{who} must return numbers, it returned a {type(value).__name__}"
                    + (f" of dtype {arr.dtype}" if isinstance(value, np.ndarray) else ""))


def _shifted(x: np.ndarray, h: np.ndarray, sign: float, dtype=float) -> np.ndarray:
    """Stack of n points x + sign·h_j·e_j, shape (n,) + x.shape."""
    return _shifted_blocks(x, [(h, sign)], dtype)


def _shifted_blocks(x: np.ndarray, shifts, dtype=float) -> np.ndarray:
    """Blocks of n points, one per (h, sign) in shifts: block b holds x + sign_b·h_b[j]·e_j in row j.
    Shape (len(shifts)·n,) + x.shape, written once into one array (no concatenation copy)."""
    n = x.size
    pts = np.empty((len(shifts) * n, n), dtype=dtype)
    pts[...] = x.reshape(1, n)
    diag = pts.reshape(len(shifts), n * n)[:, :: n + 1]  # view of each block's diagonal
    for b, (h, sign) in enumerate(shifts):
        diag[b] += sign * h
    return pts.reshape((len(shifts) * n,) + x.shape)


def _label(kind: str, n: int):
    return lambda k: f"x {kind}·e_{k % n}" if n > 1 else f"x {kind}"


def _forward(evaluate, x, h):
    n = x.size
    pts = np.concatenate([x.reshape((1,) + x.shape), _shifted(x, h, +1)])
    vals = evaluate(pts, lambda k: "x" if k == 0 else _label("+ h", n)(k - 1))
    taken = (x.ravel() + h) - x.ravel()
    return (vals[1:] - vals[0]) / taken[:, None]


def _central(evaluate, x, h):
    return _central_many(evaluate, x, [h])[0]


def _central_many(evaluate, x, steps):
    """Central differences for several step arrays, from ONE call of evaluate (2n points per step)."""
    n = x.size
    pts = _shifted_blocks(x, [(h, s) for h in steps for s in (+1, -1)])
    vals = evaluate(pts, lambda k: _label("+ h" if (k // n) % 2 == 0 else "- h", n)(k))
    out = []
    for i, h in enumerate(steps):
        plus, minus = vals[2 * i * n:(2 * i + 1) * n], vals[(2 * i + 1) * n:(2 * i + 2) * n]
        taken = (x.ravel() + h) - (x.ravel() - h)
        cols = np.subtract(plus, minus)
        cols /= taken[:, None]  # in place: one temporary of n·m entries, not two
        out.append(cols)
    return out


def _complex(evaluate, x, h, check_analytic):
    n = x.size
    pts = _shifted(x, 1j * h, +1, dtype=complex)
    try:
        vals = evaluate(pts, _label("+ ih", n))
    except (TypeError, ValueError, FunctionError) as exc:
        raise ValueError(f"complex step needs f to accept complex input; {exc}. Use method='central' or "
                         "'richardson'") from exc
    if vals.dtype.kind != "c":
        raise ValueError("complex step needs f analytic: f returned a real result for complex input (it "
                         "probably uses abs, np.real, a comparison or a float() cast). Use method='central' "
                         "or 'richardson'")
    cols = vals.imag / h[:, None]
    if check_analytic:
        _check_analytic(evaluate, x, cols, vals.real)
    return cols


def _check_analytic(evaluate, x, cols, real_parts):
    """Compare the complex-step derivative along a random direction v with real central differences.

    A non-analytic f (abs, np.real, conj, comparisons) gives a complex-step J·v that no real
    difference reproduces. The central step starts at the default rule and shrinks tenfold up to 4
    times (rapidly varying components need a smaller step); each output keeps its best agreement,
    which must be within 1e-5 of max(1, |f_i|, |(J v)_i|) (a central difference is good to ~1e-10).
    """
    rng = np.random.default_rng(12345)
    v = rng.standard_normal(x.size)
    v /= np.linalg.norm(v)
    base = x.ravel()
    f0 = evaluate(base.reshape((1,) + x.shape), lambda k: "x")[0]
    f0 = f0.real if f0.dtype.kind == "c" else f0
    jv = v @ cols
    scale = np.maximum(1.0, np.maximum(np.abs(jv), np.abs(f0)))
    best = np.full(jv.shape, np.inf)
    t = STEP_FACTORS["central"] * max(1.0, float(np.abs(x).max()))
    for _ in range(5):
        pts = np.stack([base + t * v, base - t * v]).reshape((2,) + x.shape)
        vals = evaluate(pts, lambda k: ["x + t·v", "x - t·v"][k])
        vals = vals.real if vals.dtype.kind == "c" else vals
        best = np.minimum(best, np.abs((vals[0] - vals[1]) / (2 * t) - jv))
        if np.all(best <= 1e-5 * scale):
            break
        t /= 10
    mismatch = best
    shifted_value = np.abs(real_parts - f0).max(axis=0)
    if np.any(mismatch > 1e-5 * scale) or np.any(shifted_value > 1e-8 * scale):
        raise ValueError("complex step needs f analytic, but its complex-step and real finite-difference "
                         f"derivatives disagree (by {float(mismatch.max()):.2g}): f probably uses abs, "
                         "np.real, conj or a comparison. Use method='central' or 'richardson'")


def _richardson(evaluate, x, h):
    """Extrapolated central difference (4·D(h/2) − D(h))/3 and an error estimate for it."""
    d1, d2 = _central_many(evaluate, x, [h, h / 2])
    value = (4 * d2 - d1) / 3
    return value, d1, d2


def _assemble(cols: np.ndarray, out_shape: tuple, x_shape: tuple) -> np.ndarray:
    """cols[j, i] = ∂f_i/∂x_j (flattened) -> Jacobian of shape out_shape + x_shape.

    For 1-D x and f the result is the transposed view (Fortran order, no copy); reshaping to
    other shapes copies only when it must."""
    return cols.T.reshape(tuple(out_shape) + tuple(x_shape))


def directional_derivative(f: Callable, x, v, *, method: str = "complex") -> np.ndarray:
    """J(x)·v, shape f(x).shape, from one complex-step evaluation (method="complex", f analytic) or
    an extrapolated central difference along v (method="richardson", 4 evaluations)."""
    x = _as_point(x)
    v = np.asarray(v, dtype=float).reshape(x.shape)
    scale = max(1.0, float(np.abs(x).max())) / max(float(np.abs(v).max()), 1e-300)
    evaluate = _Evaluator(f, x, False)
    if method == "complex":
        t = 1e-20 * scale
        vals = evaluate((x + 1j * t * v)[None], lambda k: "x + it·v")
        if vals.dtype.kind != "c":
            raise ValueError("complex step needs f analytic: f returned a real result for complex input")
        out = vals.imag[0] / t
    else:
        t = STEP_FACTORS["richardson"] * scale
        pts = np.stack([x + t * v, x - t * v, x + t / 2 * v, x - t / 2 * v])
        vals = evaluate(pts, lambda k: "x ± t·v")
        d1 = (vals[0] - vals[1]) / (2 * t)
        d2 = (vals[2] - vals[3]) / t
        out = (4 * d2 - d1) / 3
    return out.reshape(evaluate.out_shape)
