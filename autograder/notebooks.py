"""Reading notebooks and swapping answer cells (nbformat v4 objects; inputs are never modified)."""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import nbformat  # (autograder/__init__.py keeps jsonschema's slow rfc3987_syntax import out)

from autograder.nbmeta import grade_id, nbgrader_meta

# nbformat fixes missing and duplicated cell ids itself (students' notebooks often have both); its
# warnings would only interleave with the progress of a grading run.
warnings.filterwarnings("ignore", category=nbformat.warnings.MissingIDFieldWarning)
warnings.filterwarnings("ignore", category=nbformat.warnings.DuplicateCellId)

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


class NotebookError(ValueError):
    """A file that cannot be used as a notebook; the message is one line saying why."""


def read_notebook(path, *, follow_symlinks: bool = True) -> nbformat.NotebookNode:
    """The notebook at `path` as nbformat v4; NotebookError for a missing file, bad JSON or not a notebook.

    `follow_symlinks=False` (submissions): a symlink or anything but a regular file is refused, and
    malformed outputs/attachments are dropped instead of refusing the notebook (see parse_notebook)."""
    from autograder.safe_open import UnsafeFile, read_bytes

    path = Path(path)
    try:
        if follow_symlinks:
            if path.stat().st_size > MAX_NOTEBOOK_BYTES:
                raise NotebookError(too_big(path.name))
            text = path.read_text(encoding="utf-8-sig")
        else:
            try:
                text = read_bytes(path, MAX_NOTEBOOK_BYTES).decode("utf-8-sig")
            except UnsafeFile as exc:
                if "larger than" in str(exc):
                    raise NotebookError(too_big(path.name)) from None
                raise NotebookError(str(exc)) from None
    except FileNotFoundError:
        raise NotebookError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name}: not a notebook (binary data, not UTF-8 text: a zip or another "
                            "file renamed .ipynb?)") from None
    except OSError as exc:
        raise NotebookError(f"{path.name}: cannot read ({_one_line(exc)})") from None
    return parse_notebook(text, path.name, lenient=not follow_symlinks)


def too_big(name: str) -> str:
    return (f"{name}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB (large saved outputs? clear them: "
            "Kernel > Restart Kernel and Clear Outputs, save, submit again)")


def parse_notebook(text: str, name: str = "notebook", *, lenient: bool = False) -> nbformat.NotebookNode:
    """Parse notebook JSON text (see read_notebook). nbformat v3 documents (`worksheets`) are converted.
    `lenient` (a student's notebook): malformed outputs, attachments and notebook metadata, which are
    never graded, are dropped rather than making the whole notebook unreadable."""
    if not text.strip():
        raise NotebookError(f"{name}: empty file, not a notebook")
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except (ValueError, RecursionError) as exc:
        raise NotebookError(f"{name}: not valid JSON ({_one_line(exc)})") from None
    v3 = (isinstance(data, dict) and data.get("nbformat") == 3 and isinstance(data.get("worksheets"), list)
          and all(isinstance(w, dict) and isinstance(w.get("cells", []), list) for w in data["worksheets"]))
    if not v3 and (not isinstance(data, dict) or not isinstance(data.get("cells"), list)
                   or "nbformat" not in data):
        raise NotebookError(f"{name}: not a notebook (no 'cells' list / 'nbformat' field)")
    if lenient and not v3:
        _drop_broken_extras(data)
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except RecursionError:
        raise NotebookError(f"{name}: not a notebook (nested too deeply)") from None
    except Exception as exc:  # nbformat raises a variety of errors on odd documents
        raise NotebookError(f"{name}: not a notebook ({_one_line(exc)})") from None
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookError(f"{name}: cell {i} is not a notebook cell")
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            raise NotebookError(f"{name}: cell {i} has a source that is not text")
        cell["source"] = src
        if not isinstance(cell.get("metadata", {}), dict):
            cell["metadata"] = nbformat.NotebookNode()
    return nb


def _output_ok(out) -> bool:
    if not isinstance(out, dict) or not isinstance(out.get("output_type"), str):
        return False
    return isinstance(out.get("data", {}), dict) and isinstance(out.get("metadata", {}), dict)


def _drop_broken_extras(data: dict) -> None:
    """Outputs, attachments and notebook metadata are never graded: malformed ones (an old or buggy
    front end) are dropped so that they cannot make a student's answers unreadable."""
    if not isinstance(data.get("metadata"), dict):
        data["metadata"] = {}
    for cell in data["cells"]:
        if not isinstance(cell, dict):
            continue
        if "outputs" in cell and not (isinstance(cell["outputs"], list) and all(map(_output_ok, cell["outputs"]))):
            cell["outputs"] = []
        if "attachments" in cell and not (isinstance(cell["attachments"], dict)
                                          and all(isinstance(v, dict) for v in cell["attachments"].values())):
            del cell["attachments"]


def cell_by_grade_id(nb, grade_id_: str):
    """The first cell whose nbgrader grade_id is `grade_id_`, or None."""
    for cell in nb.cells:
        if grade_id(cell) == grade_id_:
            return cell
    return None


def with_answers(nb, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of `nb` whose answer cells (by grade_id) have the given sources (whole cells replaced).

    Raises KeyError naming an answer cell id that the notebook does not have.
    """
    out = copy.deepcopy(nb)
    missing = set(answers)
    for cell in out.cells:
        gid = grade_id(cell)
        if gid in answers:
            cell.source = answers[gid]
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
            missing.discard(gid)
    if missing:
        raise KeyError(f"no answer cell with grade_id {', '.join(sorted(missing))}")
    return out


def solution_sources(source_nb) -> dict[str, str]:
    """{answer cell grade_id: source} for every solution cell of the source notebook (code and markdown)."""
    return {
        grade_id(c): c.source
        for c in source_nb.cells
        if nbgrader_meta(c).get("solution") and grade_id(c) is not None
    }


def strip_outputs(nb) -> nbformat.NotebookNode:
    """A copy of `nb` with no outputs and no execution counts."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def write_notebook(nb, path) -> None:
    """Write `nb` atomically (a temp file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    # a lone surrogate (student text such as "\ud800") cannot be UTF-8: written as its JSON escape
    tmp.write_bytes(text.encode("utf-8", "backslashreplace"))
    tmp.replace(path)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
