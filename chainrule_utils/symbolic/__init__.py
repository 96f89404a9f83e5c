"""Symbolic helpers (sympy): safe parsing, Jacobians in a layout, and equality with a diagnosis.

``parse_expression`` never evaluates text; ``equivalent`` and ``compare_expressions`` never hang.
"""

from .calculus import gradient, jacobian
from .compare import ExprReport, check_expression, compare_expressions, equivalent
from .parse import parse_expression

__all__ = ["ExprReport", "check_expression", "compare_expressions", "equivalent", "gradient", "jacobian",
           "parse_expression"]
