"""The event stream: plain JSON-lines records, the one thing every client reads.

The engine appends; the headless printer, the TUI and a re-attaching client all read the same file
(``runs/<id>/events.jsonl``). Records are dicts with at least ``ts``, ``type`` and ``run``; the types and
their fields are listed in docs/DESIGN.md.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Event = dict[str, Any]


class EventWriter:
    """Appends events to a file, one ``os.write`` per record so a crash never leaves half a record
    in the middle of the stream (at worst a truncated last line, which readers skip)."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Event], None]] = []

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Also hand every event to ``callback`` (in-process clients, e.g. the headless printer)."""
        self._listeners.append(callback)

    def emit(self, type_: str, **fields: Any) -> Event:
        event: Event = {"ts": round(time.time(), 3), "type": type_, "run": self.run_id, **fields}
        data = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:  # steps run in threads of their own: listeners see the file's order, one at a time
            _write_all(self._fd, data)
            for callback in list(self._listeners):
                try:
                    callback(event)
                except Exception:  # a broken client (a printer on a lost terminal) must not stop the run
                    self._listeners.remove(callback)
        return event

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: bytes) -> None:
    """A short write (nearly full disk) is finished or fails: never silently half a record."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_all(path: Path) -> list[Event]:
    """Every complete event in the file (a torn last line from a crash is ignored)."""
    events, _ = read_from(path, 0)
    return events


def read_from(path: Path, offset: int) -> tuple[list[Event], int]:
    """Complete events after byte ``offset``; returns them and the offset to continue from."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    return parse_lines(data[:end].split(b"\n")), offset + end


def parse_lines(lines: list[bytes]) -> list[Event]:
    """Events from complete lines; a torn line from a crash, or garbage, is skipped, never fatal."""
    events = []
    for raw in lines:
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            events.append(value)
    return events


def follow(path: Path, stop: threading.Event, *, poll: float = 0.1, batch: int = 500) -> Iterator[list[Event]]:
    """Yield the events of ``path`` from its start, in batches, then as they are appended, until ``stop``
    is set. A line is parsed only once its newline arrived (the writer may be mid-append). Waits for the
    file to appear, so a client can start following before the engine wrote anything."""
    while not path.exists():
        if stop.wait(poll):
            return
    with path.open("rb") as handle:
        pending = b""
        while not stop.is_set():
            chunk = handle.read(1 << 20)
            if not chunk:
                stop.wait(poll)
                continue
            *complete, pending = (pending + chunk).split(b"\n")
            events = parse_lines(complete)
            for i in range(0, len(events), batch):
                yield events[i:i + batch]
