"""chainrule_utils: check hand-derived derivatives and say what kind of wrong they are.

Numerator layout throughout: the Jacobian of f: Rⁿ→Rᵐ is m×n; for array shapes it has shape
``f(x).shape + x.shape``. Importing this package loads numpy only; sympy and matplotlib load on use.
"""
