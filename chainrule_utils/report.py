"""The result of a check: ``CheckReport`` (truthy iff correct) and ``check_array`` for given arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .diagnosis import Diagnosis, _as_numeric, _reference_array, diagnose_with_tolerance


@dataclass
class CheckReport:
    """Outcome of comparing an answer with a reference.

    ``max_abs_error`` / ``max_rel_error`` (relative to ``max(1, |expected|)``) and ``worst_index`` are
    over entries of matching shape (NaN when the shapes differ or the answer is not numeric);
    ``diagnosis`` names the mistake. ``bool(report)`` is True iff the answer is correct.
    """

    what: str
    expected: np.ndarray
    got: object
    diagnosis: Diagnosis
    max_abs_error: float = float("nan")
    max_rel_error: float = float("nan")
    worst_index: tuple | None = None
    notes: list[str] = field(default_factory=list)
    reveal: bool = True  # False: the text shows no expected value and no error size (they give the answer away)

    def __bool__(self) -> bool:
        return bool(self.diagnosis)

    @property
    def ok(self) -> bool:
        return bool(self.diagnosis)

    def __str__(self) -> str:
        if self.ok:
            head = f"{self.what}: correct"
            if np.isfinite(self.max_rel_error):
                head += f" (max relative error {self.max_rel_error:.1e})"
            return "\n".join([head + "."] + ["  " + note for note in self.notes])
        lines = [f"{self.what}: {self.diagnosis.kind.upper()} - {self.diagnosis.message}"]
        if self.reveal and self.worst_index is not None and np.isfinite(self.max_abs_error):
            lines.append(f"  largest error {self.max_abs_error:.3g} at index {_fmt_index(self.worst_index)}"
                         f" (relative {self.max_rel_error:.3g})")
        lines.extend("  " + note for note in self.notes)
        return "\n".join(lines)

    __repr__ = __str__

    def assert_ok(self) -> CheckReport:
        """Raise AssertionError with the readable report unless the answer is correct."""
        if not self.ok:
            raise AssertionError(str(self))
        return self


def _fmt_index(ix: tuple) -> str:
    return "()" if len(ix) == 0 else (str(ix[0]) if len(ix) == 1 else str(ix).replace(" ", ""))


def build_report(what: str, got, expected, tol, *, notes=None, reveal: bool = True) -> CheckReport:
    """Diagnose ``got`` against ``expected`` with per-entry tolerance ``tol`` and fill the error fields.
    ``reveal=False``: the report's text never shows an expected value or the size of the error."""
    exp = _reference_array(expected)
    tol = np.broadcast_to(np.asarray(tol, dtype=float), exp.shape)
    diagnosis = diagnose_with_tolerance(got, exp, tol, reveal=reveal)
    report = CheckReport(what=what, expected=exp, got=got, diagnosis=diagnosis, notes=list(notes or []),
                         reveal=reveal)
    try:
        arr, bad = _as_numeric(got, exp)
        if bad is None and arr.shape == exp.shape and arr.size:
            with np.errstate(invalid="ignore", over="ignore"):
                err = np.abs(arr - exp)
                rel = err / np.maximum(1.0, np.abs(exp))
            rel_safe = np.where(np.isnan(rel), np.inf, rel)
            worst = np.unravel_index(int(np.argmax(rel_safe)), exp.shape)
            report.worst_index = tuple(int(i) for i in worst)
            report.max_abs_error = float(np.nanmax(err)) if not np.isnan(err).all() else float("nan")
            report.max_rel_error = float(np.nanmax(rel)) if not np.isnan(rel).all() else float("nan")
            if np.isnan(err).any():
                report.max_abs_error = report.max_rel_error = float("inf")
    except TimeoutError:  # an outer time limit must still fire
        raise
    except Exception:  # the error fields are a convenience; the diagnosis already stands
        pass
    return report


def check_array(got, expected, *, rtol: float = 1e-9, atol: float = 0.0, what: str = "Answer",
                reveal: bool = True) -> CheckReport:
    """Compare a given answer with a given reference: entries match when
    ``|got - expected| <= atol + rtol * max(1, |expected|)``. Returns a CheckReport. Use
    ``reveal=False`` when the reference is the answer itself (a value exercise): then the report names
    the kind of mistake but never shows an expected value or the size of the error."""
    exp = _reference_array(expected)
    tol = float(atol) + float(rtol) * np.maximum(1.0, np.abs(exp))
    return build_report(what, got, exp, tol, reveal=reveal)
