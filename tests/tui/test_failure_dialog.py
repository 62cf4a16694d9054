"""The failure dialog answered before it has finished appearing: a key pressed at once (an operator who
types ahead, a slow machine) dismisses it before its Mount runs; the TUI must go on, not crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.app import App
from tui_installer.screens.dialogs import ConfirmScreen
from tui_installer.screens.failure import FailureScreen
from tui_installer.screens.runstate import Failure

from tui_installer.statedir import StateDir

pytestmark = pytest.mark.tui


def test_an_answer_before_the_dialog_is_mounted_does_not_crash(tmp_path: Path) -> None:
    failure = Failure("svc.install.step", 1, {"exit_code": 1, "tail": ["first attempt fails"]},
                      needs_decision=True)
    run = StateDir(tmp_path).run("r1")
    answers: list[str | None] = []

    async def walk() -> bool:
        app: App[None] = App()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = FailureScreen(failure, run)
            app.push_screen(screen, answers.append)
            screen.action_choose("abort")  # in the same tick as the push: before the screen's Mount
            await pilot.pause()
            await pilot.pause()
            return app.is_running

    assert asyncio.run(walk()), "the app stopped"
    assert answers == ["abort"]


def test_the_dialog_focuses_retry_when_it_appears(tmp_path: Path) -> None:
    failure = Failure("svc.install.step", 1, {"exit_code": 1, "tail": []}, needs_decision=True)
    run = StateDir(tmp_path).run("r1")

    async def walk() -> str | None:
        app: App[None] = App()
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(FailureScreen(failure, run))
            await pilot.pause()
            return app.focused.id if app.focused else None

    assert asyncio.run(walk()) == "choice-retry"


def test_a_yes_typed_ahead_of_the_confirm_dialog_does_not_crash() -> None:
    answers: list[bool] = []

    async def walk() -> bool:
        app: App[None] = App()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = ConfirmScreen("Quit the TUI?")
            app.push_screen(screen, answers.append)
            screen.action_answer(True)
            await pilot.pause()
            await pilot.pause()
            return app.is_running

    assert asyncio.run(walk()), "the app stopped"
    assert answers == [True]
