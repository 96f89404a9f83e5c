"""The exercise-kind registry (autograder.kinds): one module per kind, nothing heavy in the sandbox's
import path, the one catalogue loop."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograder.kinds import NAMES, kind_of
from autograder.kinds.base import Kind
from autograder.spec import Exercise, WrongAnswer
from autograder.wire import encode

AUTHORING = Path(__file__).resolve().parents[2] / "course" / "AUTHORING.md"


@pytest.mark.parametrize("name", NAMES)
def test_every_kind_module_defines_a_complete_kind(name):
    kind = kind_of(name)
    assert isinstance(kind, Kind)
    for method in ("read", "same", "judge", "selfcheck_data"):   # the base raises NotImplementedError
        assert getattr(type(kind), method) is not getattr(Kind, method), f"{name} lacks {method}"
    assert not kind.keys & {"kind", "answer", "hand", "target", "rtol", "atol", "wrong"}
    assert f'`"{name}"`' in AUTHORING.read_text(), f"course/AUTHORING.md does not describe kind {name!r}"


def test_unknown_kind_is_refused():
    with pytest.raises(KeyError):
        kind_of("base")
    with pytest.raises(KeyError):
        kind_of("magic")


def test_kinds_import_nothing_heavy_at_module_level():
    """Kind modules are imported in the sandbox: sympy, chainrule_utils, nbformat and the spec loader
    must only be imported when a kind actually needs them."""
    code = ("import sys\nfrom autograder.kinds import NAMES, kind_of\n[kind_of(n) for n in NAMES]\n"
            "print(sorted(m for m in ('sympy', 'chainrule_utils', 'nbformat', 'autograder.spec',"
            " 'autograder.judge') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_catalogue_loop_skips_unusable_entries_and_returns_the_first_match():
    wrong = tuple(WrongAnswer(f"w{k}", f"message {k}", "...") for k in range(5))
    ex = Exercise("g", "nb", 1.0, "value", "v", "g_answer", {"kind": "value", "answer": "v"}, wrong, False)
    ok = [{"status": "ok", "value": encode(v)} for v in (4, 3, 3)]
    ref = {"expected": {"status": "ok", "value": encode(2)},
           "wrong": [None, {"status": "error", "error": "boom"}, {"status": "ok", "value": {"t": "?"}}, *ok]}
    kind = kind_of("value")
    assert kind.catalogued(ex, ref, 3) is wrong[4]
    assert kind.catalogued(ex, ref, 4) is wrong[3]
    assert kind.catalogued(ex, ref, 2) is None
    assert kind.catalogued(ex, {"expected": None}, 3) is None
