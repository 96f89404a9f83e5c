"""Exercise kinds, one module each: the module's name is the spec's "kind" value and it defines
`KIND`, an instance of base.Kind that holds everything about that kind (spec keys and validation, the
sandbox payload, reading the answer in the sandbox, comparing and explaining in the grader, the
self-check's data). Adding a kind is adding a module here (plus its tests): nothing else names kinds.
Modules whose name starts with "_", and `base`, are helpers, not kinds.
"""
from __future__ import annotations

import importlib
import pkgutil

from autograder.kinds.base import Kind

NAMES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                     if not m.name.startswith("_") and m.name != "base"))


def kind_of(name: str) -> Kind:
    """The Kind named `name` (KeyError for a name that is not one of NAMES)."""
    if name not in NAMES:
        raise KeyError(f"no exercise kind {name!r}")
    return importlib.import_module(f"{__name__}.{name}").KIND
