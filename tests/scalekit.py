"""Helpers for the PostgreSQL and Dask tests (tests/pg, tests/cluster): verdicts read from any
gradebook URL, a check of verdicts against a sample class's manifest, and a collected sample class.

A uniquely named module next to coursekit.py (importable from every test folder)."""
from __future__ import annotations

from pathlib import Path


def verdicts(url: str) -> dict:
    """{(assignment, student): (status, reason, score, {grade_id: (score, mistake, message)})}."""
    from autograder.course import database_url
    from autograder.results import ResultsStore

    store = ResultsStore(database_url(url))
    try:
        rows: dict = {}
        for r in store.results():
            rows.setdefault((r.assignment, r.student), {})[r.grade_id] = (r.score, r.mistake, r.message)
        return {(s.assignment, s.student): (s.status, s.reason, s.score, rows.get((s.assignment, s.student), {}))
                for s in store.submissions()}
    finally:
        store.close()


def disagreements(manifest: dict, got: dict) -> list[str]:
    """Where the verdicts `got` break what the sample's manifest says a correct grader gives."""
    problems = []
    for sub in manifest["submissions"]:
        key = (sub["assignment"], sub["student"])
        if key not in got:
            problems.append(f"{key}: no verdict")
            continue
        status, _, _, rows = got[key]
        if sub["expect_status"] in ("graded", "ungraded") and status != sub["expect_status"]:
            problems.append(f"{key} ({sub['profile']}): {status}, expected {sub['expect_status']}")
            continue
        if status != "graded":
            continue
        for gid, given in sub["exercises"].items():
            score, points = rows[gid][0], sub["points"][gid]
            if not given["min"] * points - 1e-9 <= score <= given["max"] * points + 1e-9:
                problems.append(f"{key} {gid}: {given['given']} scored {score} of {points}")
    return problems


def sample_class(course: Path, students: int, *, db: str | None = None, seed: int = 5,
                 broken: int = 2) -> dict:
    """Release every assignment of `course`, generate a sample class and collect it; the manifest."""
    from autograder.__main__ import main
    from autograder.course import Course
    from autograder.sample_class import generate

    base = ["--course", str(course)] + (["--db", db] if db else [])
    assert main(base + ["release", "--quiet"]) == 0
    manifest = generate(Course.open(course, db), students, seed=seed, broken_per_assignment=broken)
    assert main(base + ["collect", str(course / ".sample" / "submissions.zip")]) == 0
    return manifest
