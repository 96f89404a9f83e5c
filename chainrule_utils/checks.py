"""Check a hand-derived Jacobian, gradient, JVP or VJP against a numerical reference.

The reference is the complex-step Jacobian when f accepts complex input and is analytic there
(accurate to rounding in every entry, however badly scaled), else the Richardson-extrapolated
central difference R(h) = (4·D(h/2) − D(h))/3 at the halving steps h_j = ε^(1/5)·max(1, |x|)/2^j,
j = 0..8: each entry keeps the R_j that agrees best with R_(j+1), and twice that disagreement
(plus the rounding bound 6ε·max(1, |f_i|)/h_j) is its error estimate. The adaptive step matters when
x is large but f varies on a scale of 1 (sin at x = 1000), where one fixed step fails. A kink (relu
at 0) is found where the forward and backward one-sided differences keep disagreeing as the step
shrinks eightfold; there any value between the two one-sided derivatives is accepted (a subgradient),
and the report says so. An entry of the answer passes when

    |got - ref| <= atol + rtol * |ref| + err        (err: the reference's own error estimate)

Defaults: ``rtol = 1e-7`` (relative to the entry itself, so a 1e-6 entry is judged as strictly as a
1e6 one) and ``atol = 1e-12`` (so an exact zero may come back as rounding noise).
Every check returns a ``CheckReport``; call ``.assert_ok()`` in a test cell.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from .diagnosis import Diagnosis, _as_numeric
from .numdiff import (
    EPS,
    STEP_FACTORS,
    _as_point,
    _assemble,
    _central_many,
    _complex,
    _Evaluator,
    _shifted_blocks,
    directional_derivative,
)
from .report import CheckReport, build_report

DEFAULT_RTOL = 1e-7
DEFAULT_ATOL = 1e-12
FULL_JACOBIAN_LIMIT = 400  # inputs up to this size get an entry-by-entry reference in check_jvp/vjp


def reference_jacobian(f: Callable, x) -> tuple[np.ndarray, np.ndarray, str]:
    """(J, err, method): the most accurate Jacobian available, its error estimate per entry, and
    the method used ("complex" or "richardson")."""
    x = _as_point(x)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            evaluate = _Evaluator(f, x, False)
            cols = _complex(evaluate, x, 1e-20 * np.maximum(1.0, np.abs(x)).ravel(), True)
            jac = _assemble(cols, evaluate.out_shape, x.shape)
        if np.isfinite(jac).all():
            return jac, 16 * EPS * np.abs(jac), "complex"
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:  # not analytic, or not complex-capable: fall back to real differences
        pass
    value, err, shape, kinks = _adaptive_richardson(f, x)
    method = "richardson"
    if kinks.any():
        inputs = sorted({int(j) for j in np.nonzero(kinks)[0]})
        where = ", ".join(str(tuple(int(i) for i in np.unravel_index(j, x.shape))) for j in inputs[:6])
        method += (f" (f is not differentiable at x along input {where}: any value between the one-sided "
                   "derivatives is accepted there)")
    return _assemble(value, shape, x.shape), _assemble(err, shape, x.shape), method


RICHARDSON_LEVELS = 8


def _adaptive_richardson(f, x):
    """Per entry, the best of R_0..R_(J-1) (see the module docstring), its error estimate, out shape."""
    evaluate = _Evaluator(f, x, False)
    h0 = (STEP_FACTORS["richardson"] * np.maximum(1.0, np.abs(x))).ravel()
    steps = [h0 / 2 ** j for j in range(RICHARDSON_LEVELS + 2)]
    d = [_central_many(evaluate, x, [h])[0] for h in steps]  # level by level: memory 2n·n, not 20n·n
    r = [(4 * d[j + 1] - d[j]) / 3 for j in range(RICHARDSON_LEVELS + 1)]
    f_scale = np.maximum(1.0, np.abs(evaluate(x.reshape((1,) + x.shape), lambda k: "x")[0]))
    best_value = r[0]
    best_err = np.full(r[0].shape, np.inf)
    for j in range(RICHARDSON_LEVELS):
        estimate = 2 * np.abs(r[j] - r[j + 1]) + 6 * EPS * f_scale[None, :] / steps[j][:, None]
        better = estimate < best_err
        best_value = np.where(better, r[j], best_value)
        best_err = np.where(better, estimate, best_err)
    f0 = evaluate(x.reshape((1,) + x.shape), lambda k: "x")[0]
    fwd_a, bwd_a = _one_sided(evaluate, x, steps[4], f0)
    fwd_b, bwd_b = _one_sided(evaluate, x, steps[4] / 8, f0)
    gap_a, gap_b = np.abs(fwd_a - bwd_a), np.abs(fwd_b - bwd_b)
    kinks = (gap_b > 0.5 * gap_a) & (gap_b > 1e-3 * np.maximum(1.0, np.abs(best_value)))
    if kinks.any():
        lo, hi = np.minimum(fwd_b, bwd_b), np.maximum(fwd_b, bwd_b)
        best_value = np.where(kinks, (lo + hi) / 2, best_value)
        best_err = np.where(kinks, (hi - lo) / 2 + best_err, best_err)
    return best_value, best_err, evaluate.out_shape, kinks


def _one_sided(evaluate, x, h, f0):
    """Forward and backward differences (f(x ± h_j e_j) − f(x)) / ±h_j, each of shape (n, m)."""
    n = x.size
    vals = evaluate(_shifted_blocks(x, [(h, +1), (h, -1)]), lambda k: "x ± h·e_j")
    return (vals[:n] - f0) / h[:, None], (f0 - vals[n:]) / h[:, None]


def _call_answer(fn, *args, name: str):
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception as exc:
        raise RuntimeError(f"{name} raised {type(exc).__name__}: {exc}") from exc


def _tolerances(rtol, atol):
    return (DEFAULT_RTOL if rtol is None else float(rtol)), (DEFAULT_ATOL if atol is None else float(atol))


def check_jacobian(f: Callable, jac, x, *, rtol: float | None = None,
                   atol: float | None = None) -> CheckReport:
    """Check ``jac`` (an array, or a callable of x returning one) against the Jacobian of f at x.

    The expected shape is ``f(x).shape + x.shape`` (numerator layout).
    """
    rtol, atol = _tolerances(rtol, atol)
    x = _as_point(x)
    ref, err, method = reference_jacobian(f, x)
    got = _call_answer(jac, x.copy(), name="Your Jacobian function") if callable(jac) else jac
    tol = atol + rtol * np.abs(ref) + err
    return build_report("Jacobian check", got, ref, tol, notes=[_ref_note(method, x)])


def check_gradient(f: Callable, grad, x, *, rtol: float | None = None,
                   atol: float | None = None) -> CheckReport:
    """Check ``grad`` (an array, or a callable of x) against the gradient of scalar f at x (shape of x)."""
    rtol, atol = _tolerances(rtol, atol)
    x = _as_point(x)
    ref, err, method = reference_jacobian(f, x)
    if ref.shape != x.shape and ref.size == x.size:  # f returned a 1-element array: a scalar really
        ref, err = ref.reshape(x.shape), err.reshape(x.shape)
    if ref.shape != x.shape:
        raise ValueError(f"check_gradient needs a scalar-valued f; f returned shape "
                         f"{ref.shape[: ref.ndim - x.ndim]}: use check_jacobian")
    got = _call_answer(grad, x.copy(), name="Your gradient function") if callable(grad) else grad
    tol = atol + rtol * np.abs(ref) + err
    return build_report("Gradient check", got, ref, tol, notes=[_ref_note(method, x)])


def check_jvp(f: Callable, jvp: Callable, x, *, probes: int = 3, rtol: float | None = None,
              atol: float | None = None, seed: int = 0) -> CheckReport:
    """Check ``jvp(x, v) -> J v`` (shape f(x).shape) at random directions v (shape of x)."""
    rtol, atol = _tolerances(rtol, atol)
    x = _as_point(x)
    rng = np.random.default_rng(seed)
    vs = [rng.standard_normal(x.shape) for _ in range(probes)]
    if x.size <= FULL_JACOBIAN_LIMIT:
        ref, err, method = reference_jacobian(f, x)
        J, E = _flat(ref, x), _flat(err, x)
        expected = np.stack([(J @ v.ravel()).reshape(ref.shape[: ref.ndim - x.ndim]) for v in vs])
        # a sum of terms is judged against the size of its terms, |J|·|v|, not its (cancelled) value
        scale = np.stack([(np.abs(J) @ np.abs(v.ravel())).reshape(expected.shape[1:]) for v in vs])
        errs = np.stack([(E @ np.abs(v.ravel())).reshape(expected.shape[1:]) for v in vs])
    else:
        method = "directional"
        expected = np.stack([_directional(f, x, v) for v in vs])
        scale = np.maximum(np.abs(expected), np.abs(expected).max(axis=tuple(range(1, expected.ndim)),
                                                                   keepdims=True) * 1e-3)
        errs = 1e-9 * scale
        J = None
    got = [_call_answer(jvp, x.copy(), v.copy(), name="Your JVP function") for v in vs]
    got_arr = _stack_answers(got)
    tol = atol + rtol * scale + errs
    single = _single_probe_problem("JVP check (J v for random v)", got, expected[0], tol[0])
    if single is not None:
        return single
    report = build_report("JVP check (J v for random v)", got_arr, expected, tol,
                          notes=[f"{probes} random directions v; reference: {method}"])
    if not report and J is not None and J.shape[0] == J.shape[1]:
        transposed = np.stack([(J.T @ v.ravel()).reshape(expected.shape[1:]) for v in vs])
        if got_arr is not None and _matches(got_arr, transposed, tol):
            report.diagnosis = Diagnosis("transpose", "Your JVP computes Jᵀ v instead of J v: the "
                                                      "Jacobian (outputs on rows) multiplies the input "
                                                      "direction v.", {})
    return report


def check_vjp(f: Callable, vjp: Callable, x, *, probes: int = 3, rtol: float | None = None,
              atol: float | None = None, seed: int = 0) -> CheckReport:
    """Check ``vjp(x, w) -> Jᵀ w`` (shape of x) for random cotangents w (shape f(x).shape).

    Small inputs are compared entry by entry with Jᵀ w from the reference Jacobian; large ones by
    the dot-product identity ⟨J v, w⟩ = ⟨v, Jᵀ w⟩ with random v (J v from one directional derivative).
    """
    rtol, atol = _tolerances(rtol, atol)
    x = _as_point(x)
    rng = np.random.default_rng(seed)
    out_shape = np.shape(f(x.copy()))
    ws = [rng.standard_normal(out_shape) for _ in range(probes)]
    got = [_call_answer(vjp, x.copy(), w.copy(), name="Your VJP function") for w in ws]
    got_arr = _stack_answers(got)
    if x.size <= FULL_JACOBIAN_LIMIT:
        ref, err, method = reference_jacobian(f, x)
        J, E = _flat(ref, x), _flat(err, x)
        expected = np.stack([(J.T @ w.ravel()).reshape(x.shape) for w in ws])
        scale = np.stack([(np.abs(J).T @ np.abs(w.ravel())).reshape(x.shape) for w in ws])
        errs = np.stack([(E.T @ np.abs(w.ravel())).reshape(x.shape) for w in ws])
        tol = atol + rtol * scale + errs
        single = _single_probe_problem("VJP check (Jᵀ w for random w)", got, expected[0], tol[0])
        if single is not None:
            return single
        report = build_report("VJP check (Jᵀ w for random w)", got_arr, expected, tol,
                              notes=[f"{probes} random cotangents w; reference: {method}"])
        if not report and J.shape[0] == J.shape[1] and got_arr is not None:
            plain = np.stack([(J @ w.ravel()).reshape(x.shape) for w in ws])
            if _matches(got_arr, plain, tol):
                report.diagnosis = Diagnosis("transpose", "Your VJP computes J w instead of Jᵀ w: pulling a "
                                                          "gradient back multiplies by the TRANSPOSE of the "
                                                          "Jacobian.", {})
        return report
    # dot-product identity: compare <v, got> with <J v, w> for a random v per probe
    vs = [rng.standard_normal(x.shape) for _ in ws]
    single = _single_probe_problem("VJP check (Jᵀ w for random w)", got, np.zeros(x.shape), 0.0)
    if single is not None:
        return single
    arr, bad = _as_numeric(got_arr, np.zeros((probes,) + x.shape)) if got_arr is not None else (None, True)
    if bad is not None or arr.shape != (probes,) + x.shape:
        return build_report("VJP check (Jᵀ w for random w)", got_arr, np.zeros((probes,) + x.shape), 0.0)
    lhs, rhs, scales = [], [], []
    for v, w, g in zip(vs, ws, arr, strict=True):
        jv = _directional(f, x, v)
        lhs.append(float(np.sum(jv * w)))
        rhs.append(float(np.sum(v * g)))
        scales.append(float(np.linalg.norm(jv) * np.linalg.norm(w)))
    lhs, scales = np.array(lhs), np.array(scales)
    tol = atol + rtol * scales + 1e-9 * scales
    return build_report("VJP check via ⟨J v, w⟩ = ⟨v, Jᵀ w⟩", np.array(rhs), lhs, tol,
                        notes=[f"{probes} random pairs (v, w); entries are ⟨v, Jᵀ w⟩ against ⟨J v, w⟩"])


def _single_probe_problem(what, got: list, expected, tol) -> CheckReport | None:
    """A report on the first answer alone when it is not an array of the expected shape."""
    report = build_report(what, got[0], expected, tol)
    if report.diagnosis.kind in ("shape", "diag_vector", "diag_matrix") or (
            report.diagnosis.kind == "wrong" and "reason" in report.diagnosis.details):
        return report
    return None


def _directional(f, x, v):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = directional_derivative(f, x, v, method="complex")
        if np.isfinite(out).all():
            return out
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:
        pass
    return directional_derivative(f, x, v, method="richardson")


def _flat(jac: np.ndarray, x: np.ndarray) -> np.ndarray:
    return jac.reshape(-1, x.size)


def _stack_answers(got: list):
    try:
        arrays = [_as_numeric(g, np.zeros(1))[0] for g in got]
        if any(a is None for a in arrays) or len({a.shape for a in arrays}) != 1:
            return got[0] if len(got) == 1 else _first_bad(got, arrays)
        return np.stack(arrays)
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:
        return None


def _first_bad(got, arrays):
    for g, a in zip(got, arrays, strict=True):
        if a is None:
            return g
    return np.array([np.asarray(a).shape for a in arrays], dtype=object)


def _matches(got, expected, tol) -> bool:
    try:
        arr = np.asarray(got, dtype=float)
        return arr.shape == expected.shape and bool(np.all(np.abs(arr - expected) <= tol))
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:
        return False


def _ref_note(method: str, x: np.ndarray) -> str:
    return f"reference: {method} at x = {_fmt_x(x)}"


def _fmt_x(x: np.ndarray) -> str:
    return np.array2string(x, precision=4, threshold=8, separator=", ")
