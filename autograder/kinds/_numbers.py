"""Numbers shared by the kinds.

Sandbox side: sympy numbers become Python numbers (`numeric`, chainrule_utils.values: the value rule
the student's self-check applies too), since `slope = p.subs(x, 2)` is a number to the student.
Grader side: references for chainrule_utils.verdicts built from the source's values.
"""
from __future__ import annotations


def sympy_types():
    import sympy

    return (sympy.Basic, sympy.MatrixBase)


def numeric(obj):
    """chainrule_utils.values.numeric (imported on use: kind modules load nothing heavy)."""
    from chainrule_utils.values import numeric as _numeric

    return _numeric(obj)


def exact_reference(exp, rtol: float, atol: float):
    """A chainrule_utils.diagnosis.ExactReference for the source's value `exp` (entries match when
    |got - exp| <= atol + rtol * max(1, |exp|))."""
    import numpy as np

    from chainrule_utils.diagnosis import ExactReference, _reference_array

    arr = _reference_array(exp)
    return ExactReference(arr, float(atol) + float(rtol) * np.maximum(1.0, np.abs(arr)))


def numeric_match(got, exp, rtol: float, atol: float) -> bool:
    """Whether the untrusted `got` equals `exp` under the numeric rule (a value the sandbox could not
    send is never a match)."""
    from chainrule_utils.diagnosis import diagnose_reference
    from chainrule_utils.verdicts import diagnosable

    return bool(diagnose_reference(diagnosable(got), exact_reference(exp, rtol, atol)))
