"""`import chainrule_utils` loads numpy only; sympy and matplotlib load when their helpers are used."""

import json
import subprocess
import sys

import chainrule_utils

PUBLIC = ["numerical_jacobian", "numerical_gradient", "check_jacobian", "check_gradient", "check_jvp",
          "check_vjp", "check_array", "diagnose", "Diagnosis", "CheckReport"]


def _modules_after(code: str) -> dict:
    probe = "import json, sys\nprint(json.dumps({m: m in sys.modules for m in ('sympy', 'matplotlib')}))"
    script = code + "\n" + probe
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_does_not_load_sympy_or_matplotlib():
    assert _modules_after("import chainrule_utils") == {"sympy": False, "matplotlib": False}
    assert _modules_after("from chainrule_utils import *") == {"sympy": False, "matplotlib": False}


def test_symbolic_loads_sympy_only_when_used():
    assert _modules_after("import chainrule_utils.symbolic") == {"sympy": True, "matplotlib": False}


def test_public_api_is_exported():
    for name in PUBLIC:
        assert hasattr(chainrule_utils, name), name
    assert set(PUBLIC) <= set(chainrule_utils.__all__)


def test_unknown_attribute_is_an_attribute_error():
    try:
        chainrule_utils.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
