"""What is wrong with an answer, decided once for the grader and the student's self-check.

The grader (autograder.kinds.function / value) calls these with ExactReference objects built from the
source notebook's answer; a self-check (chainrule_utils.selfcheck) calls them with PrintedReference
objects built from fingerprints (chainrule_utils.fingerprint). The order of the tests and every
sentence live here only, so a self-check names the mistake the grader names, in the same words.

An ``Outcome`` is the mistake id (None: right), one student-facing sentence, details for the
instructor, and the index of the catalogued wrong answer it matched (its own sentence and credit
are the catalogue's). No sentence prints an expected value or says how to turn the answer into it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .diagnosis import diagnose_reference
from .values import describe, value_class

SYSTEMATIC = ("sign", "factor", "transpose", "diag_only", "diag_vector", "diag_matrix")
"""Diagnoses that claim one mistake explains the whole answer: named only when every failing point
agrees."""

APPROXIMATE = ("Your values are close to the derivative but not exact (they agree to about 1e-5 but not "
               "to the 1e-11 a formula gives): this looks like a numerical approximation. Derive the exact "
               "formula by hand.")


@dataclass
class Outcome:
    mistake: str | None
    message: str | None = None
    detail: dict = field(default_factory=dict)
    wrong: int | None = None  # the catalogued wrong answer matched (its message and credit apply)

    @property
    def right(self) -> bool:
        return self.mistake is None and self.wrong is None


def diagnosable(v):
    """An untrusted value for `diagnose`: a value that is not data is described by its type name."""
    if hasattr(v, "type_name"):
        return f"<{v.type_name}>"
    return v


def call_error(name: str, error: str) -> Outcome:
    """Calling the answer `name` raised `error` ("Type: message")."""
    if error.startswith("NotImplementedError"):
        return Outcome("unanswered", f"{name} still raises NotImplementedError: not answered yet.")
    return Outcome("error", f"Calling {name} raised {error}")


def points(name: str, got: list, refs: list, *, catalogue, hand: bool, approximate, joint_factor) -> Outcome:
    """A function answer evaluated at several points.

    got: [("ok", value) or ("error", "Type: message")] per point; refs: a diagnosis.Reference per
    point; catalogue(values): index of the first catalogued wrong answer equal to the values at every
    point, or None; approximate(values): the values are right up to a numerical approximation;
    joint_factor(values): the same constant factor explains every point (asked only when the
    references cannot name the factors, e.g. fingerprints of an arbitrary ratio)."""
    detail = {"probes": len(refs)}
    for status, value in got:
        if status == "error":
            out = call_error(name, value)
            out.detail = detail
            return out
    values = [diagnosable(v) for _, v in got]
    diagnoses = [diagnose_reference(v, r) for v, r in zip(values, refs, strict=True)]
    if all(diagnoses):
        return Outcome(None, None, detail)
    hit = catalogue(values)
    if hit is not None:
        return Outcome(None, None, detail, wrong=hit)
    if hand and approximate(values):
        return Outcome("approximate", APPROXIMATE, detail)
    failing = [d for d in diagnoses if not d]
    first = failing[0]
    if not _consistent(failing, lambda: len(failing) == len(diagnoses) and joint_factor(values)):
        return Outcome("wrong", f"Your values are wrong at {len(failing)} of {len(diagnoses)} points, and "
                                "no single common mistake (sign, transpose, constant factor) explains them "
                                "all: re-derive the formula.", detail)
    detail.update(safe_details(first.details))
    return Outcome(first.kind, first.message, detail)


def _consistent(failing: list, joint) -> bool:
    """Whether the first failing diagnosis holds at every failing point (same kind; same factor)."""
    first = failing[0]
    if first.kind not in SYSTEMATIC:
        return True
    if any(d.kind != first.kind for d in failing[1:]):
        return False
    if first.kind != "factor" or len(failing) == 1:
        return True
    factors = [d.details.get("factor") for d in failing]
    if all(isinstance(c, float) for c in factors):
        a = factors[0]
        return all(abs(a - b) <= 1e-6 * max(abs(a), abs(b)) for b in factors[1:])
    return bool(joint())


class ValueReference:
    """What `value` needs to know about an expected value: its class (chainrule_utils.values.value_class),
    how to describe it, equality, equality of a reversed tuple, and a diagnosis.Reference for a number
    or an array (else None)."""

    cls: str
    description: str
    numeric = None

    def equal(self, got) -> bool:
        raise NotImplementedError

    def reversed_equal(self, got) -> bool:
        raise NotImplementedError


def value(name: str, got, ref: ValueReference, *, catalogue) -> Outcome:
    """A value answer (a number, tuple, string, bool or array), plain data (chainrule_utils.values)."""
    if ref.equal(got):
        return Outcome(None)
    hit = catalogue(got)
    if hit is not None:
        return Outcome(None, wrong=hit)
    got_class = value_class(got)
    if ref.numeric is not None and (ref.cls == "array" or got_class in ("number", "array")):
        d = diagnose_reference(diagnosable(got), ref.numeric)
        if not d:
            return Outcome(d.kind, d.message, safe_details(d.details))
    if ref.cls == "seq" and isinstance(got, (tuple, list)) and len(got) > 1 and ref.reversed_equal(got):
        return Outcome("transpose", "Your tuple is in reverse order: for a shape, numerator layout puts the "
                                    "outputs first and the inputs second.")
    if got_class != ref.cls:
        return Outcome("bad_type", f"{name} should be {ref.description}, but it is {describe(got)}.")
    return Outcome("wrong", f"{name} has the wrong value.")


def safe_details(details: dict) -> dict:
    """The plain-typed entries of a diagnosis's details (lists cut to 20 items), for a verdict."""
    out = {}
    for key, v in (details or {}).items():
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = v
        elif isinstance(v, (list, tuple)):
            out[key] = [list(x) if isinstance(x, tuple) else x for x in list(v)[:20]]
    return out
