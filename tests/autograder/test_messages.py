"""The sandbox->grader message types (autograder.messages): what the grader's parser keeps."""
from __future__ import annotations

import json

import pytest

from autograder import messages as m


def _round_trip(message: m.Message):
    """What the grader parses from the body the runner's Channel would write for `message`."""
    body = json.loads(json.dumps({**message.fields(), "seq": 0, "type": message.TYPE}))
    return m.parse(body)


@pytest.mark.parametrize("message", [
    m.Ready("warning: no cgroup"), m.Ready(None), m.Cell(3), m.Cell(4, extract=True), m.CellError(5, "E: x"),
    m.Answer("01_power", None, {"status": "ok", "text": "x"}), m.Answer("01_power", 2, {"status": "missing"}),
    m.Stopped(7, "SystemExit"), m.Fatal("OSError: no"), m.Done(),
])
def test_runner_messages_parse_back(message):
    assert _round_trip(message) == message


def test_untrusted_fields_are_normalised_or_refused():
    assert m.parse({"type": "cell", "cell": True}) == m.Cell(None)             # a bool is not a cell number
    assert m.parse({"type": "cell", "cell": 2, "extract": 1}) == m.Cell(2)      # only True marks extraction
    assert m.parse({"type": "cell_error", "cell": {"a": 1}, "error": "x" * 999}).error == "x" * 300
    assert m.parse({"type": "ready", "warning": "w" * 999, "pid": "forged"}) == m.Ready("w" * 300)
    assert m.parse({"type": "nope"}) is None and m.parse({"type": ["answer"]}) is None
    for gid, variant in ((["01_power"], None), ("g", True), ("g", "0"), (None, None)):
        with pytest.raises(ValueError):
            m.parse({"type": "answer", "grade_id": gid, "variant": variant, "answer": {}})


def test_error_text_is_one_short_line():
    class Loud(Exception):
        def __str__(self):
            raise RuntimeError

    assert m.error_text(ValueError("a\n  b" + "c" * 999)) == ("ValueError: a b" + "c" * 999)[:300]
    assert m.error_text(Loud()) == "Loud"
