"""README's instructor block, taken from README.md itself, runs as written: as a bash script in a new,
clean environment (no activated venv, a bare PATH, an empty HOME) from a folder laid out like this
repository after `make setup` (its .venv, a course), in the order an instructor works."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_pipe_fixture import REPO, make_course

pytestmark = pytest.mark.slow


def instructor_block(readme: Path = REPO / "README.md") -> list[str]:
    """The command lines of the first ```bash block under '## For instructors' (comment lines dropped)."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("\n## For instructors", 1)[1]
    block = re.search(r"```bash\n(.*?)\n```", section, re.S)
    assert block, "README's instructor section has no ```bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_block_follows_the_instructors_order():
    steps = [m.group(1) for line in instructor_block() if (m := re.match(r"\$G (\w+)", line))]
    assert steps == ["release", "sample", "collect", "grade", "feedback", "export", "export", "report"]
    assert instructor_block()[0].startswith('G=".venv/bin/chainrule-grade --course course"')


def test_the_readme_block_runs_as_written_in_a_clean_shell(tmp_path):
    venv = Path(sys.prefix)
    assert (venv / "bin" / "chainrule-grade").is_file(), "run `make setup` first"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".venv").symlink_to(venv)
    make_course(repo)                                     # a small course where README expects course/
    script = repo / "instructor.sh"
    script.write_text("set -eu\n" + "\n".join(instructor_block()) + "\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}   # nothing of the project's
    proc = subprocess.run(["bash", str(script)], cwd=repo, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    course = repo / "course"
    out = proc.stdout + proc.stderr
    assert "submissions from 12 students" in out
    for path in ("release/01_tiny/01_tiny.ipynb", "feedback/index.html", "reports/index.html",
                 "exports/grades.csv", "exports/grades_canvas.csv"):
        assert (course / path).is_file(), path
    plain = list(csv.reader((course / "exports" / "grades.csv").open(newline="")))
    canvas = list(csv.reader((course / "exports" / "grades_canvas.csv").open(newline="")))
    assert plain[0][0] == "student" and canvas[0][0] == "Student"              # neither clobbered the other
    assert "01_tiny to grade" in plain[0]
    assert "awaiting hand grading" in out                                      # grade's summary and the warning
    assert "warning:" in proc.stderr and "--complete-only" in proc.stderr
