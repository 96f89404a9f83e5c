"""Text a submission controls reaches the terminal, the results tables and the CSV clean (issue 11): no
escape sequences, no forged lines, no control characters; reasons read as one sentence (issue 16)."""
from __future__ import annotations

import csv
import re

import pytest
from test_pipe_fixture import make_course, release, submit

from autograder.__main__ import main
from autograder.textclean import clean, reason

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("raw, want", [
    ("plain text", "plain text"),
    ("\x1b[31mred\x1b[0m text", "red text"),                      # SGR colours
    ("a\x1b[2J\x1b[Hb", "ab"),                                    # clear screen, cursor home
    ("x\x1b]0;window title\x07y", "xy"),                          # OSC title (BEL)
    ("x\x1b]52;c;cGF5bG9hZA==\x1b\\y", "xy"),                     # OSC 52 clipboard write (ST)
    ("x\x1bPqpayload\x1b\\y", "xy"),                              # DCS string
    ("x\x9b2Jy", "xy"),                                           # 8-bit CSI
    ("one\r\ngraded 30, ungraded 0\rtwo", "one graded 30, ungraded 0 two"),   # forged lines
    ("tab\there\x0bvt\x0cff", "tab here vt ff"),
    ("bell\x07 nul\x00 del\x7f c1\x85 end", "bell nul del c1 end"),
    ("abc\u202edcba\u2066x\u2069", "abcdcbax"),                   # bidi overrides and isolates
    ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ("  spaced   out  ", "spaced out"),
])
def test_clean_removes_what_could_drive_a_terminal_or_forge_a_line(raw, want):
    assert clean(raw) == want
    assert clean(clean(raw)) == clean(raw)                        # idempotent


def test_clean_keeps_ordinary_unicode_and_cuts_to_a_limit():
    assert clean("Jacobian ∂f/∂x — Noether, Å, 数学") == "Jacobian ∂f/∂x — Noether, Å, 数学"
    assert clean("x" * 50, 10) == "x" * 9 + "…"
    assert clean(None) == ""


def test_reason_reads_as_one_sentence():
    nested = "ungraded (not a valid notebook (a.ipynb: not valid JSON (Expecting value: line 1 column 1 (char 0))))"
    assert reason(nested) == ("ungraded (not a valid notebook, a.ipynb: not valid JSON, Expecting value: line 1 "
                              "column 1, char 0)")
    assert reason("time limit 120 s exceeded at cell 4 (a loop?) and (b)") == \
        "time limit 120 s exceeded at cell 4 (a loop?) and (b)"
    assert reason("unbalanced ((x") == "unbalanced (x"
    assert reason("a\nb (c\x1b[31m (d))") == "a b (c, d)"


HOSTILE_NAME = "\x1b]0;pwned\x07\x1b[2Jfake\rgraded 30, ungraded 0\n.ipynb"
RAISER = ('raise ValueError("\\x1b[2J\\x1b[31mALL CORRECT\\r\\ngraded 30, ungraded 0\\x1b]0;t\\x07")\n'
          "jac_shape = (2, 3)")


@pytest.mark.slow
def test_a_hostile_reason_is_clean_in_the_terminal_the_results_tables_and_the_csv(tmp_path, capsys):
    course = make_course(tmp_path, assignments=("01_tiny",))
    release(course, "01_tiny")
    folder = submit(course, "01_tiny", "evil")
    (folder / "01_tiny.ipynb").rename(folder / HOSTILE_NAME)   # ungraded: no notebook of that name
    submit(course, "01_tiny", "raiser", {"01_shape_answer": RAISER})
    base = ["--course", str(course)]
    assert main(base + ["grade", "--jobs", "2", "--cell-timeout", "10"]) == 0
    out = capsys.readouterr()
    terminal = out.out + out.err
    assert "ungraded 01_tiny/evil: no notebook of the assignment was submitted" in terminal
    assert not CONTROL.search(terminal.replace("\n", "")), repr(terminal)
    assert not any(line.startswith("graded 30") for line in terminal.splitlines())   # no forged line

    from coursekit import graded_rows

    subs, rows = graded_rows(course, "01_tiny")
    why = subs["evil"].reason
    assert "fake graded 30, ungraded 0 .ipynb" in why and not CONTROL.search(why)
    message = rows["raiser"]["01_shape"].message
    assert "ALL CORRECT graded 30, ungraded 0" in message and not CONTROL.search(message), message

    assert main(base + ["export"]) == 0
    text = (course / "exports" / "grades.csv").read_text()
    assert not CONTROL.search(text.replace("\n", ""))
    table = list(csv.reader(text.splitlines()))
    assert len(table) == len(text.splitlines()) == 3                # header + 2 students, one line each
    evil = dict(zip(table[0], next(r for r in table if r[0] == "evil"), strict=True))
    assert evil["01_tiny status"].startswith("ungraded: no notebook of the assignment was submitted")
