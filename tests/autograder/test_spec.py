"""Grading specs and notebook helpers: parsing, validation (SpecError), answer swapping."""
from __future__ import annotations

import copy

import nbformat
import pytest
from coursekit import TINY, code, make_tiny_course, tiny_notebook

from autograder.notebooks import (
    NotebookError,
    cell_by_grade_id,
    read_notebook,
    solution_sources,
    strip_outputs,
    with_answers,
)
from autograder.spec import SpecError, load_exercises, load_manual_cells


def _write(tmp_path, nb):
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def _with_spec(tmp_path, spec_text: str, *, answer_id="t_x_answer", test_id="t_x"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [code("y = 1\n", grade_id=answer_id, solution=True),
                code(f"### BEGIN HIDDEN TESTS\ngrading = {spec_text}\n### END HIDDEN TESTS\n",
                     grade_id=test_id, grade=True, locked=True, points=1)]
    return _write(tmp_path, nb)


def test_tiny_course_exercises_in_notebook_order(tmp_path):
    root = make_tiny_course(tmp_path)
    path = root / "source" / TINY / f"{TINY}.ipynb"
    exs = load_exercises(path)
    assert [e.grade_id for e in exs] == ["t_jac", "t_expr", "t_shape", "t_chain"]
    assert [e.kind for e in exs] == ["function", "expression", "value", "chain_steps"]
    jac = exs[0]
    assert (jac.answer, jac.answer_cell, jac.points, jac.hand, jac.target) == ("dh_dx", "t_jac_answer", 2.0,
                                                                                True, "h")
    assert jac.rtol == 1e-11 and exs[2].rtol == 1e-7  # hand default vs plain default
    assert [w.mistake for w in jac.wrong] == ["product_rule_half", "sign"]
    assert exs[3].wrong[0].max_score == 0.75
    assert [(m.grade_id, m.points) for m in load_manual_cells(path)] == [("t_written", 1.0)]


@pytest.mark.parametrize("spec, fragment", [
    ('{"kind": "magic", "answer": "y"}', "`kind` must be one of"),
    ('{"kind": "value", "answer": "not a name"}', "`answer` must be a Python name"),
    ('{"kind": "value", "answer": "y", "colour": 1}', "unknown key(s) for kind 'value': colour"),
    ('{"kind": "function", "answer": "y"}', "needs `args`"),
    ('{"kind": "function", "answer": "y", "args": [{"shape": [2], "low": 1, "high": 0}]}', "low < high"),
    ('{"kind": "function", "answer": "y", "args": [{"shape": [2]}], "count": 0}', "no probe points"),
    ('{"kind": "function", "answer": "y", "args": [{"shape": [2]}], "points": [[1, 2]]}', "argument lists"),
    ('{"kind": "expression", "answer": "y"}', "needs `symbols`"),
    ('{"kind": "chain_steps", "answer": "y", "variable": "x"}', "needs `function`"),
    ('{"kind": "value", "answer": "y", "rtol": -1}', "`rtol` must be a non-negative number"),
    ('{"kind": "value", "answer": "y", "wrong": [{"mistake": "m", "message": "x"}]}', "`code` must be"),
    ('{"kind": "value", "answer": "y", "wrong": [{"mistake": "m", "message": "x", "code": "y ="}]}',
     "does not parse"),
    ('{"kind": "value", "answer": "y", "wrong": [{"mistake": "m", "message": "x", "code": "y=2", '
     '"max_score": 1.5}]}', "max_score"),
    ('{"kind": "value", "answer": f(1)}', "not a Python literal"),
    ('[1, 2]', "must be a dict"),
])
def test_bad_specs_raise_one_line_spec_error_naming_the_cell(tmp_path, spec, fragment):
    path = _with_spec(tmp_path, spec)
    with pytest.raises(SpecError) as info:
        load_exercises(path)
    msg = str(info.value)
    assert fragment in msg and "'t_x'" in msg and "nb" in msg and "\n" not in msg


def test_missing_spec_missing_answer_cell_and_duplicates(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [code("y = 1\n", grade_id="t_x_answer", solution=True),
                code("assert y == 1\n", grade_id="t_x", grade=True, locked=True, points=1)]
    with pytest.raises(SpecError, match="no `grading"):
        load_exercises(_write(tmp_path, nb))
    with pytest.raises(SpecError, match="no answer cell with grade_id 't_y_answer'"):
        load_exercises(_with_spec(tmp_path, '{"kind": "value", "answer": "y"}', test_id="t_y"))
    nb2 = tiny_notebook()
    dup = copy.deepcopy(nb2.cells[5])
    dup["id"] = "duplicate-cell"
    nb2.cells.append(dup)
    with pytest.raises(SpecError, match="used by more than one cell"):
        load_exercises(_write(tmp_path, nb2))
    nb3 = tiny_notebook()
    nb3.cells[7].source = nb3.cells[7].source.replace('"answer": "d_expr"', '"answer": "dh_dx"')
    with pytest.raises(SpecError, match="answer name 'dh_dx' is also used"):
        load_exercises(_write(tmp_path, nb3))


def test_read_notebook_errors(tmp_path):
    with pytest.raises(NotebookError, match="no such file"):
        read_notebook(tmp_path / "missing.ipynb")
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [')
    with pytest.raises(NotebookError, match="not valid JSON"):
        read_notebook(bad)
    bad.write_text('{"hello": 1}')
    with pytest.raises(NotebookError, match="not a notebook"):
        read_notebook(bad)
    bad.write_text('{"cells": [{"cell_type": "code", "source": 3}], "nbformat": 4, "nbformat_minor": 5, '
                   '"metadata": {}}')
    with pytest.raises(NotebookError):
        read_notebook(bad)


def test_with_answers_solution_sources_and_strip_outputs(tmp_path):
    nb = tiny_notebook()
    sols = solution_sources(nb)
    assert set(sols) == {"t_jac_answer", "t_expr_answer", "t_shape_answer", "t_chain_answer", "t_written"}
    new = with_answers(nb, {"t_shape_answer": "jac_shape = (9, 9)\n"})
    assert cell_by_grade_id(new, "t_shape_answer").source == "jac_shape = (9, 9)\n"
    assert "(2, 3)" in cell_by_grade_id(nb, "t_shape_answer").source  # input untouched
    with pytest.raises(KeyError, match="nope"):
        with_answers(nb, {"nope": "x"})
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[1].execution_count = 3
    clean = strip_outputs(nb)
    assert clean.cells[1].outputs == [] and clean.cells[1].execution_count is None
    assert nb.cells[1].execution_count == 3
