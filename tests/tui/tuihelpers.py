"""Helpers for the TUI tests: a real engine is started by the app, so waits are by condition."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.app import App

PROFILE = Path(__file__).parent / "profiles" / "tuidemo.yaml"
PASSWORD = "Tui-Test-Password-4711"
PASSPHRASE = "tui-test-passphrase-0815"


async def wait_until(pilot, cond: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)


def leaked(root: Path, *secrets: str) -> list[str]:
    """Files under ``root`` that contain any of ``secrets`` in clear text."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(s.encode() in data for s in secrets):
                found.append(str(path))
    return found


def make_state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    return path


async def retry_skip_to_slow_step(app, pilot):  # type: ignore[no-untyped-def]
    """The tuidemo walk: answer the flaky step's two failures with Retry, then Skip, and wait until
    the slow step runs. Returns the progress screen."""
    from tui_installer.screens.failure import FailureScreen
    from tui_installer.screens.progress import ProgressScreen

    for key in ("r", "s"):
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="failure")
        await pilot.press(key)
    progress = next(s for s in app.screen_stack if isinstance(s, ProgressScreen))
    await wait_until(pilot, lambda: progress.state.current == "greet.start.slow", what="slow step")
    return progress


async def install_from_review(app, pilot, key: str = "ctrl+r"):  # type: ignore[no-untyped-def]
    """Review's install key opens the confirmation (default No); answer it Yes."""
    from tui_installer.screens.dialogs import ConfirmScreen

    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="install confirmation")
    await pilot.press("y")


def screen_text(app: App[object]) -> str:
    """What the terminal shows now, as plain text (the same render as a screenshot)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)
