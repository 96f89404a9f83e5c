"""chainrule_utils: check hand-derived derivatives and say what kind of wrong they are.

Numerator layout throughout: the Jacobian of f: Rⁿ→Rᵐ is m×n; for array shapes it has shape
``f(x).shape + x.shape``; a gradient has the shape of its input. Importing this package loads numpy
only; sympy and matplotlib load on use (``chainrule_utils.symbolic``, ``chainrule_utils.plots``).

- ``numerical_jacobian(f, x, method=..., step=None, batched=False)``, ``numerical_gradient`` (numdiff)
- ``check_jacobian``, ``check_gradient``, ``check_jvp``, ``check_vjp`` -> ``CheckReport`` (checks)
- ``check_array(got, expected)`` -> ``CheckReport`` (report)
- ``diagnose(got, expected)`` -> ``Diagnosis`` naming the mistake (diagnosis)
- ``symbolic``: ``parse_expression`` (safe), ``equivalent``, ``compare_expressions``,
  ``check_expression``, ``jacobian``, ``gradient``
- ``plots``: ``fd_error_curve``, ``pushforward_pullback``, ``computation_graph``
- ``selfcheck.check(exercise_id, answer)``: an exercise's self-check (fingerprints from the release's
  selfcheck.json: ``fingerprint``); the grader's own rules in ``values``, ``verdicts``, ``chain_steps``
"""

from .checks import check_gradient, check_jacobian, check_jvp, check_vjp
from .diagnosis import Diagnosis, diagnose
from .numdiff import numerical_gradient, numerical_jacobian
from .report import CheckReport, check_array

__all__ = [
    "CheckReport",
    "Diagnosis",
    "check_array",
    "check_gradient",
    "check_jacobian",
    "check_jvp",
    "check_vjp",
    "diagnose",
    "numerical_gradient",
    "numerical_jacobian",
]


def __getattr__(name):  # `chainrule_utils.symbolic` / `.plots` without importing sympy/matplotlib eagerly
    if name in ("symbolic", "plots"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chainrule_utils' has no attribute {name!r}")
