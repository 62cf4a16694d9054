"""The per-run journal: what happened to every step, written atomically so a ``kill -9`` at any moment
leaves a consistent file, and read back so a re-run resumes where the last one stopped."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_installer.model import Plan

PENDING, RUNNING, OK, FAILED, SKIPPED = "pending", "running", "ok", "failed", "skipped"
#: skip reasons that mean "the work is done" (``user`` means it was skipped on failure: not done)
DONE_REASONS = frozenset({"done", "creates", "unless"})
#: errors of a full or read-only state directory: the run ends with one line saying what to free
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})
#: free space a run needs to go on (journal rewrites, events and step logs of a few steps)
SPACE_NEEDED = 16 * 1024 * 1024
#: TESTS ONLY: ``kill -9`` the engine right after its N-th journal write (the crash harness)
CRASH_AFTER_ENV = "TUI_INSTALLER_TEST_CRASH_AFTER_WRITES"



def finished_verdict(skipped: list[str]) -> str:
    """How a run that reached its end reads in every client (TUI, headless, ``status``): "ok", or
    "finished with N skipped step(s): names" — a step skipped after a failure did not do its work."""
    if not skipped:
        return "ok"
    return f"finished with {len(skipped)} skipped step(s): {', '.join(skipped)}"


class StateDiskError(OSError):
    """The state directory refused a write (full, read-only, over quota): the run cannot record what
    it does, so it must stop; ``str()`` is the one line to show the operator."""

    def __init__(self, path: Path, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror)
        self.path = path
        self.line = disk_error_line(path, exc)

    def __str__(self) -> str:
        return self.line


def disk_error_line(path: Path, exc: OSError) -> str:
    """One line naming the state directory, what went wrong and how much space to free."""
    state = _state_dir_of(path)
    try:
        free = shutil.disk_usage(state).free
    except OSError:
        free = 0
    what = exc.strerror or str(exc)
    if exc.errno == errno.EROFS:
        return f"state directory {state}: {what}: remount it read-write, then re-run the same command to resume"
    return (f"state directory {state}: {what} ({free // 1024} KiB free): free at least "
            f"{SPACE_NEEDED // (1024 * 1024)} MiB there, then re-run the same command to resume")


def _state_dir_of(journal_file: Path) -> Path:
    """``STATE`` for a run's journal (``STATE/<runs>/<id>/journal.json``: statedir owns the names)."""
    parents = journal_file.parents
    return parents[2] if len(parents) > 2 else journal_file.parent


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written: a short write (a nearly full disk) is not success."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


