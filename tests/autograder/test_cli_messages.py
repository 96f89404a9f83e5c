"""The command line in the instructor's words: defaults in --help, a --course DIR that is no course named."""
from __future__ import annotations

import re

import pytest

from autograder.__main__ import build_parser, main


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return " ".join(sub.format_help().split())


def test_help_shows_the_defaults_that_matter():
    text = _help("grade")
    assert re.search(r"--jobs JOBS parallel sandboxes \(default: the number of CPU cores, \d+ here\)", text)
    assert re.search(r"--timeout TIMEOUT time limit per notebook: CPU seconds .*; default: 120.0\)", text)
    assert re.search(r"--judge-budget S CPU seconds to judge one submission's answers .*; default: 30.0\)", text)
    assert "--cell-timeout CELL_TIMEOUT limit per cell, in seconds (default: 30.0)" in text
    assert "--memory MB memory limit per notebook, in MB (default: 2048)" in text
    assert "regrade those already graded (default" not in text          # flags show no "False"
    assert "(default: csv)" in _help("export")
    assert "(default: 0)" in _help("sample") and "(default: zip)" in _help("sample")
    assert "(default: None)" not in " ".join(_help(c) for c in ("grade", "export", "sample", "feedback"))


@pytest.mark.parametrize("make, words", [
    (lambda p: p.mkdir(), "not an nbgrader course (it has no nbgrader_config.py"),
    (lambda p: None, "no such folder"),
    (lambda p: p.write_text("x"), "not a folder"),
])
def test_a_course_folder_that_is_not_a_course_is_named_in_the_message(tmp_path, capsys, make, words):
    where = tmp_path / "my course"
    make(where)
    assert main(["--course", str(where), "report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --course {where}: ") and words in err
    assert "pass --course DIR" not in err and len(err.splitlines()) == 1
