"""Symbolic Jacobians and gradients in a chosen layout (sympy).

Numerator layout: J[i, j] = ∂f_i/∂x_j, an m×n Matrix for m expressions in n variables.
Denominator layout: its transpose, n×m. A gradient is an n×1 column (the shape of the variables).
"""

from __future__ import annotations

import sympy

from .parse import parse_expression

LAYOUTS = ("numerator", "denominator")


def _variables(variables) -> list:
    if isinstance(variables, str):
        variables = variables.replace(",", " ").split()
    elif isinstance(variables, sympy.Symbol):
        variables = [variables]
    elif isinstance(variables, sympy.MatrixBase):
        variables = list(variables)
    result = [sympy.Symbol(v) if isinstance(v, str) else v for v in variables]
    if not result or not all(isinstance(v, sympy.Symbol) for v in result):
        raise ValueError("variables must be a non-empty list of symbols or names")
    return result


def _expressions(exprs, table) -> list:
    if isinstance(exprs, str | sympy.Basic) and not isinstance(exprs, sympy.MatrixBase):
        parsed = parse_expression(exprs, table)
        return list(parsed) if isinstance(parsed, sympy.MatrixBase) else [parsed]
    if isinstance(exprs, sympy.MatrixBase):
        return list(exprs)
    return [parse_expression(e, table) for e in exprs]


def jacobian(exprs, variables, layout: str = "numerator") -> sympy.Matrix:
    """Jacobian of ``exprs`` (one expression, a list, or a Matrix; strings are parsed safely) with
    respect to ``variables`` (symbols or names): m×n in numerator layout, n×m in denominator layout."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'numerator' or 'denominator', got {layout!r}")
    xs = _variables(variables)
    table = {str(v): v for v in xs}
    fs = _expressions(exprs, table)
    jac = sympy.Matrix([[sympy.diff(f, x) for x in xs] for f in fs])
    return jac if layout == "numerator" else jac.T


def gradient(expr, variables) -> sympy.Matrix:
    """Gradient of a scalar expression: the n×1 column of ∂f/∂x_j (the shape of the variables)."""
    xs = _variables(variables)
    fs = _expressions(expr, {str(v): v for v in xs})
    if len(fs) != 1:
        raise ValueError(f"gradient needs one scalar expression, got {len(fs)}: use jacobian")
    return sympy.Matrix([sympy.diff(fs[0], x) for x in xs])
