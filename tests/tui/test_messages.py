"""Screens ask the app by posting the messages of `screens/messages.py`, never by calling it by name:
a screen mounted under a bare app (which has none of InstallerApp's methods) still works, and what it
asked for arrives as messages. The app ignores a flow request from a screen that is no longer current."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.app import App
from textual.message import Message
from tui_installer.screens import messages
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.failure import FailureScreen
from tui_installer.screens.flow import FlowScreen
from tui_installer.screens.profile import ProfileScreen
from tui_installer.screens.services import ServicesScreen
from tui_installer.screens.session import Session
from tuihelpers import PASSPHRASE, PROFILE, make_state, wait_until

pytestmark = pytest.mark.tui


class Probe(FlowScreen):
    NAME = "services"


class Recorder(App[None]):
    """Only records what reaches it: a screen that called an app method would fail here."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[Message] = []

    def on_mount(self) -> None:
        self.push_screen(Probe(Session(state_dir=Path("/nonexistent"))))

    def on_flow_next(self, message: messages.FlowNext) -> None:
        self.heard.append(message)

    def on_flow_back(self, message: messages.FlowBack) -> None:
        self.heard.append(message)


def test_flow_screen_posts_next_and_back() -> None:
    async def walk() -> list[Message]:
        app = Recorder()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("ctrl+n")
            await pilot.press("ctrl+b")
            await pilot.pause()
            return app.heard

    assert asyncio.run(walk()) == [messages.FlowNext("services"), messages.FlowBack("services")]


def test_app_ignores_flow_requests_from_a_screen_no_longer_current(tmp_path: Path) -> None:
    async def walk() -> tuple[type, type, type]:
        session = Session(state_dir=tmp_path)
        session.choose_profile(str(PROFILE))
        app = InstallerApp(session, mode="review")
        async with app.run_test(size=(80, 24)) as pilot:
            app.goto("services")
            await pilot.pause()
            app.post_message(messages.FlowNext("profile"))  # the profile screen's late second Next
            await pilot.pause()
            stale = type(app.screen)
            app.post_message(messages.FlowBack("services"))
            await pilot.pause()
            back = type(app.screen)
            app.post_message(messages.FlowBack("services"))  # pressed twice: only one step back
            await pilot.pause()
            return stale, back, type(app.screen)

    assert asyncio.run(walk()) == (ServicesScreen, ProfileScreen, ProfileScreen)


def test_started_run_is_tied_to_its_answers_file(tmp_path: Path) -> None:
    """The Progress screen's RunStarted reaches the app, which records the answers file of the run: a
    later resume of that run uses the very file it was started from (not one rebuilt from its plan)."""
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"profile: {PROFILE}\nsettings: {{work_dir: {tmp_path / 'work'}}}\n")
    session = Session(state_dir=make_state(tmp_path), passphrase=PASSPHRASE)
    session.load_answers(str(answers))

    async def walk() -> tuple[str | None, Path | None]:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen)
                             and bool(app.screen.query("#choice-retry")), what="the first failure, shown")
            # RunStarted bubbles from the Progress screen to the app on its own queue: it may land just
            # after the failure is drawn
            await wait_until(pilot, lambda: app.run_id is not None, what="the app told of the run")
            return app.run_id, app.answers_of(app.run_id)

    run, recorded = asyncio.run(walk())
    assert run is not None and recorded == answers
