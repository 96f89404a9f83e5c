"""Kind "function": the answer is a function, judged by its values at probe points.

Spec keys: `args` (one spec per positional argument: {"shape": [..], "low": a, "high": b} drawn
uniformly, "integer": True for integers in [low, high], or {"value": literal} fixed; shape [] is a
Python float), `count` random probes (default 4) and optional fixed `points` (argument lists).
Probes are drawn at grading time from a secret seed, so students cannot predict them.
Sandbox: the answer is called at every probe (each call under the time limit, on copies of the
arguments); its values are sent, or the error each call raised. Grader: every value must match the
reference entry by entry (shape exactly; rtol/atol); otherwise a catalogued wrong answer, a numerical
approximation (hand derivations), or the common mistake (`diagnose`) that explains every failing probe.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from autograder.alarm import Alarm
from autograder.kinds._numbers import exact_reference, numeric, numeric_match
from autograder.kinds.base import BadSpec, Kind, ReferenceError_, Verdict, is_number, verdict_of
from autograder.messages import error_text
from autograder.wire import WireError, decode, encode, encode_args

if TYPE_CHECKING:
    from autograder.spec import Exercise

DEFAULT_COUNT = 4
MAX_COUNT = 50
MAX_PROBE_NUMBERS = 10**5


class FunctionKind(Kind):
    keys = frozenset({"args", "count", "points"})
    refusals = {"not_callable": "{answer} should be a function, but it is {type}."}

    def check_spec(self, spec: dict) -> None:
        args = spec.get("args")
        if not isinstance(args, list):
            raise BadSpec("a function spec needs `args`, a list with one spec per argument")
        for i, a in enumerate(args):
            _check_arg(a, f"args[{i}]")
        count = spec.get("count", DEFAULT_COUNT)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
            raise BadSpec(f"`count` must be an integer from 0 to {MAX_COUNT}, got {count!r}")
        points = spec.get("points", [])
        n = len(args)
        if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == n for p in points):
            raise BadSpec(f"`points` must be a list of argument lists, {n} argument(s) each")
        if count + len(points) == 0:
            raise BadSpec("no probe points (count is 0 and no `points`)")

    def draw(self, ex: Exercise, rng: np.random.Generator) -> list:
        return [encode_args(args) for args in draw_probes(ex, rng)]

    def payload(self, ex: Exercise, drawn) -> dict:
        return {"probes": drawn}

    def read(self, obj, payload: dict, timeout: float) -> dict:
        if not callable(obj):
            return {"status": "not_callable", "type": type(obj).__name__[:100]}
        outs = []
        for enc_args in payload["probes"]:
            args = [decode(a) for a in enc_args]
            try:
                with Alarm(timeout):
                    value = obj(*[copy.deepcopy(a) for a in args])
                    outs.append({"ok": encode(numeric(value))})
            except BaseException as exc:  # noqa: BLE001  (the student's code may raise anything)
                outs.append({"error": error_text(exc)})
        return {"status": "ok", "probes": outs}

    def reference(self, entry, what: str) -> list:
        if not isinstance(entry, dict) or entry.get("status") != "ok":
            why = entry.get("error") or entry.get("status") if isinstance(entry, dict) else "not evaluated"
            raise ReferenceError_(f"{what}: {why}")
        out = []
        for p in entry["probes"]:
            if "ok" not in p:
                raise ReferenceError_(f"{what} raised {p.get('error')}")
            out.append(decode(p["ok"]))
        return out

    def unusable(self, entry) -> str | None:
        why = super().unusable(entry)
        probes = entry.get("probes", []) if why is None else []
        if not all("ok" in p for p in probes):
            errs = [p.get("error") for p in probes if "error" in p]
            why = str(errs[0])[:200] if errs else "?"
        return why

    def same(self, got: list, value: list, ex: Exercise) -> bool:
        return len(value) == len(got) and all(numeric_match(g, e, ex.rtol, ex.atol)
                                              for g, e in zip(got, value, strict=True))

    def judge(self, ex: Exercise, ref: dict, answer: dict) -> Verdict:
        from chainrule_utils import verdicts

        expected = self.reference(ref.get("expected"), "the reference answer")
        got = _student_probes(answer)
        if len(got) != len(expected):
            raise WireError("probe count differs")
        refs = [exact_reference(e, ex.rtol, ex.atol) for e in expected]

        def catalogue(values):
            hit = self.catalogued(ex, ref, values)
            return None if hit is None else ex.wrong.index(hit)

        def approximate(values):
            return all(numeric_match(g, e, 1e-5, 0.0) for g, e in zip(values, expected, strict=True))

        def joint_factor(values):  # exact references always name their factor
            return False

        out = verdicts.points(ex.answer, got, refs, catalogue=catalogue, hand=ex.hand, approximate=approximate,
                              joint_factor=joint_factor)
        return verdict_of(ex, out, {"probes": len(expected), "rtol": ex.rtol, "atol": ex.atol})


    def observed(self, entry) -> list:
        return _student_probes(entry)

    def selfcheck_data(self, ex: Exercise, ref: dict, salt: str) -> dict:
        from chainrule_utils import fingerprint as fp
        from chainrule_utils.diagnosis import _as_numeric, _reference_array
        from chainrule_utils.selfcheck import encode_args

        points = [[decode(a) for a in p] for p in ref["drawn"]]
        expected = [_reference_array(v) for v in self.reference(ref.get("expected"), "the reference answer")]
        wrong = []
        for k in range(len(ex.wrong)):
            try:
                values = self.reference((ref.get("wrong") or [None] * (k + 1))[k], "wrong answer")
            except (ReferenceError_, WireError):
                wrong.append(None)
                continue
            arrays = [_as_numeric(v, np.zeros(1)) for v in values]
            wrong.append(None if any(bad is not None for _, bad in arrays) else [a for a, _ in arrays])
        joint = np.concatenate([e.ravel() for e in expected])
        grids = fp.plan_grids(expected, [a for w in wrong if w for a in w], ex.rtol, approx=ex.hand, joint=joint)
        u = fp.unit(joint)
        return {"probe": "call", "answer": ex.answer, "hand": ex.hand, "salt": salt, "grids": grids.to_json(),
                "points": [encode_args(p) for p in points],
                "expected": [fp.numeric_print(e, grids, salt, i) for i, e in enumerate(expected)],
                "joint_unit": fp.array_print(u, grids.unit, salt, "joint") if u is not None else None,
                "wrong": [{"mistake": w.mistake, "message": w.message,
                           "prints": None if arrays is None else
                           [fp.array_print(a, grids.exact, salt, i) for i, a in enumerate(arrays)]}
                          for w, arrays in zip(ex.wrong, wrong, strict=True)]}


KIND = FunctionKind()


# ---------------------------------------------------------------------------------------------
# the spec's arguments and the probes drawn from them


def _check_arg(a, at: str) -> None:
    if not isinstance(a, dict):
        raise BadSpec(f"{at}: must be a dict such as {{'shape': [3], 'low': -1, 'high': 1}}")
    if "value" in a:
        if set(a) != {"value"}:
            raise BadSpec(f"{at}: a fixed argument has only the key 'value'")
        return
    extra = set(a) - {"shape", "low", "high", "integer"}
    if extra:
        raise BadSpec(f"{at}: unknown key(s) {', '.join(sorted(map(str, extra)))}")
    shape = a.get("shape")
    if not isinstance(shape, list) or not all(is_number(n, minimum=0, integer=True) for n in shape):
        raise BadSpec(f"{at}: `shape` must be a list of non-negative integers, got {shape!r}")
    size = 1
    for n in shape:
        size *= n
    if size > MAX_PROBE_NUMBERS:
        raise BadSpec(f"{at}: shape {shape} is too large (more than {MAX_PROBE_NUMBERS} numbers)")
    low, high = a.get("low", -1.0), a.get("high", 1.0)
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadSpec(f"{at}: `low`/`high` must be numbers, got {v!r}")
    if not low < high and not (a.get("integer") and low == high):
        raise BadSpec(f"{at}: needs low < high, got low={low!r}, high={high!r}")
    if not isinstance(a.get("integer", False), bool):
        raise BadSpec(f"{at}: `integer` must be True or False")


def draw_probes(ex: Exercise, rng: np.random.Generator) -> list[list]:
    """The argument lists at which the answer of `ex` is evaluated: `count` random ones, then the
    spec's fixed `points`."""
    args = ex.spec["args"]
    probes = []
    for _ in range(ex.spec.get("count", DEFAULT_COUNT)):
        probes.append([_draw(a, rng) for a in args])
    for point in ex.spec.get("points", []):
        probes.append([_fixed(v) for v in point])
    return probes


def _draw(a: dict, rng: np.random.Generator):
    if "value" in a:
        return _fixed(a["value"])
    shape = tuple(a["shape"])
    low, high = a.get("low", -1.0), a.get("high", 1.0)
    if a.get("integer"):
        values = rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1, size=shape)
        return int(values) if shape == () else values.astype(np.int64)
    values = rng.uniform(low, high, size=shape)
    return float(values) if shape == () else values


def _fixed(v):
    """A fixed argument as given; a list becomes a float array."""
    if isinstance(v, list):
        return np.asarray(v, dtype=float)
    return v


# ---------------------------------------------------------------------------------------------
# judging


def _student_probes(answer: dict) -> list:
    """[("ok", value) or ("error", text)] per probe, from untrusted data (WireError when malformed)."""
    probes = answer.get("probes")
    if not isinstance(probes, list):
        raise WireError("no probes")
    out = []
    for p in probes:
        if isinstance(p, dict) and "ok" in p:
            out.append(("ok", decode(p["ok"])))
        elif isinstance(p, dict) and isinstance(p.get("error"), str):
            out.append(("error", p["error"][:300]))
        else:
            raise WireError("bad probe result")
    return out

