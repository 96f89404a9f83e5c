"""autograder.identity: which folders an unprivileged sandbox uid cannot search, and its ids."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from autograder.identity import ID_BASE, blocked_folders, sandbox_ids


def test_the_topmost_folder_a_uid_cannot_search_is_found():
    tmp_path = Path(tempfile.mkdtemp(prefix="chainrule-identity-", dir="/tmp"))   # /tmp: searchable by all
    try:
        _check(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _check(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    inner = closed / "open" / "python"
    inner.mkdir(parents=True)
    (closed / "open").chmod(0o755)
    closed.chmod(0o700)
    elsewhere = tmp_path / "public"
    elsewhere.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    uid, gid = sandbox_ids(123)
    st = os.stat(tmp_path)
    if st.st_uid == uid or st.st_gid == gid:  # never: no account has these ids
        raise AssertionError("the sandbox ids belong to an account")
    found = blocked_folders([str(inner), str(elsewhere), "/nonexistent/x"], uid, gid)
    assert found == {str(closed): [str(inner)]}
    assert blocked_folders([str(inner)], st.st_uid, st.st_gid) == {}   # its owner may


def test_each_sandbox_has_its_own_unprivileged_ids():
    assert sandbox_ids(7) == (ID_BASE + 7, ID_BASE + 7)
    assert sandbox_ids(7) != sandbox_ids(8) and min(sandbox_ids(1)) > 65535
