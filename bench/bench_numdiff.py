"""Benchmark chainrule_utils' numerical Jacobians against scipy and numdifftools, in one run.

Baselines (measured here, same functions, same machine, same run):
  1. speed: scipy.optimize.approx_derivative(method="3-point") on tanh(A x), n = 1000, against our
     batched central difference (one call of f on all 2n points). Goal: >= 3x faster, error no worse.
     The run also times f's own call on those 2n points: no batched central difference can beat
     the baseline by more than (baseline time) / (that time), whatever its overhead.
  2. accuracy on a badly scaled function (inputs from 1e-3 to 1e3): scipy's complex step
     (approx_derivative(method="cs"), step ~ sqrt(eps)·|x|) and numdifftools against our complex step
     (step 1e-20·max(1, |x|)). Goal: ours <= 1e-14.
  3. import time of chainrule_utils in a fresh interpreter against `import numpy` alone. Goal <= 0.2 s.
Errors are max |J - J_exact| / max(1, |J_exact|). Times are the best of --repeat runs.

    python bench/bench_numdiff.py [--n 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from chainrule_utils import numerical_jacobian
from chainrule_utils.numdiff import _shifted_blocks, default_steps


def _scipy_approx_derivative():
    try:
        from scipy.optimize import approx_derivative
    except ImportError:  # private in recent scipy releases
        from scipy.optimize._numdiff import approx_derivative
    return approx_derivative


def rel_error(J, exact):
    return float(np.max(np.abs(J - exact) / np.maximum(1.0, np.abs(exact))))


def best_time(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def row(name, seconds, err, base_seconds=None, base_err=None):
    ratio = "" if base_seconds is None else f"{base_seconds / seconds:8.2f}x"
    acc = "" if base_err is None else f"{base_err / max(err, 1e-300):10.3g}x"
    err_text = "" if err is None else f"{err:10.2e}"
    print(f"  {name:<44} {seconds:9.4f} s {err_text:>10} {ratio:>9} {acc:>11}")


def header(title):
    print(f"\n{title}")
    print(f"  {'method':<44} {'time':>11} {'rel. error':>10} {'speed-up':>9} {'acc. gain':>11}")


def bench_speed(n, repeat, have_scipy):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.uniform(-1, 1, n)
    exact = (1 - np.tanh(A @ x) ** 2)[:, None] * A

    def f(v):
        return np.tanh(A @ v)

    def f_batched(X):
        return np.tanh(X @ A.T)

    header(f"1. tanh(A x), n = {n} (baseline: scipy approx_derivative 3-point)")
    ours_t, J = best_time(lambda: numerical_jacobian(f_batched, x, batched=True), repeat)
    ours_e = rel_error(J, exact)
    if not have_scipy:
        row("chainrule central, batched", ours_t, ours_e)
        print("  scipy is not installed: no baseline")
        return None
    approx_derivative = _scipy_approx_derivative()

    base_t, J = best_time(lambda: approx_derivative(f, x, method="3-point"), repeat)
    base_e = rel_error(J, exact)
    row("scipy approx_derivative 3-point (baseline)", base_t, base_e)
    row("chainrule central, batched (one call of f)", ours_t, ours_e, base_t, base_e)
    loop_t, J = best_time(lambda: numerical_jacobian(f, x), 1)
    row("chainrule central, one call per point", loop_t, rel_error(J, exact), base_t, base_e)
    h = default_steps(x, "central")
    points = _shifted_blocks(x, [(h, +1), (h, -1)])
    f_t, _ = best_time(lambda: f_batched(points), repeat)
    row("bound: f's own call on the 2n points", f_t, None, base_t)
    speedup = base_t / ours_t
    ok = speedup >= 3 and ours_e <= base_e * 1.5
    print(f"  overhead of ours beyond f's call: {ours_t - f_t:.4f} s; "
          f"bound on any batched central speed-up here: {base_t / f_t:.2f}x")
    print(f"  goal >= 3x faster than scipy 3-point at no worse accuracy: {speedup:.1f}x, "
          f"error {ours_e:.1e} vs {base_e:.1e} -> {'MET' if ok else 'MISSED'}")
    return ok


def bench_badly_scaled(repeat, have_scipy, have_nd):
    x = np.logspace(-3, 3, 60)

    def f(v):
        return np.exp(np.sin(v)) * v

    exact = np.diag(np.exp(np.sin(x)) * (np.cos(x) * x + 1))
    header("2. exp(sin(x))·x element-wise, x from 1e-3 to 1e3 (baseline: scipy complex step)")
    ours_t, J = best_time(lambda: numerical_jacobian(f, x, method="complex"), repeat)
    ours_e = rel_error(J, exact)
    base_t = base_e = None
    if have_scipy:
        approx_derivative = _scipy_approx_derivative()

        base_t, J = best_time(lambda: approx_derivative(f, x, method="cs"), repeat)
        base_e = rel_error(J, exact)
        row("scipy approx_derivative cs (baseline)", base_t, base_e)
        t, J = best_time(lambda: approx_derivative(f, x, method="3-point"), repeat)
        row("scipy approx_derivative 3-point", t, rel_error(J, exact), base_t, base_e)
    row("chainrule complex step (h = 1e-20·max(1,|x|))", ours_t, ours_e, base_t, base_e)
    for method in ("central", "richardson"):
        t, J = best_time(lambda m=method: numerical_jacobian(f, x, method=m), repeat)
        row(f"chainrule {method}", t, rel_error(J, exact), base_t, base_e)
    if have_nd:
        import numdifftools as nd

        t, J = best_time(lambda: nd.Jacobian(f)(x), 1)
        row("numdifftools Jacobian (default, adaptive)", t, rel_error(np.atleast_2d(J), exact),
            base_t, base_e)
        t, J = best_time(lambda: nd.Jacobian(f, method="complex")(x), 1)
        row("numdifftools Jacobian complex", t, rel_error(np.atleast_2d(J), exact), base_t, base_e)
    ok = ours_e <= 1e-14
    print(f"  goal: complex step error <= 1e-14 on this function: {ours_e:.1e} -> "
          f"{'MET' if ok else 'MISSED'}")
    return ok


def bench_smooth_accuracy(have_nd):
    """The accuracy bounds of each method on a well-scaled function, n = 50."""
    rng = np.random.default_rng(1)
    n = 50
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.uniform(-1, 1, n)

    def f(v):
        return np.sin(A @ v) * np.exp(0.1 * v)

    scale = np.exp(0.1 * x)
    exact = np.cos(A @ x)[:, None] * A * scale[:, None] + np.diag(0.1 * np.sin(A @ x) * scale)
    header(f"3. sin(A x)·exp(x/10), n = {n}: accuracy of each method (bounds: central 1e-9, "
           "complex 1e-14, richardson 1e-11)")
    bounds = {"forward": 1e-6, "central": 1e-9, "complex": 1e-14, "richardson": 1e-11}
    ok = True
    for method, bound in bounds.items():
        t, J = best_time(lambda m=method: numerical_jacobian(f, x, method=m), 1)
        e = rel_error(J, exact)
        ok &= e <= bound
        row(f"chainrule {method} (bound {bound:.0e})", t, e)
    if have_nd:
        import numdifftools as nd

        t, J = best_time(lambda: nd.Jacobian(f)(x), 1)
        row("numdifftools Jacobian (default)", t, rel_error(J, exact))
    print(f"  every method within its bound -> {'MET' if ok else 'MISSED'}")
    return ok


def import_seconds(statement, repeat):
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(repeat)]
    return min(runs)


def bench_import(repeat):
    header("4. import time in a fresh interpreter (baseline: import numpy)")
    base = import_seconds("import numpy", repeat)
    ours = import_seconds("import chainrule_utils", repeat)
    print(f"  {'import numpy (baseline)':<44} {base:9.4f} s")
    print(f"  {'import chainrule_utils (includes numpy)':<44} {ours:9.4f} s   "
          f"{ours / base:.2f}x the baseline, +{ours - base:.3f} s of our own")
    ok = ours <= 0.2
    print(f"  goal <= 0.2 s: {ours:.3f} s -> {'MET' if ok else 'MISSED'}")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="input size for the speed benchmark")
    parser.add_argument("--repeat", type=int, default=7, help="runs per timing (the best is kept)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeat < 1:
        parser.error("--n and --repeat must be positive")
    try:
        import scipy  # noqa: F401
        have_scipy = True
    except ImportError:
        have_scipy = False
    try:
        import numdifftools  # noqa: F401
        have_nd = True
    except ImportError:
        have_nd = False
    results = [bench_speed(args.n, args.repeat, have_scipy),
               bench_badly_scaled(args.repeat, have_scipy, have_nd),
               bench_smooth_accuracy(have_nd),
               bench_import(args.repeat)]
    met = sum(r is True for r in results)
    print(f"\n{met} of {len(results)} goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
