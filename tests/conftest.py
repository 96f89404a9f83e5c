"""Shared fixtures for the whole suite (helpers live in coursekit.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from coursekit import make_tiny_course


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs real notebooks in sandboxes (seconds to minutes)")


@pytest.fixture
def tiny_course(tmp_path) -> Path:
    """A fresh tiny course folder (source only)."""
    return make_tiny_course(tmp_path / "course")
