"""`tui-installer -a ANSWERS` opens at Review; what Review saves replays the same install headless."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.review import ReviewScreen
from tui_installer.screens.session import Session
from tuihelpers import PASSPHRASE, PROFILE, make_state, wait_until

from tui_installer import schema

pytestmark = pytest.mark.tui


def test_review_saves_answers_that_replay_headless(tmp_path: Path) -> None:
    state, work = make_state(tmp_path), tmp_path / "work"
    given = tmp_path / "given.yaml"
    given.write_text(f"profile: {PROFILE}\nremove_services: []\nsettings: {{work_dir: {work}, greeting: salut}}\n")
    session = Session(state_dir=state)
    session.load_answers(str(given))
    target = tmp_path / "out" / "saved.yaml"

    async def walk() -> None:
        app = InstallerApp(session, mode="review")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="review")
            app.screen.query_one("#save-path", Input).value = str(target)
            await pilot.press("ctrl+s", "ctrl+e")
            await pilot.pause()

    asyncio.run(walk())
    saved = schema.load_answers(target)
    assert saved.profile == str(PROFILE) and saved.settings == {"work_dir": str(work), "greeting": "salut"}
    assert target.stat().st_mode & 0o777 == 0o600
    script = target.with_suffix(".sh")
    assert os.access(script, os.X_OK) and "echo salut $i" in script.read_text()
    assert "TUI_SECRET_DEMO_PASSWORD" in script.read_text(), "secrets come from the environment"

    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    replay = subprocess.run([sys.executable, "-m", "tui_installer", "install", "-a", str(target), "--yes",
                             "--on-failure", "skip", "--state-dir", str(state)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert (work / "flaky").exists()


def test_start_without_a_passphrase_asks_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_installer.screens.dialogs import PassphraseScreen
    from tui_installer.screens.failure import FailureScreen
    from tui_installer.screens.progress import ProgressScreen

    monkeypatch.delenv("TUI_INSTALLER_KEYRING_PASSPHRASE", raising=False)
    state = make_state(tmp_path)
    given = tmp_path / "given.yaml"
    given.write_text(f"profile: {PROFILE}\nsettings: {{work_dir: {tmp_path / 'work'}}}\n")
    session = Session(state_dir=state)
    session.load_answers(str(given))

    async def walk() -> str:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, PassphraseScreen), what="the question")
            await pilot.press(*PASSPHRASE, "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="the install runs")
            await pilot.press("a")
            progress = next(s for s in app.screen_stack if isinstance(s, ProgressScreen))
            await wait_until(pilot, lambda: progress.state.over, what="aborted")
            return progress.state.state

    assert asyncio.run(walk()) == "failed"
    assert session.passphrase == PASSPHRASE
