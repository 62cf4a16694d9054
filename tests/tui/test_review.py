"""`tui-installer -a ANSWERS` opens at Review; what Review saves replays the same install headless."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_installer.screens.review import ReviewScreen
from tui_installer.screens.session import Session
from tuihelpers import PASSPHRASE, PROFILE, make_state, wait_until

from tui_installer import schema
from tui_installer.app import InstallerApp

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
