"""Restrict the current process with Linux Landlock (ctypes syscalls; x86_64 and aarch64).

`restrict(read_only, read_write)` allows reading files beneath `read_only` paths and reading/writing
beneath `read_write` paths; executing any program is denied (a notebook cannot start another
interpreter, e.g. to compute a derivative outside the trap of autograder.trap, or a shell command),
everything else on the file system is denied, TCP bind and
connect are denied (ABI >= 4), and signals / abstract unix sockets to processes outside the sandbox are
denied (ABI >= 6). It is irreversible and inherited by children. Returns the ABI version used, or
raises LandlockUnavailable with a one-line reason.

/proc: only this process's own folder (/proc/self resolved when the rule is added, i.e. /proc/<pid>,
which holds its threads too) and the few global files in PROC_GLOBAL are readable (with `proc_self`,
the default); /proc/<pid>/environ, cmdline, maps ... of the grader and of every other process are not.
"""
from __future__ import annotations

import ctypes
import os
import platform
import stat

_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
PR_SET_NO_NEW_PRIVS = 38
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

# handled_access_fs bits
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV

# global /proc files that Python, numpy/OpenBLAS, matplotlib and IPython may read (no per-process data)
PROC_GLOBAL = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg", "/proc/uptime",
               "/proc/version", "/proc/filesystems", "/proc/sys/kernel/osrelease",
               "/proc/sys/vm/overcommit_memory")


class LandlockUnavailable(OSError):
    pass


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; LandlockUnavailable if there is none."""
    nums = _SYSCALLS.get(platform.machine())
    if os.name != "posix" or platform.system() != "Linux" or nums is None:
        raise LandlockUnavailable(f"Landlock needs Linux on x86_64/aarch64 (this is {platform.system()} "
                                  f"{platform.machine()})")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    v = libc.syscall(ctypes.c_long(nums[0]), None, ctypes.c_size_t(0),
                     ctypes.c_uint32(CREATE_RULESET_VERSION))
    if v < 0:
        err = ctypes.get_errno()
        raise LandlockUnavailable(f"Landlock is not available on this kernel ({os.strerror(err)})")
    return int(v)


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(read_only, read_write, *, proc_self: bool = True) -> int:
    """Apply the restriction to this process (see module docstring); returns the ABI version.

    `proc_self`: also allow reading this process's /proc/<pid> folder and PROC_GLOBAL (pass no "/proc"
    in `read_only`, or every process's /proc folder is readable)."""
    abi = abi_version()
    create, add_rule, restrict_self = _SYSCALLS[platform.machine()]
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled = _fs_rights(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    fd = libc.syscall(ctypes.c_long(create), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise LandlockUnavailable(f"landlock_create_ruleset failed ({os.strerror(ctypes.get_errno())})")
    try:
        ro = READ_FILE | READ_DIR  # no EXECUTE anywhere: the notebook runs no other program
        rw = handled & ~EXECUTE
        if proc_self:
            read_only = [*read_only, "/proc/self", *PROC_GLOBAL]  # /proc/self: opened (resolved) right now
        for paths, rights in ((read_only, ro), (read_write, rw)):
            for p in paths:
                _add_path(libc, add_rule, fd, p, rights & handled)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockUnavailable(f"prctl(NO_NEW_PRIVS) failed ({os.strerror(ctypes.get_errno())})")
        if libc.syscall(ctypes.c_long(restrict_self), ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            raise LandlockUnavailable(f"landlock_restrict_self failed ({os.strerror(ctypes.get_errno())})")
    finally:
        os.close(fd)
    return abi


def _add_path(libc, add_rule: int, ruleset_fd: int, path, rights: int) -> None:
    try:
        pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist needs no rule
    try:
        if not stat.S_ISDIR(os.fstat(pfd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, pfd)
        r = libc.syscall(ctypes.c_long(add_rule), ctypes.c_int(ruleset_fd), ctypes.c_int(RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0))
        if r != 0:
            raise LandlockUnavailable(f"landlock_add_rule({path}) failed ({os.strerror(ctypes.get_errno())})")
    finally:
        os.close(pfd)
