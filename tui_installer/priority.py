"""CPU priority by session: the TUI's console before the install's steps (``interactive``), and among steps
run side by side, the one on the longest path before the others (``StepPriorities``).

On a machine whose cores the steps keep busy (two `pip`/`db sync` processes, or two steps flooding their
output, on two cores), a key reached the screen in 250-500 ms at the 95th percentile (bench/tui.py,
BENCHMARKS.md "Steps at once"): the TUI waited for a core behind the steps, not for its own work. Linux
weighs CPU time between *sessions* when autogroup is on (``/proc/sys/kernel/sched_autogroup_enabled``, the
default of Debian's and Ubuntu's kernels), so a process's own nice value does not count against another
session's; what does is the session's autogroup nice, ``/proc/self/autogroup``. The TUI sets it to
``INTERACTIVE_NICE`` while it runs (never to less priority than the session had) and puts the old value
back when it ends.

Nothing the TUI starts in a session of its own is affected: the engine and ``validate`` are started with
``start_new_session`` (a new session starts with autogroup nice 0) and every step runs in its own session
(ptyspawn), so the install's speed and the steps' priority among themselves are unchanged. What runs in the
TUI's session shares the boost: the operator's shell from the failure dialog (interactive too).

Only root (CAP_SYS_NICE) may set a negative value; for anyone else, with autogroup off, or without the
file, this does nothing. ``TUI_INSTALLER_NICE=0`` turns it off, ``TUI_INSTALLER_NICE=N`` sets N instead."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil

INTERACTIVE_NICE = -10
ENV = "TUI_INSTALLER_NICE"
AUTOGROUP = Path("/proc/self/autogroup")
ENABLED = Path("/proc/sys/kernel/sched_autogroup_enabled")


def current(path: Path = AUTOGROUP) -> int | None:
    """The session's autogroup nice (``/autogroup-123 nice -10``), or None where there is none."""
    try:
        found = re.search(r"nice\s+(-?\d+)", path.read_text())
    except OSError:
        return None
    return int(found.group(1)) if found else None


def wanted(env: Mapping[str, str] | None = None) -> int | None:
    """The nice value to set: ``$TUI_INSTALLER_NICE`` (-20..19) or ``INTERACTIVE_NICE``; None: leave it."""
    text = (os.environ if env is None else env).get(ENV, "").strip()
    if not text:
        return INTERACTIVE_NICE
    try:
        value = int(text)
    except ValueError:
        return None
    return value if -20 <= value <= 19 and value != 0 else None


def set_nice(value: int, path: Path = AUTOGROUP) -> bool:
    try:
        path.write_text(f"{value}\n")
    except OSError:  # not root (EACCES/EPERM), or a kernel without autogroup
        return False
    return True


@contextmanager
def interactive(path: Path = AUTOGROUP, enabled: Path = ENABLED,
                env: Mapping[str, str] | None = None) -> Iterator[int | None]:
    """While the block runs, this session's autogroup at the wanted nice; yields what is in force
    (None: nothing changed). The old value is put back even when the block raises."""
    env = os.environ if env is None else env
    value, before = wanted(env), current(path)
    try:
        on = enabled.read_text().strip() == "1"
    except OSError:
        on = False
    explicit = bool(env.get(ENV, "").strip())
    changed = (value is not None and before is not None and on and (value < before or explicit and value != before)
               and set_nice(value, path))
    try:
        yield value if changed else None
    finally:
        if changed and before is not None:  # always read when changed; says so to the type checker
            set_nice(before, path)


# -- steps side by side: the one on the longest path keeps the normal priority ---------------------------

#: the autogroup nice of a running step that is not on the longest path while others run (weight 335 against
#: 1024: on two cores a single-threaded step on the path keeps a whole core beside two that yield)
YIELD_NICE = 5
YIELD_ENV = "TUI_INSTALLER_YIELD"


def session_file(pid: int) -> Path:
    return Path(f"/proc/{pid}/autogroup")


def yielding(env: Mapping[str, str] | None = None, enabled: Path = ENABLED) -> bool:
    """Whether steps off the longest path yield: as root (``os.geteuid() == 0``: putting a session back
    to 0 needs CAP_SYS_NICE), autogroup on, not turned off (``TUI_INSTALLER_YIELD=0``)."""
    if (os.environ if env is None else env).get(YIELD_ENV, "").strip() == "0" or os.geteuid() != 0:
        return False
    try:
        return enabled.read_text().strip() == "1"
    except OSError:
        return False


class StepPriorities:
    """While several steps run, the one with the longest path to the end of the plan (``levels``:
    ``plan.path_levels``, from earlier runs' durations) runs at the normal priority and the others
    yield to it (their sessions' autogroup nice ``YIELD_NICE``; every step runs in a session of its
    own). The longest path of a 2-core all-in-one is a chain of steps that each wait on the previous
    one (apt, the venv, pip, nova's database syncs...): CPU given to a step off it only delays the
    end if the chain waits for a core. Nothing else on the machine loses priority: only our own
    steps yield, and only to each other. A step that ends puts its session back to 0 for whatever
    it left running there (a daemon that did not leave the session)."""

    def __init__(self, levels: Mapping[str, float], nice: int = YIELD_NICE) -> None:
        self.levels, self.nice = levels, nice
        self._running: dict[str, int] = {}
        self._set: dict[str, int] = {}
        self._lock = threading.Lock()

    def started(self, step_id: str, pid: int) -> None:
        with self._lock:
            self._running[step_id] = pid
            self._apply()

    def ended(self, step_id: str) -> None:
        with self._lock:
            pid = self._running.pop(step_id, None)
            if pid is not None and self._set.pop(step_id, 0) != 0:
                _reset_session(pid)
            self._apply()

    def current(self) -> dict[str, int]:
        """The nice value set for each running step (0: never changed)."""
        with self._lock:
            return {sid: self._set.get(sid, 0) for sid in self._running}

    def _apply(self) -> None:
        if not self._running:
            return
        top = max(self._running, key=lambda sid: self.levels.get(sid, 0.0))
        for sid, pid in self._running.items():
            want = 0 if sid == top else self.nice
            if self._set.get(sid, 0) != want and set_nice(want, session_file(pid)):
                self._set[sid] = want


def _reset_session(sid: int) -> None:
    """Put the autogroup of session ``sid`` back to 0 through any process still in it (the group is
    shared: one write does it for all)."""
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid:
                if set_nice(0, session_file(pid)):
                    return
        except OSError:  # gone meanwhile
            continue
