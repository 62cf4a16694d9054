"""Who runs, and who answers: the engine's lock and the decision files of a run.

Small and free of heavy imports, because every client (headless CLI, TUI) asks these questions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from tui_installer.errors import UserError

CHOICES = ("retry", "skip", "abort")
LOCK_FILE = "engine.lock"


class EngineLock:
    """An flock on ``STATE/engine.lock``: held while an engine runs, released by the kernel if it dies,
    so clients can tell a live engine from a dead one."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, patience: float = 0.5) -> None:
        """Take the lock; a client probing it at this very moment holds it for microseconds, hence the
        short patience before concluding that another engine runs."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
            os.close(fd)
            raise UserError(f"another tui-installer engine is running (pid {holder(self.path.parent)})",
                            file=str(self.path),
                            hint="watch it with `tui-installer attach` or `tui-installer status`") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def holder(state_dir: Path) -> int | None:
    """The pid of the live engine of ``state_dir`` (-1 if unknown), or None when no engine runs.

    The kernel releases the flock when the engine exits, however it exits (a zombie holds no lock),
    so the probe is the truth; the pid in the file is only for messages.
    """
    lock = state_dir / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)
    return None


def decision_path(run_dir: Path, step_id: str, attempt: int) -> Path:
    return run_dir / "decisions" / f"{step_id}.{attempt}.json"


def decide(run_dir: Path, step_id: str, attempt: int, choice: str, by: str) -> tuple[bool, dict[str, Any]]:
    """Answer a failed step. The first answer wins (O_EXCL): returns (won, the decision that stands)."""
    if choice not in CHOICES:
        raise UserError(f"unknown choice {choice!r}", hint="use " + ", ".join(CHOICES))
    path = decision_path(run_dir, step_id, attempt)
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    record = {"choice": choice, "by": by}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False, read_decision(path)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
    return True, record


def read_decision(path: Path, wait: float = 0.2) -> dict[str, Any]:
    """The decision already written (its writer may still be finishing it: retry briefly)."""
    deadline = time.monotonic() + wait
    while True:
        with contextlib.suppress(OSError, ValueError):
            value = json.loads(path.read_text())
            if isinstance(value, dict) and value.get("choice") in CHOICES:
                return value
        if time.monotonic() > deadline:
            return {"choice": "?", "by": "?"}
        time.sleep(0.01)
