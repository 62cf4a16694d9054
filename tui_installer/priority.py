"""The operator's console before the install's steps: the TUI raises the CPU priority of its own session.

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

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