@dataclass
class StepRecord:
    status: str = PENDING
    reason: str | None = None
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    fingerprint: str = ""
    log: str = ""
    cause: str | None = None
    #: the inventory host the step runs on (None: this machine)
    host: str | None = None

    @property
    def done(self) -> bool:
        return self.status == OK or (self.status == SKIPPED and self.reason in DONE_REASONS)

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass
class Journal:
    """The journal of one run, rewritten whole (atomically) on changes.

    Cost matters (it is written for every step): each step record is encoded once per change and
    cached, and a step going "running" is written by the engine's ticker within a fraction of a second
    (``update(..., flush=False)``) rather than at once, so a 2 ms step costs one write, not two. A
    "running" that never reached the disk is harmless: the step reads as pending and runs again.
    """

    path: Path
    run: str
    profile: str
    kind: str = "install"  # or "uninstall", or "remove-node"
    #: the inventory host a ``remove-node`` run took out of the cloud (its steps are no longer done)
    node: str | None = None
    state: str = RUNNING
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    #: fsync when the run ends or a step fails (off only for benchmarks of the engine's overhead)
    durable: bool = True
    _encoded: dict[str, str] = field(default_factory=dict, repr=False)
    _dirty: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, path: Path, run: str, plan: Plan, kind: str = "install",
               base: Journal | None = None, node: str | None = None) -> Journal:
        """The journal of a new run, written before any step runs. Steps ``base`` (the run resumed
        from) records as done with the same fingerprint are carried as ``skipped: done``: so the
        ledger of finished work is whole in every journal, and a run killed before it did anything
        still hands all of it to the next (a resume reads only the newest journal)."""
        journal = cls(path=path, run=run, profile=plan.profile, kind=kind, node=node)
        for step in plan.steps():
            record = StepRecord(fingerprint=step.fingerprint, log=f"logs/{step.id}.log", host=step.host)
            previous = base.steps.get(step.id) if base else None
            if previous and previous.done and previous.fingerprint == step.fingerprint:
                record.status, record.reason = SKIPPED, "done"
                record.started, record.finished = previous.started, previous.finished
            journal.steps[step.id] = record
            journal.order.append(step.id)
        journal.save()
        return journal

    def update(self, step_id: str, *, flush: bool = True, **fields: Any) -> StepRecord:
        with self._lock:
            record = self.steps[step_id]
            for key, value in fields.items():
                setattr(record, key, value)
            self._encoded.pop(step_id, None)
            self._dirty = True
        if flush:
            self.save(sync=record.status == FAILED)
        return record

    def flush(self) -> None:
        """Write pending changes, if any (called by the engine's ticker)."""
        if self._dirty:
            self.save(sync=False)

    def finish(self, state: str) -> None:
        self.state = state
        self.finished = time.time()
        self.save()

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(self._encode())
        return record

    def _encode(self) -> str:
        head = {"run": self.run, "profile": self.profile, "kind": self.kind, "state": self.state,
                "pid": self.pid, "started": self.started, "finished": self.finished,
                **({"node": self.node} if self.node else {})}
        for step_id, record in self.steps.items():
            if step_id not in self._encoded:
                fields = vars(record) if record.host else {k: v for k, v in vars(record).items() if k != "host"}
                self._encoded[step_id] = json.dumps(fields, separators=(",", ":"))  # one host: as before
        steps = ",".join(f"{json.dumps(k)}:{self._encoded[k]}" for k in self.steps)
        order = json.dumps(self.order, separators=(",", ":"))
        return json.dumps(head, separators=(",", ":"))[:-1] + f',"steps":{{{steps}}},"order":{order}}}'

    def save(self, sync: bool = True) -> None:
        """Write to a temporary file and rename it over the journal: readers and a re-run after a
        crash see either the old or the new journal, never a torn one. A write that fails or falls
        short (full disk) never replaces the journal: the fragment is removed and
        ``StateDiskError`` raised (the engine ends the run with its line)."""
        with self._lock:
            data = self._encode().encode()
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                _write_file(tmp, data, sync=self.durable and sync)
                os.replace(tmp, self.path)
            except OSError as exc:
                _unlink(tmp)
                if exc.errno in DISK_ERRNOS:
                    raise StateDiskError(self.path, exc) from exc
                raise
            self._dirty = False
            _count_write()  # under the lock: writes from the steps' threads are counted one by one


def _write_file(path: Path, data: bytes, *, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        write_all(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


_writes = 0


def _count_write() -> None:
    """The crash harness's hook (tests only, see ``CRASH_AFTER_ENV``): die like ``kill -9`` right
    after the N-th journal write of this process."""
    global _writes
    limit = os.environ.get(CRASH_AFTER_ENV)
    if not limit:
        return
    _writes += 1
    if _writes >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def load(path: Path) -> Journal:
    raw = json.loads(path.read_text())
    steps = {k: StepRecord(**v) for k, v in raw.get("steps", {}).items()}
    return Journal(path=path, run=raw["run"], profile=raw["profile"], kind=raw.get("kind", "install"),
                   state=raw["state"], pid=raw.get("pid", 0), started=raw["started"],
                   finished=raw.get("finished"), steps=steps, order=raw.get("order", list(steps)),
                   node=raw.get("node"))

