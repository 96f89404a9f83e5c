"""Probe points for function exercises, drawn fresh at grading time from the spec's `args`.

Random arguments use a generator seeded from os.urandom (students cannot predict them); the spec's
fixed `points` (e.g. the point shown in the prompt) are appended. A shape [] argument is a Python
float; `{"value": v}` is passed as given (lists become float arrays); `integer: True` draws integers
in [low, high].
"""
from __future__ import annotations

import os

import numpy as np

from autograder.spec import DEFAULT_COUNT, Exercise


def secret_rng() -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(os.urandom(16), "little"))


def draw_probes(ex: Exercise, rng: np.random.Generator) -> list[list]:
    """The argument lists at which the answer of function exercise `ex` is evaluated."""
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
    if isinstance(v, list):
        return np.asarray(v, dtype=float)
    return v
