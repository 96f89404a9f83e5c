"""The "Get the notebooks" page: every student copy downloads as a valid notebook with no solution line,
every release folder as a zip of all its non-hidden files, and the course zip opens with one command."""
from __future__ import annotations

import hashlib
import html
import io
import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import nbformat
import pytest
from sitekit import COURSE, SITE
from test_no_solutions import _norm, secret_lines

sys.path.insert(0, str(SITE))
import student_kit  # noqa: E402

pytestmark = pytest.mark.xdist_group("site")


def _downloads(built_site: Path) -> dict[str, Path]:
    """{file name: path} of every download linked from the page (Sphinx puts them under _downloads/)."""
    page = built_site / "_generated" / "get-notebooks.html"
    hrefs = re.findall(r'href="([^"]*_downloads/[^"]+)"', page.read_text(encoding="utf-8"))
    files = {Path(h).name: (page.parent / h).resolve() for h in hrefs}
    assert all(f.is_file() for f in files.values()), files
    return files


def _release_folders() -> list[Path]:
    return sorted(p.parent for p in (COURSE / "release").glob("*/*.ipynb") if p.stem == p.parent.name)


def test_each_student_copy_downloads_as_a_valid_notebook_without_solutions(built_site):
    files = _downloads(built_site)
    folders = _release_folders()
    assert folders
    sources = sorted(p for p in (COURSE / "source").glob("*/*.ipynb") if p.stem == p.parent.name)
    secrets = secret_lines(sources)
    assert len(secrets) > 20, "the solution-line reader found too little to check against"
    for folder in folders:
        path = files[f"{folder.name}.ipynb"]
        assert path.read_bytes() == (folder / f"{folder.name}.ipynb").read_bytes(), "the released copy as is"
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        text = "\n".join(_norm(line) for cell in nb.cells for line in cell.source.splitlines())
        assert not [s for s in secrets if s in text], f"{path.name} holds a solution line"
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text


def test_each_release_folder_downloads_whole(built_site):
    files = _downloads(built_site)
    for folder in _release_folders():
        with zipfile.ZipFile(files[f"{folder.name}.zip"]) as zf:
            inside = {n: zf.read(n) for n in zf.namelist()}
        want = {f"{folder.name}/{p.relative_to(folder).as_posix()}": p.read_bytes() for p in folder.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
        assert inside == want
    # and no file in any zip holds a solution line (whatever else a release folder comes to hold)
    sources = sorted(p for p in (COURSE / "source").glob("*/*.ipynb") if p.stem == p.parent.name)
    secrets = secret_lines(sources)
    for name, path in files.items():
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    text = zf.read(member).decode("utf-8", errors="replace")
                    if member.endswith(".ipynb"):
                        nb = json.loads(text)
                        text = "\n".join("".join(c.get("source", "")) for c in nb["cells"])
                    text = "\n".join(_norm(line) for line in text.splitlines())
                    assert not [s for s in secrets if s in text], (name, member)


def test_a_zip_carries_every_non_hidden_file_and_nothing_hidden(tmp_path):
    a = tmp_path / "release" / "07_extra"
    (a / "data").mkdir(parents=True)
    (a / "07_extra.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (a / "selfcheck.json").write_text('{"fingerprints": []}')
    (a / "data" / "points.csv").write_text("x,y\n1,2\n")
    (a / ".ipynb_checkpoints").mkdir()
    (a / ".ipynb_checkpoints" / "07_extra-checkpoint.ipynb").write_text("{}")
    (a / ".secret").write_text("instructor note")
    written = {}
    kit = student_kit.write_kit([a / "07_extra.ipynb"], tmp_path / "out", lambda p, data: written.update({p.name: data}))
    with zipfile.ZipFile(io.BytesIO(written["07_extra.zip"])) as zf:
        assert sorted(zf.namelist()) == ["07_extra/07_extra.ipynb", "07_extra/data/points.csv", "07_extra/selfcheck.json"]
    with zipfile.ZipFile(io.BytesIO(written[kit["course_zip"]])) as zf:
        names = zf.namelist()
    assert "chainrule-course/07_extra/selfcheck.json" in names and not [n for n in names if "/." in n]
    again = {}
    student_kit.write_kit([a / "07_extra.ipynb"], tmp_path / "out", lambda p, data: again.update({p.name: data}))
    assert again == written, "the same inputs give the same bytes (an unchanged build stays unchanged)"


def test_the_wheel_is_a_valid_installable_chainrule_utils(built_site, tmp_path):
    files = _downloads(built_site)
    wheel = next(p for n, p in files.items() if n.endswith(".whl"))
    with zipfile.ZipFile(wheel) as zf:
        record = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))).decode()
        for line in record.splitlines():
            name, digest, size = line.rsplit(",", 2)
            if digest:
                data = zf.read(name)
                assert digest == "sha256=" + urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert int(size) == len(data)
        assert {n.split("/")[0] for n in zf.namelist()} == {"chainrule_utils", wheel.name.split("-py3")[0] + ".dist-info"}
    target = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(target), str(wheel)], check=True)
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, "-c", "import chainrule_utils as c; print(c.__file__); "
                          "from chainrule_utils import check_jacobian, numerical_jacobian"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=True).stdout
    assert out.strip().startswith(str(target))


def _unzip_course(built_site: Path, dest: Path) -> Path:
    files = _downloads(built_site)
    with zipfile.ZipFile(files[student_kit.COURSE_ZIP]) as zf:
        zf.extractall(dest)
    return dest / student_kit.FOLDER


def test_the_course_zip_opens_with_one_command(built_site, tmp_path):
    """`python start_lab.py` in the unzipped folder: with a Python that has the packages it starts JupyterLab
    on the folder at once; with one that lacks them it first installs requirements.txt into .venv/."""
    kit = _unzip_course(built_site, tmp_path)
    for folder in _release_folders():
        assert (kit / folder.name / f"{folder.name}.ipynb").is_file()
    requirements = (kit / "requirements.txt").read_text()
    for name in student_kit.STUDENT_PACKAGES:
        assert re.search(rf"^{name}\b", requirements, re.MULTILINE), name
    wheel_line = requirements.strip().splitlines()[-1]
    assert wheel_line.startswith("./chainrule_utils-") and (kit / wheel_line[2:]).is_file()
    assert wheel_line in (kit / "environment.yml").read_text()
    # this Python plus the kit's wheel has everything: JupyterLab would start on the folder, no install
    target = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(target), str(kit / wheel_line[2:])], check=True)
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run([sys.executable, "start_lab.py", "--check"], cwd=kit, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "ready:" in run.stdout and str(target) in run.stdout and not (kit / ".venv").exists()
    run = subprocess.run([sys.executable, "start_lab.py", "--dry-run"], cwd=kit, capture_output=True, text=True, env=env)
    assert f"-m jupyterlab --notebook-dir={kit}" in run.stdout
    # a Python without the packages: the first run installs them into .venv/ from requirements.txt
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    run = subprocess.run([str(bare / "bin" / "python"), "start_lab.py", "--dry-run"], cwd=kit, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert "installing the notebooks' packages into" in run.stdout
    assert "pip install -r requirements.txt" in run.stdout and not (kit / ".venv").exists()


def test_the_page_gives_one_command_and_no_instructor_folder(built_site):
    page = (built_site / "_generated" / "get-notebooks.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "python start_lab.py" in text
    assert not re.search(r"make (setup|lab)|project folder|course/release", text)
    for folder in _release_folders():
        assert f"{folder.name}.zip" in page and f"{folder.name}.ipynb" in page
