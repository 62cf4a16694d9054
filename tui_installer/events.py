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
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Event], None]] = []

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Also hand every event to ``callback`` (in-process clients, e.g. the headless printer)."""
        self._listeners.append(callback)

    def emit(self, type_: str, **fields: Any) -> Event:
        event: Event = {"ts": round(time.time(), 3), "type": type_, "run": self.run_id, **fields}
        data = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            os.write(self._fd, data)
        for callback in self._listeners:
            callback(event)
        return event

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


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
    events = []
    for raw in data[:end].splitlines():
        try:
            events.append(json.loads(raw))
        except ValueError:
            continue  # a torn line from a crash, or garbage: never fatal for a reader
    return events, offset + end


def follow(path: Path, *, offset: int = 0, poll: float = 0.1,
           stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """Yield events as they are appended, from ``offset``, until ``stop()`` is true or the run ends."""
    while True:
        events, offset = read_from(path, offset)
        for event in events:
            yield event
            if event.get("type") == "run_finished":
                return
        if stop():
            return
        if not events:
            time.sleep(poll)
