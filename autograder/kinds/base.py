"""What every exercise kind provides (`Kind`), the one loop over a catalogue of wrong answers, and
the verdict type.

A kind's members, by where they run:
- authoring (spec load, grader process): `keys`, `check_spec`;
- a grading run (grader process): `draw` the inputs the sandbox needs, `payload` to send them;
- the sandbox (untrusted process, plain data out): `read` the student's object into plain data;
- the grader again (plain data in, from the sandbox: untrusted): `refusals`, `reference`, `judge`,
  `same`, with `catalogued` (the shared loop) matching the student's answer to a catalogued wrong one;
- a release: `selfcheck_data` (the student-side self-check's data: chainrule_utils.selfcheck) and
  `observed` (what that self-check would observe of a reference answer).

Because `read` runs in the sandbox, kind modules import only light things at module level (numpy,
the standard library, autograder.wire/alarm/messages); sympy and chainrule_utils inside functions.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autograder.wire import WireError, decode

if TYPE_CHECKING:
    import numpy as np

    from autograder.spec import Exercise, WrongAnswer

EXPR_TIMEOUT = 2.0   # seconds for one symbolic comparison in the grader


@dataclass
class Verdict:
    """Credit in [0, 1], the mistake id (None when right) and one student-facing message."""

    credit: float
    mistake: str | None = None
    message: str | None = None
    detail: dict = field(default_factory=dict)


class ReferenceError_(Exception):
    """The source notebook's own answer could not be evaluated (an authoring problem)."""


class BadSpec(ValueError):
    """A kind-specific problem in a grading spec; spec.py prefixes notebook and cell."""


