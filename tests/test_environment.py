"""environment.yml and pyproject.toml must list the same dependencies (conda users get what pip users get)."""
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _conda_deps() -> dict[str, str]:
    deps, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+)(.*)$", line)
        if in_deps and m and m.group(1) not in ("python", "pip"):
            deps[m.group(1).lower()] = m.group(2).strip().replace("=", "==", 1) if re.match(r"^=[^=]", m.group(2).strip()) else m.group(2).strip()
    return deps


def test_environment_lists_the_same_runtime_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_deps = {_name(r): r[len(_name(r)):].strip() for r in project["dependencies"]}
    conda = _conda_deps()
    assert set(conda) == set(pip_deps), f"only in environment.yml: {set(conda) - set(pip_deps)}; only in pyproject: {set(pip_deps) - set(conda)}"
    for name, spec in pip_deps.items():
        assert conda[name] == spec, f"{name}: pyproject says {spec!r}, environment.yml says {conda[name]!r}"


def test_environment_installs_the_project_with_dev_extras_and_python_311():
    text = (ROOT / "environment.yml").read_text()
    assert "name: chainrule" in text
    assert re.search(r"^  - python=3\.11$", text, re.M)
    assert "-e .[dev]" in text


@pytest.mark.xdist_group("environment")
def test_xdist_groups_reach_the_scheduler(request):
    """Under `--dist loadgroup` (make test) a test's group must be part of its id, which is what keeps
    a group on one worker: its module fixture then grades a class once, and the site is built once,
    never twice at the same time in one folder. (pytest 9 with pytest-xdist 3.8 loses it.)"""
    if not getattr(request.config.option, "loadgroup", False):   # set by xdist on its workers
        pytest.skip("only meaningful on an xdist worker with --dist loadgroup (make test)")
    assert request.node.nodeid.endswith("@environment"), request.node.nodeid
