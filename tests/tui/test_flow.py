"""The whole flow with the real engine: host check to summary, a failed step retried from the modal,
another skipped, then the journal and every artefact checked (no password in clear anywhere)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.failure import FailureScreen
from tui_installer.screens.host import HostScreen
from tui_installer.screens.passwords import PasswordsScreen
from tui_installer.screens.profile import ProfileScreen
from tui_installer.screens.progress import ProgressScreen
from tui_installer.screens.review import ReviewScreen
from tui_installer.screens.services import ServicesScreen
from tui_installer.screens.session import Session
from tui_installer.screens.settings import SettingsScreen
from tui_installer.screens.summary import SummaryScreen
from tuihelpers import PASSPHRASE, PASSWORD, PROFILE, install_from_review, leaked, make_state, wait_until

pytestmark = pytest.mark.tui


async def type_into(pilot, app, selector: str, text: str) -> None:  # type: ignore[no-untyped-def]
    field = app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)


def test_whole_flow_retry_and_skip(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    run = asyncio.run(walk_flow(state, tmp_path / "work"))
    check_run(state, run)


async def walk_flow(state: Path, work: Path) -> str:
    app = InstallerApp(Session(state_dir=state), mode="flow")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HostScreen), what="host check")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfileScreen), what="profile")
        app.screen.query_one("#profile-path", Input).value = str(PROFILE)
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, ServicesScreen), what="services")
        assert "base" in app.screen.query_one("#services").selected
        assert "1 added" in str(app.screen.query_one("#chosen").render())
        await pilot.press("ctrl+n")

        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings")
        app.screen.query_one("#set-work_dir", Input).value = str(work)
        app.screen.query_one("#set-password_sha", Input).value = hashlib.sha256(PASSWORD.encode()).hexdigest()
        await type_into(pilot, app, "#set-slow_seconds", "x")
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SettingsScreen), "an invalid integer must keep us on Settings"
        await type_into(pilot, app, "#set-slow_seconds", "2")
        await pilot.press("ctrl+n")

        await wait_until(pilot, lambda: isinstance(app.screen, PasswordsScreen), what="passwords")
        await type_into(pilot, app, "#pp1", PASSPHRASE)
        await type_into(pilot, app, "#pp2", PASSPHRASE)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.store is not None, what="keyring unlocked")
        await type_into(pilot, app, "#pw1-demo_password", PASSWORD)
        await type_into(pilot, app, "#pw2-demo_password", PASSWORD)
        await pilot.press("ctrl+n")

        await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="review")
        tree = app.screen.query_one("#plan-tree")
        labels = [str(n.label) for n in tree.root.children]
        assert labels[0].startswith("install")
        await install_from_review(app, pilot)

        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="first failure")
        assert app.screen.failure.step == "greet.configure.flaky"
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen)
                         and app.screen.failure.step == "greet.configure.broken", what="second failure")
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=60, what="summary")
        progress = next(s for s in app.screen_stack if isinstance(s, ProgressScreen))
        run = progress.state.run
        assert progress.state.state == "ok"
    return run


def check_run(state: Path, run: str) -> None:
    journal = json.loads((state / "runs" / run / "journal.json").read_text())
    steps = journal["steps"]
    assert journal["state"] == "ok"
    flaky = steps["greet.configure.flaky"]
    assert flaky["status"] == "ok" and flaky["attempts"] == 2
    assert steps["greet.configure.broken"]["status"] == "skipped"
    assert steps["greet.configure.broken"]["reason"] == "user"
    assert steps["greet.verify.check"]["status"] == "ok", "the typed password reached the step"
    decisions = sorted(p.name for p in (state / "runs" / run / "decisions").iterdir())
    assert decisions == ["greet.configure.broken.1.json", "greet.configure.flaky.1.json"]
    assert leaked(state, PASSWORD, PASSPHRASE) == []
