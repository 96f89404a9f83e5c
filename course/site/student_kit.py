"""What a student downloads from the site: the student copies, their folders, an environment, one launcher.

Reads only the release folders (course/release/<a>/, what `python -m autograder release` writes: no
solutions, no hidden tests) and the chainrule_utils package. `write_kit(release, out)` fills `out` with
- <a>.ipynb, the student copy as released, and <a>.zip, every non-hidden file of release/<a>/ (the
  notebook and whatever else the release holds, e.g. data files for self-checks) under <a>/;
- chainrule_utils-<version>-py3-none-any.whl, the course's helper library, built here from its source;
- requirements.txt and environment.yml: numpy, sympy, matplotlib, jupyterlab, ipywidgets (versions as in
  pyproject.toml) and that wheel; start_lab.py, the one command that opens the notebooks in JupyterLab;
- chainrule-course.zip: all of the above in one folder.
Every file is byte-identical when its inputs are (zip entries carry a fixed date), so a rebuild with
nothing changed changes nothing. The students' instructions are on the page `page_markdown()` writes.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import io
import re
import tomllib
import zipfile
from pathlib import Path

_SPEC = importlib.util.find_spec("chainrule_utils")
# the package's source (installed, or in this checkout); its project file beside it when it is a checkout
UTILS = Path(_SPEC.origin).parent if _SPEC and _SPEC.origin else Path(__file__).resolve().parents[2] / "chainrule_utils"
COURSE_ZIP = "chainrule-course.zip"
FOLDER = "chainrule-course"                     # the folder the course zip unpacks to
# what a student's Python needs: the notebooks import these (and chainrule_utils, shipped as a wheel)
STUDENT_PACKAGES = ("numpy", "sympy", "matplotlib", "jupyterlab", "ipywidgets")
UTILS_REQUIRES = ("numpy", "sympy", "matplotlib")
_DATE = (2026, 1, 1, 0, 0, 0)                   # zip entry time: fixed, so the bytes depend on content only

LAUNCHER = '''\
"""Open the chainrule notebooks in JupyterLab: run `python start_lab.py` in this folder.

If this Python already has what the notebooks need (numpy, sympy, matplotlib, jupyterlab, ipywidgets,
chainrule_utils) JupyterLab starts at once. Otherwise the first run makes a virtual environment in .venv/
here and installs requirements.txt into it (the chainrule_utils wheel is in this folder; the other packages
come from PyPI, so the first run needs internet access and takes a few minutes); later runs start at once.
Options: --check (install if needed, then report instead of starting JupyterLab), --dry-run (only say what
would happen). Anything else is passed to JupyterLab, e.g. `python start_lab.py --port 8890`.
"""
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
NEEDED = ("numpy", "sympy", "matplotlib", "jupyterlab", "ipywidgets", "chainrule_utils")
PROBE = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))"


def has_all(python):
    return subprocess.run([str(python), "-c", PROBE, *NEEDED], cwd=HERE).returncode == 0


def main(argv):
    if sys.version_info < (3, 11):
        sys.exit(f"the notebooks need Python 3.11 or later; this is {sys.version.split()[0]} ({sys.executable})")
    check, dry = "--check" in argv, "--dry-run" in argv
    lab_args = [a for a in argv if a not in ("--check", "--dry-run")]
    python = Path(sys.executable)
    if not has_all(python):
        env = HERE / ".venv"
        python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        requirements = HERE / "requirements.txt"
        want = hashlib.sha256(requirements.read_bytes()).hexdigest()
        stamp = env / "chainrule-requirements.sha256"
        if not (python.exists() and stamp.is_file() and stamp.read_text() == want):
            print(f"installing the notebooks' packages into {env} (first run: a few minutes)", flush=True)
            if dry:
                print(f"would run: {python} -m pip install -r {requirements.name}")
                return 0
            if not python.exists():
                venv.create(env, with_pip=True)
            subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r",
                            requirements.name], cwd=HERE, check=True)
            stamp.write_text(want)
    command = [str(python), "-m", "jupyterlab", f"--notebook-dir={HERE}", *lab_args]
    if dry:
        print("would run: " + " ".join(command))
        return 0
    if check:
        found = subprocess.run([str(python), "-c", "import chainrule_utils; print(chainrule_utils.__file__)"],
                               cwd=HERE, capture_output=True, text=True)
        print(f"ready: {python} has " + ", ".join(NEEDED) + f" (chainrule_utils from {found.stdout.strip()})")
        return found.returncode
    print("starting JupyterLab; stop it with Ctrl+C", flush=True)
    return subprocess.run(command, cwd=HERE).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def _project() -> tuple[str, list[str]]:
    """(version, requirement strings) of the chainrule project: pyproject.toml beside chainrule_utils in a
    checkout, else the installed project's metadata."""
    pyproject = UTILS.parent / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        return project["version"], project["dependencies"]
    meta = importlib.metadata.metadata("chainrule")
    return meta["Version"], [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]


