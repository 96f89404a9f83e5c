"""Who the sandbox runs as: an unprivileged uid/gid of its own, never root.

Threat: Landlock leaves system folders readable, and root reads the 0600 files in them through its owner
permission alone (/etc/shadow, private keys), no capability needed: a notebook could copy one into an
answer and read it back in its feedback. So a grader that runs as root turns each sandbox into
uid = gid = ID_BASE + the sandbox's pid (no account has these; one per live sandbox, so sandboxes cannot
signal or trace each other whatever Landlock version the kernel has), after its cgroup, namespaces and
mounts are set up (which need root) and before Landlock:

- `reachable(paths, uid, gid)`, in the sandbox's private mount namespace: a folder on the way to a path
  the sandbox must read (a Python installation under /root, which is 0700) that the uid may not search
  is covered by an empty tmpfs into which only those paths are bind-mounted back; whatever else that
  folder held is not even visible;
- `become(uid, gid, workdir)`: its working folder (and what was copied in) handed to it, the capability
  bounding set emptied, setgroups([]), setresgid, setresuid, then dumpable again (its /proc/<pid> stays
  its own: a non-dumpable process cannot read its own /proc/self/fd) and a user namespace of its own (a
  fresh kernel keyring: a uid may come back with a later sandbox of the same pid).

A grader that is not root needs none of this: its sandboxes already run as its own, unprivileged user.
"""
from __future__ import annotations

import ctypes
import os
import stat
from pathlib import Path

from autograder.messages import error_text

ID_BASE = 1_800_000_000
MS_BIND, MS_REC, MNT_DETACH = 0x1000, 0x4000, 2
PR_SET_DUMPABLE, PR_CAPBSET_DROP = 4, 24


def sandbox_ids(pid: int) -> tuple[int, int]:
    """(uid, gid) of the sandbox whose process is `pid`."""
    return ID_BASE + int(pid), ID_BASE + int(pid)


def _may_search(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def blocked_folders(paths, uid: int, gid: int) -> dict[str, list[str]]:
    """{the topmost folder on the way to a path that `uid`/`gid` may not search: the paths behind it}."""
    out: dict[str, list[str]] = {}
    for p in paths:
        if not p or not os.path.isabs(p) or not os.path.exists(p):
            continue
        cur = Path("/")
        for part in Path(p).parts[1:]:
            try:
                ok = _may_search(os.stat(cur), uid, gid)
            except OSError:
                break
            if not ok:
                out.setdefault(str(cur), []).append(p)
                break
            cur = cur / part
    return out


def reachable(paths, uid: int, gid: int) -> str | None:
    """Make each of `paths` reachable for uid/gid (see the module docstring). Needs root in a private
    mount namespace. Returns why it cannot be done (None when done); then nothing is left covered."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    covered: list[str] = []
    for folder, behind in sorted(blocked_folders(paths, uid, gid).items()):
        why = _cover(libc, folder, behind)
        if why is not None:
            for done in reversed(covered + [folder]):
                libc.umount2(done.encode(), MNT_DETACH)  # as it was: root still imports from there
            return f"{folder} is not reachable from the sandbox ({why})"
        covered.append(folder)
    return None


def _cover(libc, folder: str, behind: list[str]) -> str | None:
    """A tmpfs over `folder` with each of `behind` bind-mounted back; why it failed, or None."""
    fds = {}
    try:
        for p in behind:
            fds[p] = os.open(p, os.O_PATH | os.O_CLOEXEC)
        if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"size=1m,nr_inodes=4096,mode=755") != 0:
            return os.strerror(ctypes.get_errno())
        for p, fd in fds.items():
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(p, 0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
                open(p, "a").close()
            if libc.mount(f"/proc/self/fd/{fd}".encode(), p.encode(), None, MS_BIND | MS_REC, None) != 0:
                return f"{p}: {os.strerror(ctypes.get_errno())}"
    except OSError as exc:
        return error_text(exc)
    finally:
        for fd in fds.values():
            os.close(fd)
    return None


def become(uid: int, gid: int, workdir: str) -> str | None:
    """Hand `workdir` to uid/gid and become them for good (see the module docstring). Returns a warning
    line naming what could not be done (None when all was)."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        for root, dirs, files in os.walk(workdir):
            for name in (root, *(os.path.join(root, n) for n in dirs + files)):
                os.lchown(name, uid, gid)
        for cap in range(64):  # the bounding set: needs CAP_SETPCAP, so while still root
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: past the last
                break
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        return f"warning: the notebook runs as root ({error_text(exc)})"
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    from autograder.isolation import CLONE_NEWUSER, _map_ids

    if libc.unshare(CLONE_NEWUSER) != 0:
        return (f"warning: the kernel keyring is not private to the sandbox (no user namespace: "
                f"{os.strerror(ctypes.get_errno())})")
    _map_ids(uid, gid)
    return None
