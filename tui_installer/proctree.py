"""Find and kill every process a step started, including those that ran away.

``children(recursive=True)`` alone misses a grandchild whose parent already exited (it was re-parented
to PID 1) — exactly what ``setsid cmd &`` and ``nohup cmd &`` produce. So the step's processes are:
the pty child's descendants, the members of its session and process group (the child is a session
leader), and every process whose environment carries the step's marker ``TUI_INSTALLER_STEP_TOKEN``
(inherited through fork/exec/setsid; read from ``/proc/PID/environ``). Zombies count as gone: PID 1
of a container may never reap them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import psutil

STEP_TOKEN_VAR = "TUI_INSTALLER_STEP_TOKEN"


def _stat_ids(pid: int) -> tuple[int, int] | None:
    """(process group, session) of ``pid`` from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[2]), int(fields[3])
    except (OSError, IndexError, ValueError):
        return None


def _has_marker(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in b"\0" + f.read() + b"\0"
    except OSError:
        return False


def marked(leader: int, token: str) -> list[int]:
    """Pids in ``leader``'s session or group, or carrying the step marker (``leader`` excluded)."""
    needle = f"\0{STEP_TOKEN_VAR}={token}\0".encode()
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (leader, me):
            continue
        pid = int(name)
        ids = _stat_ids(pid)
        if ids is not None and (leader in ids or _has_marker(pid, needle)):
            found.append(pid)
    return found


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _processes(leader: int, token: str) -> dict[int, psutil.Process]:
    procs = {p.pid: p for p in _descendants(leader)}
    for pid in marked(leader, token):
        if pid not in procs:
            try:
                procs[pid] = psutil.Process(pid)
            except psutil.Error:
                pass
    procs.pop(os.getpid(), None)
    return procs


def running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_all(leader: int, procs: dict[int, psutil.Process], sig: int, leader_alive: bool) -> None:
    if leader_alive:
        for send in (os.killpg, os.kill):
            try:
                send(leader, sig)
            except OSError:
                pass
    for proc in procs.values():
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


def _wait(procs: dict[int, psutil.Process], leader_alive: Callable[[], bool], timeout: float) -> bool:
    """Poll until all are gone; never ``waitpid`` the leader ourselves (pexpect owns it)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = {pid: p for pid, p in procs.items() if running(p)}
        procs.clear()
        procs.update(alive)
        if not alive and not leader_alive():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def kill(leader: int, token: str, grace: float, leader_alive: Callable[[], bool]) -> None:
    """SIGTERM the step's processes, SIGKILL what is left after ``grace`` seconds.

    Looks again after the kill, for processes forked while the first ones were dying.
    """
    for _round in range(3):
        procs = _processes(leader, token)
        alive = leader_alive()
        if not procs and not alive:
            return
        _signal_all(leader, procs, signal.SIGTERM, alive)
        if not _wait(procs, leader_alive, grace):
            _signal_all(leader, procs, signal.SIGKILL, leader_alive())
            _wait(procs, leader_alive, 2.0)