def requirement_specs(names: tuple[str, ...]) -> list[str]:
    """The project's requirement strings for these distribution names, in that order (one source of truth
    for versions); a name the project does not list is required without a version."""
    deps = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower(): d for d in _project()[1]}
    return [deps.get(n.lower(), n) for n in names]


def zip_bytes(files: list[tuple[str, bytes]]) -> bytes:
    """A zip of (name inside, content) pairs, deflated, with a fixed date on every entry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def release_files(folder: Path) -> list[tuple[str, bytes]]:
    """Every non-hidden file under a release folder, as (<folder name>/<relative path>, content), sorted."""
    out = []
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder)
        if f.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append((f"{folder.name}/{rel.as_posix()}", f.read_bytes()))
    return out


def wheel(version: str) -> tuple[str, bytes]:
    """(file name, bytes) of a pure-Python wheel of chainrule_utils (its source files, no caches)."""
    dist = f"chainrule_utils-{version}"
    files = [(f.relative_to(UTILS.parent).as_posix(), f.read_bytes()) for f in sorted(UTILS.rglob("*"))
             if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".pyc", ".pyo")]
    meta = [("Metadata-Version", "2.1"), ("Name", "chainrule-utils"), ("Version", version),
            ("Summary", "Checks and plots for the chainrule notebooks (numerical Jacobians, diagnoses)."),
            ("Requires-Python", ">=3.11")] + [("Requires-Dist", r) for r in requirement_specs(UTILS_REQUIRES)]
    files.append((f"{dist}.dist-info/METADATA", "".join(f"{k}: {v}\n" for k, v in meta).encode()))
    files.append((f"{dist}.dist-info/WHEEL", b"Wheel-Version: 1.0\nGenerator: chainrule course site\n"
                                             b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in files]
    record.append(f"{dist}.dist-info/RECORD,,")
    files.append((f"{dist}.dist-info/RECORD", ("\n".join(record) + "\n").encode()))
    return f"{dist}-py3-none-any.whl", zip_bytes(files)


def environment_files(wheel_name: str) -> dict[str, str]:
    """requirements.txt (pip, run in the kit's folder) and environment.yml (conda) for a student."""
    specs = requirement_specs(STUDENT_PACKAGES)
    requirements = ("# The packages the chainrule notebooks need: `python start_lab.py` installs them into .venv/,\n"
                    "# or run `pip install -r requirements.txt` in this folder in an environment of your own.\n"
                    + "".join(f"{s}\n" for s in specs) + f"./{wheel_name}\n")
    environment = ("# conda env create -f environment.yml && conda activate chainrule-student && jupyter lab\n"
                   "# (run in this folder: the last line installs the course's helper library from the wheel here)\n"
                   "name: chainrule-student\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pip\n"
                   + "".join(f"  - {s}\n" for s in specs) + f"  - pip:\n      - ./{wheel_name}\n")
    return {"requirements.txt": requirements, "environment.yml": environment}


def write_kit(release: list[Path], out: Path, write) -> dict:
    """Write the downloads for these release notebooks (release/<a>/<a>.ipynb) into `out` with
    write(path, bytes) (which keeps unchanged files untouched). Returns the page's facts:
    {"assignments": [(name, notebook file, zip file)], "wheel": name, "course_zip": name}."""
    wheel_name, wheel_data = wheel(_project()[0])
    env_files = {name: text.encode() for name, text in environment_files(wheel_name).items()}
    extra = {**env_files, "start_lab.py": LAUNCHER.encode(), wheel_name: wheel_data}
    assignments, everything = [], []
    for nb in release:
        folder = nb.parent
        files = release_files(folder)
        write(out / nb.name, nb.read_bytes())
        write(out / f"{folder.name}.zip", zip_bytes(files))
        assignments.append((folder.name, nb.name, f"{folder.name}.zip"))
        everything += files
    for name, data in extra.items():
        write(out / name, data)
    course = [(f"{FOLDER}/{name}", data) for name, data in sorted(extra.items()) + everything]
    write(out / COURSE_ZIP, zip_bytes(course))
    keep = {out / n for n in [*extra, COURSE_ZIP] + [n for a in assignments for n in a[1:]]}
    for f in out.iterdir() if out.is_dir() else []:
        if f.is_file() and f not in keep:
            f.unlink()
    return {"assignments": assignments, "wheel": wheel_name, "course_zip": COURSE_ZIP}


def page_markdown(kit: dict, titles: dict[str, str], folder: str = "downloads") -> str:
    """The "Get the notebooks" page (MyST): downloads, the one command, what each file is for."""
    def dl(name: str, text: str | None = None) -> str:
        return f"{{download}}`{text or name} <{folder}/{name}>`"

    rows = "\n".join(f"| {titles.get(a, a)} | {dl(nb)} | {dl(z)} |" for a, nb, z in kit["assignments"])
    return f"""# Get the notebooks

These are the student copies of the notebooks: the lessons, worked examples and exercises with their
self-checks, without solutions. Work them in JupyterLab on your own computer.

## Everything at once

1. Download {dl(kit["course_zip"])} and unzip it. You get a folder `{FOLDER}` with one folder per
   notebook, the course's helper library and a launcher.
2. Open a terminal in that folder and run:

   ```bash
   python start_lab.py
   ```

   (On Windows: `py start_lab.py`.) JupyterLab opens in your browser with the notebooks. You need
   Python 3.11 or later. The first run installs numpy, sympy, matplotlib, JupyterLab, ipywidgets and the
   course's helper library `chainrule_utils` into a folder `.venv` inside `{FOLDER}`, which takes a few
   minutes and needs internet access; later runs start at once. Stop JupyterLab with Ctrl+C in the terminal.

Your work stays in the notebook files in that folder: save often, and submit the notebook file your
instructor asks for.

## One notebook at a time

If your instructor hands out one notebook at a time, download its folder as a zip and unzip it inside
`{FOLDER}`, next to the others. The `.ipynb` link is the notebook file alone.

| notebook | notebook file | folder (zip) |
|---|---|---|
{rows}

## Your own environment instead

If you already manage Python environments, install the packages yourself and skip the launcher:

- with pip: {dl("requirements.txt")} (numpy, sympy, matplotlib, JupyterLab, ipywidgets and the wheel
  below), run `pip install -r requirements.txt` in the `{FOLDER}` folder;
- with conda: {dl("environment.yml")}, run `conda env create -f environment.yml` in the `{FOLDER}`
  folder, then `conda activate chainrule-student` and `jupyter lab`;
- the helper library alone: {dl(kit["wheel"])} (`pip install` it).

The notebooks import `chainrule_utils` for their self-checks and plots. A notebook that cannot find it
stops at its first cell with `ModuleNotFoundError: No module named 'chainrule_utils'`: start JupyterLab with
`python start_lab.py`, or install the wheel into the environment your JupyterLab kernel runs in.
"""