class Kind:
    """One exercise kind. Subclasses live one per module in autograder.kinds, as `KIND = TheKind()`;
    the module's name is the spec's "kind" value. `ex` is a validated autograder.spec.Exercise,
    `ref` its reference entry {"expected": answer, "wrong": [answer per catalogued wrong answer]}
    where each answer is what `read` produced when the SOURCE notebook ran (None if never reached)."""

    keys: frozenset[str] = frozenset()
    """Spec keys this kind accepts besides the common ones (kind, answer, hand, target, rtol, atol,
    wrong)."""

    def check_spec(self, spec: dict) -> None:
        """Validate this kind's keys of `spec`; raise BadSpec with a one-line reason."""

    # -- a grading run (grader) ---------------------------------------------------------------

    def draw(self, ex: Exercise, rng: np.random.Generator):
        """Inputs of `ex` the sandbox needs, JSON-able, drawn once per grading run and shared by the
        reference run and every student (None: the kind needs none)."""
        return None

    def payload(self, ex: Exercise, drawn) -> dict:
        """Fields this kind adds to the exercise's description sent to the sandbox (`read`'s
        `payload`), given what `draw` returned."""
        return {}

    # -- the sandbox ----------------------------------------------------------------------------

    def read(self, obj, payload: dict, timeout: float) -> dict:
        """The student's object `obj` (found under the answer's name) as plain data:
        {"status": "ok", ...} or {"status": <a refusal of this kind>, ...}. Runs inside the sandbox;
        every call into `obj` under an autograder.alarm.Alarm(timeout). May raise (the runner reports
        {"status": "error"})."""
        raise NotImplementedError

    # -- the grader -----------------------------------------------------------------------------

    refusals: dict[str, str] = {}
    """Status -> message for the statuses other than ok/error that this kind's `read` reports (the
    status is also the mistake id); "{answer}" and "{type}" (the type's name with its article, "an
    int") in the message are filled in."""

    def refusal(self, ex: Exercise, answer: dict) -> Verdict | None:
        """The verdict for a status in `refusals`; None for any other status."""
        status = answer.get("status")
        template = self.refusals.get(status) if isinstance(status, str) else None
        if template is None:
            return None
        return Verdict(0.0, status, template.format(answer=ex.answer, type=with_article(short(answer.get("type")))))

    def reference(self, entry, what: str):
        """The comparable value of a reference answer (the source's, or a catalogued wrong answer's);
        ReferenceError_ naming `what` when it could not be evaluated. Default: a decoded "value"."""
        if not isinstance(entry, dict) or entry.get("status") != "ok":
            why = (entry.get("error") or entry.get("status")) if isinstance(entry, dict) else "not evaluated"
            raise ReferenceError_(f"{what}: {why}")
        return decode(entry["value"])

    def unusable(self, entry) -> str | None:
        """Why a reference answer cannot be compared against (None: usable); for `verify`."""
        if not isinstance(entry, dict):
            return "not reached"
        if entry.get("status") != "ok":
            return str(entry.get("error") or entry.get("status"))[:200]
        return None

    def same(self, got, value, ex: Exercise) -> bool:
        """Whether the student's answer `got` (as this kind's `judge` decoded it) equals the reference
        value `value` (from `reference`) under the exercise's rule."""
        raise NotImplementedError

    def judge(self, ex: Exercise, ref: dict, answer: dict) -> Verdict:
        """Compare the student's ok-status `answer` with `ref` and explain. May raise ReferenceError_
        (the reference is unusable), WireError/KeyError/TypeError/ValueError (unreadable answer):
        autograder.judge turns those into verdicts."""
        raise NotImplementedError

    def catalogued(self, ex: Exercise, ref: dict, got) -> WrongAnswer | None:
        """The first catalogued wrong answer that the student's `got` equals (`same`), if any; wrong
        answers whose reference could not be evaluated are skipped."""
        wrong = ref.get("wrong") or []
        for k, w in enumerate(ex.wrong):
            try:
                value = self.reference(wrong[k] if k < len(wrong) else None, "wrong answer")
            except (ReferenceError_, WireError):
                continue
            if self.same(got, value, ex):
                return w
        return None

    # -- the student's self-check (a release) ------------------------------------------------------

    def selfcheck_data(self, ex: Exercise, ref: dict, salt: str) -> dict:
        """The data of the student-side self-check of `ex` (chainrule_utils.selfcheck), stored in the
        release's selfcheck.json. `ref` is the reference entry of a run of the SOURCE at inputs drawn
        from a fixed seed (`draw`); `salt` is the exercise's salt for chainrule_utils.fingerprint.
        JSON-able: "probe" (the primitive that observes an answer: call, evaluate, value or
        derivation), "answer", the fixed points, and fingerprints of the reference, of every catalogued
        wrong answer (with its mistake id and message) and of the transforms the diagnoses need; never a
        value or formula that gives the answer away. Raises ReferenceError_ when it cannot be built."""
        raise NotImplementedError

    def observed(self, entry):
        """What the student-side self-check observes of an answer that gave the sandbox `entry` (the
        release checks its own data against the source's answers with it). Default: the decoded value."""
        return decode(entry["value"])


def verdict_of(ex: Exercise, outcome, detail: dict | None = None) -> Verdict:
    """The Verdict for a chainrule_utils.verdicts.Outcome: full credit when right, the catalogued wrong
    answer's credit and sentence when it matched one, else 0 with the outcome's mistake."""
    detail = {**(detail or {}), **outcome.detail}
    if outcome.wrong is not None:
        w = ex.wrong[outcome.wrong]
        return Verdict(w.max_score, w.mistake, w.message, detail)
    if outcome.mistake is None:
        return Verdict(1.0, None, None, detail)
    return Verdict(0.0, outcome.mistake, outcome.message, detail)


def is_identifier(name) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def is_number(v, *, minimum=None, integer=False) -> bool:
    if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)):
        return False
    return minimum is None or v >= minimum


def with_article(word: str) -> str:
    """'an int', 'a float'."""
    return ("an " if word and word[0].lower() in "aeiou" else "a ") + word


def short(text, n: int = 80) -> str:
    """`text` on one line, cut to `n` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
