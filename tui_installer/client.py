"""The TUI's side of the engine contract, without Textual: start, follow, answer, check liveness.

The install must survive an SSH disconnect, so it never runs inside the TUI's process tree: the TUI
starts the engine as a detached process (its own session; a transient systemd unit where systemd is
PID 1) and is only a reader of the run's files (docs/DESIGN.md, "The state directory" and "Events").
Everything here is plain files and processes, so it is testable without a terminal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from tui_installer.statedir import PASSPHRASE_ENV, StateDir
from tui_installer.statedir.lock import Decision


@dataclass
class Launch:
    """A started engine: how to find its run, and where its own stdout/stderr went."""

    pid: int
    state_dir: Path
    console_log: Path
    previous_run: str | None
    started: float
    unit: str | None = None
    #: the console log's size before this engine started: its own output comes after it
    console_offset: int = 0


def last_run(state_dir: Path) -> str | None:
    """The id of the newest run, or None."""
    run = StateDir(state_dir).last_run()
    return run.id if run else None


def has_systemd() -> bool:
    """True where PID 1 is systemd: then the engine runs as a transient unit, outliving any login."""
    return os.path.isdir("/run/systemd/system") and shutil.which("systemd-run") is not None


def engine_command(answers: Path, state_dir: Path, *, passphrase_file: str | None,
                   verb: Sequence[str] | None = None) -> list[str]:
    """The headless install the TUI watches; ``--on-failure ask`` makes it wait for a decision file.
    ``verb``: another engine command instead (``node remove HOST --yes``); ``answers`` is then unused."""
    work = list(verb) if verb else ["install", "-a", str(answers), "--yes", "--on-failure", "ask"]
    cmd = [sys.executable, "-m", "tui_installer", *work, "--state-dir", str(state_dir)]
    if passphrase_file:
        cmd += ["--keyring-passphrase-file", passphrase_file]
    return cmd


def start_engine(answers: Path, state_dir: Path, *, passphrase: str | None = None,
                 passphrase_file: str | None = None, use_systemd: bool | None = None,
                 verb: Sequence[str] | None = None) -> Launch:
    """Start the engine detached from this terminal and return at once.

    The passphrase never goes on a command line: without systemd it is written to the engine's stdin
    (``--keyring-passphrase-file /dev/stdin``); under systemd-run it travels in the environment by
    name only (``-E NAME`` copies the value from ours).
    """
    state = StateDir.open(state_dir)
    if passphrase is None and passphrase_file is None:
        passphrase = os.environ.get(PASSPHRASE_ENV) or None
    console = state.console_log
    offset = state.console_size()
    previous = last_run(state_dir)
    systemd = has_systemd() if use_systemd is None else use_systemd
    if systemd:
        return replace(_start_unit(answers, state_dir, console, previous, passphrase, passphrase_file, verb),
                       console_offset=offset)
    pipe = passphrase is not None and passphrase_file is None
    cmd = engine_command(answers, state_dir, passphrase_file="/dev/stdin" if pipe else passphrase_file, verb=verb)
    fd = state.open_console_log()
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_ENV}
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if pipe else subprocess.DEVNULL, stdout=fd,
                                stderr=fd, start_new_session=True, close_fds=True, env=env)
    finally:
        os.close(fd)
    if pipe and proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write((passphrase or "").encode() + b"\n")
        proc.stdin.close()
    _reap_later(proc)
    return Launch(proc.pid, state_dir, console, previous, time.time(), console_offset=offset)


def _start_unit(answers: Path, state_dir: Path, console: Path, previous: str | None,
                passphrase: str | None, passphrase_file: str | None, verb: Sequence[str] | None = None) -> Launch:
    unit = f"tui-installer-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    env = dict(os.environ)
    by_env = passphrase is not None and passphrase_file is None
    if by_env:
        env[PASSPHRASE_ENV] = str(passphrase)
    cmd = unit_command(unit, console, answers, state_dir, passphrase_by_env=by_env,
                       passphrase_file=passphrase_file, verb=verb)
    subprocess.run(cmd, env=env, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return Launch(0, state_dir, console, previous, time.time(), unit=unit)


def unit_command(unit: str, console: Path, answers: Path, state_dir: Path, *, passphrase_by_env: bool,
                 passphrase_file: str | None, verb: Sequence[str] | None = None) -> list[str]:
    """systemd-run as a transient unit (outlives the login session); ``-E NAME`` copies the value of
    NAME from our environment, so the passphrase never appears in an argv."""
    cmd = ["systemd-run", "--unit", unit, "--collect", "--quiet",
           "-p", f"StandardOutput=append:{console}", "-p", f"StandardError=append:{console}"]
    if passphrase_by_env:
        cmd += ["-E", PASSPHRASE_ENV]
    return cmd + engine_command(answers, state_dir, passphrase_file=passphrase_file, verb=verb)


def _reap_later(proc: subprocess.Popen[bytes]) -> None:
    """Collect the engine's exit status if it ends while we still run (no zombie); never blocks us."""
    threading.Thread(target=proc.wait, name="engine-reaper", daemon=True).start()


def wait_for_run(launch: Launch, timeout: float = 30.0) -> str:
    """The run id the engine created; raises RuntimeError with its console output if it never did."""
    deadline = time.monotonic() + timeout
    state = StateDir(launch.state_dir)
    while time.monotonic() < deadline:
        run = last_run(launch.state_dir)
        if run and run != launch.previous_run and state.run(run).has_events():
            return run
        if launch.pid and not psutil.pid_exists(launch.pid):
            run = last_run(launch.state_dir)
            if run and run != launch.previous_run:
                return run
            break
        if launch.pid and _is_zombie(launch.pid):
            break
        time.sleep(0.05)
    raise RuntimeError("the engine did not start a run: " + state.console_tail(since=launch.console_offset))


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def write_decision(state_dir: Path, run: str, step: str, attempt: int, choice: str) -> tuple[bool, Decision]:
    """Answer a failed step. First writer wins (O_EXCL): returns (won, the decision that stands)."""
    return StateDir(state_dir).run(run).decide(step, attempt, choice, by=f"tui:{os.getpid()}")


def engine_alive(state_dir: Path) -> bool:
    """Is an engine running for this state directory? (its lock is flocked while it runs)"""
    return StateDir(state_dir).engine_pid() is not None


def waiting_for(pid: int | None) -> str | None:
    """What a silent step is waiting on: the newest process in the engine's tree, as a command line."""
    if not pid:
        return None
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return None
    best: tuple[float, str] | None = None
    for child in children:
        with contextlib.suppress(psutil.Error):
            created, cmd = child.create_time(), " ".join(child.cmdline()) or child.name()
            if best is None or created >= best[0]:
                best = (created, cmd)
    return best[1][:200] if best else None



def start_validate(state_dir: Path, selection: str = "smoke") -> subprocess.Popen[bytes]:
    """``tui-installer validate`` in the background, its output in the state directory; a client follows
    its progress with ``StateDir.validation.progress()`` and reads ``result()`` when it is done."""
    files = StateDir(state_dir).validation
    fd = files.open_console()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tui_installer", "validate", f"--{selection}",
                                 "--state-dir", str(state_dir)], stdin=subprocess.DEVNULL, stdout=fd,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        os.close(fd)
    _reap_later(proc)
    return proc
