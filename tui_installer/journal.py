"""The per-run journal: what happened to every step, written atomically so a ``kill -9`` at any moment
leaves a consistent file, and read back so a re-run resumes where the last one stopped."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_installer.model import Plan

PENDING, RUNNING, OK, FAILED, SKIPPED = "pending", "running", "ok", "failed", "skipped"
#: skip reasons that mean "the work is done" (``user`` means it was skipped on failure: not done)
DONE_REASONS = frozenset({"done", "creates", "unless"})


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
    kind: str = "install"  # or "uninstall"
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
    def create(cls, path: Path, run: str, plan: Plan, kind: str = "install") -> Journal:
        journal = cls(path=path, run=run, profile=plan.profile, kind=kind)
        for step in plan.steps():
            journal.steps[step.id] = StepRecord(fingerprint=step.fingerprint, log=f"logs/{step.id}.log")
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
                "pid": self.pid, "started": self.started, "finished": self.finished}
        for step_id, record in self.steps.items():
            if step_id not in self._encoded:
                self._encoded[step_id] = json.dumps(vars(record), separators=(",", ":"))
        steps = ",".join(f"{json.dumps(k)}:{self._encoded[k]}" for k in self.steps)
        order = json.dumps(self.order, separators=(",", ":"))
        return json.dumps(head, separators=(",", ":"))[:-1] + f',"steps":{{{steps}}},"order":{order}}}'

    def save(self, sync: bool = True) -> None:
        """Write to a temporary file and rename it over the journal: readers and a re-run after a
        crash see either the old or the new journal, never a torn one."""
        with self._lock:
            data = self._encode().encode()
            self._dirty = False
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                if self.durable and sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)


def load(path: Path) -> Journal:
    raw = json.loads(path.read_text())
    steps = {k: StepRecord(**v) for k, v in raw.get("steps", {}).items()}
    return Journal(path=path, run=raw["run"], profile=raw["profile"], kind=raw.get("kind", "install"),
                   state=raw["state"], pid=raw.get("pid", 0), started=raw["started"],
                   finished=raw.get("finished"), steps=steps, order=raw.get("order", list(steps)))


def runs_newest_first(state_dir: Path) -> list[Path]:
    """Run directories that have a journal, newest first (run ids sort by time)."""
    runs = state_dir / "runs"
    if not runs.is_dir():
        return []
    return sorted((p for p in runs.iterdir() if (p / "journal.json").is_file()), reverse=True)


def resume_base(state_dir: Path, profile: str) -> Journal | None:
    """The journal a new install of ``profile`` resumes from: the newest install run of that profile,
    unless an uninstall ran after it (then nothing is done any more)."""
    for run_dir in runs_newest_first(state_dir):
        try:
            journal = load(run_dir / "journal.json")
        except (ValueError, KeyError, TypeError, OSError):
            continue  # unreadable: treat as absent rather than refuse to install
        if journal.kind == "uninstall":
            return None
        if journal.profile == profile:
            return journal
    return None
