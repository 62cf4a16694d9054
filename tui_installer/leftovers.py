"""What a step may leave running, and the clean-up of what a dead engine's step left behind.

The rule (docs/SERVICE-FORMAT.md, "Background processes"): a step that *finished* may leave running
only what it detached into a session of its own (``setsid``, ``servicemgr``): ``cmd &`` dies with the
pty's hangup when the step's shell exits. A step that did *not* finish (its engine was killed with
``kill -9`` mid-step) leaves nothing: it will run again, and its old processes must not run beside the
new attempt (two ``dpkg``s, two servers on one port). Every process of a step carries the state
directory, the run directory and the step id in its environment (inherited through fork, exec,
``setsid`` and double forks), so the next engine finds them in ``/proc`` and, where that run's
journal does not record the step as finished, kills them before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import psutil

from tui_installer.statedir import STATE_DIR_ENV, RunFiles, StateDir

STATE_VAR = STATE_DIR_ENV
RUN_VAR = "TUI_INSTALLER_RUN_DIR"
STEP_VAR = "TUI_INSTALLER_STEP"
#: journal statuses of a step that ended: its detached processes are its result (daemons), kept
FINISHED = frozenset({"ok", "failed", "skipped"})


def _environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _sep, v in pairs}


def step_processes(state: StateDir) -> dict[tuple[str, str], list[int]]:
    """(run dir, step id) -> pids of the processes that carry them, for steps of ``state``."""
    found: dict[tuple[str, str], list[int]] = {}
    me, wanted = os.getpid(), str(state.root)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        env = _environ(int(name))
        if env.get(STATE_VAR) == wanted and STEP_VAR in env and RUN_VAR in env:
            found.setdefault((env[RUN_VAR], env[STEP_VAR]), []).append(int(name))
    return found


def _finished(run_dir: str, step_id: str) -> bool:
    """Whether the run's journal records the step as ended (a journal not readable: it did not)."""
    record = RunFiles(Path(run_dir)).read_journal()
    step = record.steps.get(step_id) if record else None
    return step is not None and step.status in FINISHED


def kill_unfinished(state: StateDir, grace: float = 3.0) -> list[int]:
    """Kill the processes of steps whose run ended before they did; returns their pids.

    Call it only while holding the engine lock: then no engine is alive to own them."""
    doomed = [pid for (run_dir, step), pids in step_processes(state).items()
              if not _finished(run_dir, step) for pid in pids]
    procs = []
    for pid in doomed:
        try:
            procs.append(psutil.Process(pid))
        except psutil.Error:
            continue
    for proc in procs:
        _send(proc.terminate)
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        _send(proc.kill)
    psutil.wait_procs(alive, timeout=2.0)
    return doomed


def _send(action: Callable[[], None]) -> None:
    try:
        action()
    except psutil.Error:
        pass
