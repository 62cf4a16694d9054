"""TUI tests: no engine started by a test outlives it, even when the test fails half-way."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_installer import client


@pytest.fixture(autouse=True)
def _no_engine_left(tmp_path: Path) -> Iterator[None]:
    yield
    for lock in tmp_path.rglob("engine.lock"):
        pid = lock.read_text().strip()
        if pid.isdigit() and client.engine_alive(lock.parent):
            os.kill(int(pid), signal.SIGTERM)  # the engine cancels the step's whole tree and stops
