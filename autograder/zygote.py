"""A pre-forked sandbox starter: import numpy/sympy/matplotlib/IPython once, fork a child per run.

Server (`python -I -m autograder.zygote CONTROL_FD`, started by `Zygote.start()`): reads requests
on a unix socket (an 8-byte length, the results-pipe fd attached, then JSON {"id", "job", "env"}),
forks; the child starts its own session, takes the run's environment and enters
`autograder.runner.serve` (rlimits, Landlock, run, exit). The server reports {"id", "pid"} when a
child starts and {"exit": pid, "rc"} when it ends (rc < 0: killed by signal -rc), and kills its
children when the grader goes away. It is a child subreaper (PR_SET_CHILD_SUBREAPER): a process that a
notebook double-forks or moves to a new session is re-parented to the zygote instead of init, and is
killed when any sandbox ends, every SWEEP_EVERY seconds, and when the zygote exits; each sweep repeats
until nothing is left (a killed orphan's own children are re-parented to the zygote in turn), so no
sandbox process outlives the grade run. Forking costs milliseconds; a fresh interpreter costs ~1-3 s.

Client (`Zygote`): one per grader process, thread-safe; `spawn(job, env, fd)` returns a
Popen-like handle (pid, poll, wait) for sandbox.run.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

_HEADER = struct.Struct("!Q")


# ---------------------------------------------------------------------------------------------
# server


def _send(sock: socket.socket, obj) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _become_subreaper() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _orphans(children: set[int]) -> list[int]:
    """Live processes re-parented to us that are not live sandboxes (escaped grandchildren)."""
    me = str(os.getpid())
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    out = []
    for pid in pids:
        if pid in children:
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == me and fields[0] not in ("Z", "X"):
            out.append(pid)
    return out


def _kill_hard(pid: int, group: int | None) -> None:
    """SIGKILL process group `group` (when given) and process `pid`; gone already is fine."""
    for kill, target in ((os.killpg, group), (os.kill, pid)):
        if target is None:
            continue
        try:
            kill(target, signal.SIGKILL)
        except OSError:
            pass


def _kill_orphans(children: set[int], rounds: int = 100) -> int:
    """Kill orphans until none is left: a killed orphan's own children are re-parented to us in turn,
    so sweep again (each round waits for the killed ones to die). Returns how many were killed."""
    killed = 0
    own_group = os.getpgrp()
    previous: list[int] = []
    for _ in range(rounds):
        found = _orphans(children)
        if not found or found == previous:  # none left, or only ones that cannot die yet (D state)
            break
        previous = found
        for pid in found:
            try:
                pgid = os.getpgid(pid)
            except OSError:
                pgid = None
            # its whole group too (a new session's other members), never ours or a live sandbox's
            _kill_hard(pid, pgid if pgid not in (own_group, None) and pgid not in children else None)
        killed += len(found)
        _wait_dead(found, 2.0)
    return killed


def _wait_dead(pids: list[int], timeout: float) -> None:
    """Reap `pids` (our children now), waiting at most `timeout` seconds in all."""
    left = set(pids)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # reaped elsewhere or not ours any more
            if done:
                left.discard(pid)
        if left:
            time.sleep(0.005)


SWEEP_EVERY = 1.0  # seconds between sweeps for orphans while serving


def serve_forever(sock: socket.socket) -> None:
    from autograder import runner

    _become_subreaper()
    runner.preload()
    children: set[int] = set()
    last_sweep = time.monotonic()
    try:
        while True:
            _reap(sock, children)
            if time.monotonic() - last_sweep >= SWEEP_EVERY:
                _kill_orphans(children)
                last_sweep = time.monotonic()
            ready, _, _ = select.select([sock], [], [], 0.05)
            if not ready:
                continue
            msg, fds, _, _ = socket.recv_fds(sock, _HEADER.size, 1)
            if not msg:
                break
            (n,) = _HEADER.unpack(msg + _recv_exact(sock, _HEADER.size - len(msg)))
            request = json.loads(_recv_exact(sock, n))
            if not fds:
                _send(sock, {"id": request.get("id"), "error": "no results fd"})
                continue
            pid = os.fork()
            if pid == 0:
                _child(sock, request, fds[0])  # never returns
            os.close(fds[0])
            children.add(pid)
            _send(sock, {"id": request["id"], "pid": pid})
    except (EOFError, ConnectionError, OSError):
        pass
    finally:
        try:
            for pid in list(children):
                _kill_hard(pid, pid)  # each sandbox leads its own group
            # the sandboxes and everything they left behind: sweep until nothing is re-parented to us
            for _ in range(5):
                if not _kill_orphans(set()):
                    break
        finally:
            os._exit(0)


def _reap(sock: socket.socket, children: set[int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid not in children:
            continue  # a reaped orphan
        children.discard(pid)
        rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        _send(sock, {"exit": pid, "rc": rc})
        _kill_orphans(children)


def _child(sock: socket.socket, request: dict, fd: int) -> None:
    try:
        os.setsid()
        sock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request["env"])
        import tempfile

        tempfile.tempdir = None
        try:
            import numpy

            numpy.random.seed(None)
        except Exception:
            pass
        from autograder import runner

        runner.serve(request["job"], fd)
    finally:
        os._exit(70)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    serve_forever(sock)


# ---------------------------------------------------------------------------------------------
# client


class ZygoteProcess:
    """Popen-like handle on a child of the zygote."""

    def __init__(self, zygote: Zygote, pid: int):
        self._z = zygote
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            self.returncode = self._z._exit_code(self.pid)
            if self.returncode is None and self._z.dead:
                self.returncode = -signal.SIGKILL  # the zygote is gone, and its children with it
        return self.returncode

    def wait(self, timeout=None):
        ev = self._z._exit_event(self.pid)
        if not ev.wait(timeout):
            raise subprocess.TimeoutExpired("zygote child", timeout)
        return self.poll()


class Zygote:
    def __init__(self):
        self._lock = threading.Lock()
        self._state = threading.Lock()
        self._pending: dict[int, dict] = {}
        self._exits: dict[int, int] = {}
        self._events: dict[int, threading.Event] = {}
        self._next = 0
        self.proc = None
        self.sock = None
        self.dead = False

    def start(self, env: dict) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proc = subprocess.Popen([sys.executable, "-I", "-m", "autograder.zygote", str(child.fileno())],
                                     pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=None if os.environ.get(
                                         "CHAINRULE_SANDBOX_DEBUG") else subprocess.DEVNULL,
                                     start_new_session=True, cwd=env.get("HOME", "/"))
        child.close()
        self.sock = parent
        threading.Thread(target=self._reader, daemon=True).start()

    def spawn(self, job: dict, env: dict, fd: int, timeout: float = 60.0) -> ZygoteProcess:
        with self._lock:
            if self.dead:
                raise OSError("the sandbox zygote has exited")
            self._next += 1
            rid = self._next
            slot = {"event": threading.Event()}
            with self._state:
                self._pending[rid] = slot
            data = json.dumps({"id": rid, "job": job, "env": env}).encode()
            socket.send_fds(self.sock, [_HEADER.pack(len(data))], [fd])
            self.sock.sendall(data)
        if not slot["event"].wait(timeout) or "pid" not in slot:
            raise OSError(f"the sandbox zygote did not start a child ({slot.get('error', 'no answer')})")
        pid = slot["pid"]
        return ZygoteProcess(self, pid)

    def _exit_event(self, pid: int) -> threading.Event:
        with self._state:
            return self._events.setdefault(pid, threading.Event())

    def _exit_code(self, pid: int):
        with self._state:
            return self._exits.get(pid)

    def _reader(self) -> None:
        try:
            while True:
                (n,) = _HEADER.unpack(_recv_exact(self.sock, _HEADER.size))
                msg = json.loads(_recv_exact(self.sock, n))
                with self._state:
                    if "exit" in msg:
                        self._exits[msg["exit"]] = msg["rc"]
                        self._events.setdefault(msg["exit"], threading.Event()).set()
                    else:
                        slot = self._pending.pop(msg.get("id"), None)
                        if slot is not None:
                            slot.update(msg)
                            slot["event"].set()
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self.dead = True
            with self._state:
                for slot in self._pending.values():
                    slot["event"].set()
                for ev in self._events.values():
                    ev.set()

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


if __name__ == "__main__":
    main()
