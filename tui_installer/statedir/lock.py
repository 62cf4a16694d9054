"""Who runs, and who answers: the engine's lock and the decision files of a run.

Small and free of heavy imports, because every client (headless CLI, TUI) asks these questions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tui_installer.errors import UserError
from tui_installer.statedir.safety import open_nofollow, read_text, real_subdir

CHOICES = ("retry", "skip", "abort")


@dataclass(frozen=True)
class Decision:
    """An answer to a failed step: ``choice`` is one of CHOICES (``?`` when unreadable), ``by`` who."""

    choice: str
    by: str


class EngineLock:
    """An flock on the state directory's lock file: held while an engine runs, released by the kernel if
    it dies, so clients can tell a live engine from a dead one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, patience: float = 0.5) -> None:
        """Take the lock; a client probing it at this very moment holds it for microseconds, hence the
        short patience before concluding that another engine runs."""
        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o600)
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
            raise UserError(f"another tui-installer engine is running (pid {holder(self.path)})",
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


def holder(lock: Path) -> int | None:
    """The pid of the engine holding ``lock`` (-1 if unknown), or None when no engine runs.

    The kernel releases the flock when the engine exits, however it exits (a zombie holds no lock),
    so the probe is the truth; the pid in the file is only for messages.
    """
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
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


def decide(path: Path, choice: str, by: str) -> tuple[bool, Decision]:
    """Write the answer at ``path``. The first answer wins (O_EXCL): returns (won, the decision that
    stands)."""
    if choice not in CHOICES:
        raise UserError(f"unknown choice {choice!r}", hint="use " + ", ".join(CHOICES))
    real_subdir(path.parent, create=True)
    try:
        fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False, read_decision(path)
    with os.fdopen(fd, "w") as handle:
        json.dump({"choice": choice, "by": by}, handle)
    return True, Decision(choice, by)


def poll_decision(path: Path) -> Decision | None:
    """The decision at ``path`` if one is fully written, else None (absent, or still being written)."""
    with contextlib.suppress(OSError, ValueError, UserError):
        value = json.loads(read_text(path))
        if isinstance(value, dict) and value.get("choice") in CHOICES:
            return Decision(str(value["choice"]), str(value.get("by", "?")))
    return None


def read_decision(path: Path, wait: float = 0.2) -> Decision:
    """The decision already written (its writer may still be finishing it: retry briefly)."""
    deadline = time.monotonic() + wait
    while True:
        found = poll_decision(path)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            return Decision("?", "?")
        time.sleep(0.01)
