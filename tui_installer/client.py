"""The TUI's side of the engine contract, without Textual: start, follow, answer, check liveness.

The install must survive an SSH disconnect, so it never runs inside the TUI's process tree: the TUI
starts the engine as a detached process (its own session; a transient systemd unit where systemd is
PID 1) and is only a reader of the run's files (docs/DESIGN.md, "State directory" and "Events").
Everything here is plain files and processes, so it is testable without a terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from tui_installer import events, runlock
from tui_installer.paths import PASSPHRASE_ENV


@dataclass
class Launch:
    """A started engine: how to find its run, and where its own stdout/stderr went."""

    pid: int
    state_dir: Path
    console_log: Path
    previous_run: str | None
    started: float
    unit: str | None = None


def last_run(state_dir: Path) -> str | None:
    """The id of the newest run (the engine writes ``STATE/last-run``), or None."""
    try:
        return (state_dir / "last-run").read_text().strip() or None
    except OSError:
        return None


def run_dir(state_dir: Path, run: str) -> Path:
    return state_dir / "runs" / run


def has_systemd() -> bool:
    """True where PID 1 is systemd: then the engine runs as a transient unit, outliving any login."""
    return os.path.isdir("/run/systemd/system") and shutil.which("systemd-run") is not None


def engine_command(answers: Path, state_dir: Path, *, passphrase_file: str | None) -> list[str]:
    """The headless install the TUI watches; ``--on-failure ask`` makes it wait for a decision file."""
    cmd = [sys.executable, "-m", "tui_installer", "install", "-a", str(answers), "--yes",
           "--on-failure", "ask", "--state-dir", str(state_dir)]
    if passphrase_file:
        cmd += ["--keyring-passphrase-file", passphrase_file]
    return cmd


def start_engine(answers: Path, state_dir: Path, *, passphrase: str | None = None,
                 passphrase_file: str | None = None, use_systemd: bool | None = None) -> Launch:
    """Start the engine detached from this terminal and return at once.

    The passphrase never goes on a command line: without systemd it is written to the engine's stdin
    (``--keyring-passphrase-file /dev/stdin``); under systemd-run it travels in the environment by
    name only (``-E NAME`` copies the value from ours).
    """
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if passphrase is None and passphrase_file is None:
        passphrase = os.environ.get(PASSPHRASE_ENV) or None
    console = state_dir / "engine-console.log"
    previous = last_run(state_dir)
    systemd = has_systemd() if use_systemd is None else use_systemd
    if systemd:
        return _start_unit(answers, state_dir, console, previous, passphrase, passphrase_file)
    pipe = passphrase is not None and passphrase_file is None
    cmd = engine_command(answers, state_dir, passphrase_file="/dev/stdin" if pipe else passphrase_file)
    fd = os.open(console, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
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
    return Launch(proc.pid, state_dir, console, previous, time.time())


def _start_unit(answers: Path, state_dir: Path, console: Path, previous: str | None,
                passphrase: str | None, passphrase_file: str | None) -> Launch:
    unit = f"tui-installer-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    env = dict(os.environ)
    by_env = passphrase is not None and passphrase_file is None
    if by_env:
        env[PASSPHRASE_ENV] = str(passphrase)
    cmd = unit_command(unit, console, answers, state_dir, passphrase_by_env=by_env,
                       passphrase_file=passphrase_file)
    subprocess.run(cmd, env=env, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return Launch(0, state_dir, console, previous, time.time(), unit=unit)


def unit_command(unit: str, console: Path, answers: Path, state_dir: Path, *, passphrase_by_env: bool,
                 passphrase_file: str | None) -> list[str]:
    """systemd-run as a transient unit (outlives the login session); ``-E NAME`` copies the value of
    NAME from our environment, so the passphrase never appears in an argv."""
    cmd = ["systemd-run", "--unit", unit, "--collect", "--quiet",
           "-p", f"StandardOutput=append:{console}", "-p", f"StandardError=append:{console}"]
    if passphrase_by_env:
        cmd += ["-E", PASSPHRASE_ENV]
    return cmd + engine_command(answers, state_dir, passphrase_file=passphrase_file)


def _reap_later(proc: subprocess.Popen[bytes]) -> None:
    """Collect the engine's exit status if it ends while we still run (no zombie); never blocks us."""
    threading.Thread(target=proc.wait, name="engine-reaper", daemon=True).start()


def wait_for_run(launch: Launch, timeout: float = 30.0) -> str:
    """The run id the engine created; raises RuntimeError with its console output if it never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = last_run(launch.state_dir)
        if run and run != launch.previous_run and (run_dir(launch.state_dir, run) / "events.jsonl").exists():
            return run
        if launch.pid and not psutil.pid_exists(launch.pid):
            run = last_run(launch.state_dir)
            if run and run != launch.previous_run:
                return run
            break
        if launch.pid and _is_zombie(launch.pid):
            break
        time.sleep(0.05)
    raise RuntimeError("the engine did not start a run: " + console_tail(launch.console_log))


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def console_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(text[-lines:]) or "(no output)"


#: the event follower lives with the event format; the TUI's reader thread uses it from here
follow = events.follow


def decision_path(state_dir: Path, run: str, step: str, attempt: int) -> Path:
    return runlock.decision_path(run_dir(state_dir, run), step, attempt)


def write_decision(state_dir: Path, run: str, step: str, attempt: int, choice: str) -> tuple[bool, dict[str, Any]]:
    """Answer a failed step. First writer wins (O_EXCL): returns (won, the decision that stands)."""
    return runlock.decide(run_dir(state_dir, run), step, attempt, choice, by=f"tui:{os.getpid()}")


def engine_alive(state_dir: Path) -> bool:
    """Is an engine running for this state directory? (``engine.lock`` is flocked while it runs.)"""
    return runlock.holder(state_dir) is not None


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


def read_json(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        value = json.loads(path.read_text())
        if isinstance(value, dict):
            return value
    return {}
