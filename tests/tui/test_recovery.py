"""Recovering without restarting: "Edit settings and retry" from the failure dialog, and quitting the
TUI mid-install (it asks first; the install goes on without it)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.dialogs import ConfirmScreen
from tui_installer.screens.failure import FailureScreen
from tui_installer.screens.progress import ProgressScreen
from tui_installer.screens.review import ReviewScreen
from tui_installer.screens.session import Session
from tui_installer.screens.settings import SettingsScreen
from tuihelpers import PASSPHRASE, PROFILE, install_from_review, make_state, retry_skip_to_slow_step, wait_until

from tui_installer import client

pytestmark = pytest.mark.tui


def session_for(tmp_path: Path, slow: int) -> Session:
    answers = tmp_path / "answers.yaml"
    work = tmp_path / "work"
    answers.write_text(f"profile: {PROFILE}\nsettings: {{work_dir: {work}, slow_seconds: {slow}}}\n")
    session = Session(state_dir=make_state(tmp_path), passphrase=PASSPHRASE)
    session.load_answers(str(answers))
    return session


def test_edit_settings_and_retry(tmp_path: Path) -> None:
    session = session_for(tmp_path, 1)

    async def walk() -> list[str]:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="failure")
            first = next(s for s in app.screen_stack if isinstance(s, ProgressScreen))
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings")
            app.screen.query_one("#set-greeting", Input).value = "bonjour"
            await pilot.press("ctrl+n")
            await wait_until(pilot, lambda: app.screen.__class__.__name__ == "PasswordsScreen"
                             and app.screen.store is not None, what="passwords unlocked")
            await pilot.press("ctrl+n")
            await wait_until(pilot, lambda: isinstance(app.screen, ReviewScreen), what="review")
            await install_from_review(app, pilot)
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen)
                             and app.screen.failure.step == "greet.configure.broken", what="broken")
            await pilot.press("s")
            second = next(s for s in app.screen_stack if isinstance(s, ProgressScreen))
            await wait_until(pilot, lambda: second.state.over, what="second run over")
            return [first.state.run, second.state.run]

    first, second = asyncio.run(walk())
    old = json.loads((session.state_dir / "runs" / first / "journal.json").read_text())
    new = json.loads((session.state_dir / "runs" / second / "journal.json").read_text())
    assert old["state"] != "ok" and old["steps"]["greet.configure.flaky"]["status"] == "failed"
    assert new["state"] == "ok"
    assert new["steps"]["base.install.prepare"]["reason"] == "done", "resumed, not started over"
    assert new["steps"]["greet.install.hello"]["status"] == "ok", "its command changed with the setting"
    log = session.state_dir / "runs" / second / "logs" / "greet.install.hello.log"
    assert "bonjour 1" in log.read_text()


def test_quit_asks_and_the_install_goes_on(tmp_path: Path) -> None:
    session = session_for(tmp_path, 300)
    work = tmp_path / "work"

    async def walk() -> str:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            progress = await retry_skip_to_slow_step(app, pilot)
            await pilot.press("ctrl+q")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            assert isinstance(app.screen, ProgressScreen) and app.is_running
            await pilot.press("ctrl+q")
            await pilot.press("y")
            await wait_until(pilot, lambda: not app.is_running, what="exit")
            return progress.state.run

    run = asyncio.run(walk())
    assert client.engine_alive(session.state_dir), "quitting the TUI must not stop the install"
    (work / "go").touch()
    journal_path = session.state_dir / "runs" / run / "journal.json"
    for _ in range(150):
        if json.loads(journal_path.read_text())["state"] != "running":
            break
        asyncio.run(asyncio.sleep(0.2))
    assert json.loads(journal_path.read_text())["state"] == "ok"


def test_starting_the_tui_again_offers_the_running_install(tmp_path: Path) -> None:
    session = session_for(tmp_path, 300)
    answers = Path(str(session.answers_source))
    run = client.wait_for_run(client.start_engine(answers, session.state_dir, passphrase=PASSPHRASE))

    async def walk() -> str:
        app = InstallerApp(Session(state_dir=session.state_dir), mode="flow")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="offer")
            assert "An install is running" in str(app.screen.question)
            await pilot.press("y")
            await wait_until(pilot, lambda: isinstance(app.screen, (ProgressScreen, FailureScreen)),
                             what="progress")
            progress = next(s for s in app.screen_stack if isinstance(s, ProgressScreen))
            await wait_until(pilot, lambda: progress.state.run == run, what="the running install")
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="its failure")
            await pilot.press("a")
            await wait_until(pilot, lambda: progress.state.over, what="aborted")
            return progress.state.state

    assert asyncio.run(walk()) == "failed"


def test_a_silent_step_gets_a_stall_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_INSTALLER_STALL_SECONDS", "2")
    release = tmp_path / "go"
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"profile: {PROFILE.parent / 'silent.yaml'}\nsettings: {{release_file: {release}}}\n")
    session = Session(state_dir=make_state(tmp_path), passphrase=PASSPHRASE)
    session.load_answers(str(answers))

    async def walk() -> str:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen), what="progress")
            stall = app.screen.query_one("#stall")
            await wait_until(pilot, lambda: stall.has_class("-visible"), timeout=20, what="stall notice")
            text = str(stall.render())
            release.touch()
            await wait_until(pilot, lambda: not stall.has_class("-visible"), what="notice gone")
            return text

    text = asyncio.run(walk())
    # the deepest process of the step: the sleep, or the loop itself when sampled between two sleeps
    waiting = text.partition("waiting for: ")[2]
    assert text.startswith("No output for ") and waiting.startswith(("sleep 0.3", "bash -c while")), text


def test_an_unfinished_run_is_offered_for_resume(tmp_path: Path) -> None:
    session = session_for(tmp_path, 300)
    work = tmp_path / "work"

    async def start_and_leave() -> tuple[str, int]:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            progress = await retry_skip_to_slow_step(app, pilot)
            await pilot.press("ctrl+q", "y")
            return progress.state.run, int(progress.state.pid or 0)

    run, pid = asyncio.run(start_and_leave())
    os.kill(pid, signal.SIGKILL)
    (work / "go").touch()

    resumed = asyncio.run(accept_resume_and_skip(session.state_dir, f"Run {run} of tuidemo did not finish"))
    journal = json.loads((session.state_dir / "runs" / resumed / "journal.json").read_text())
    assert resumed != run and journal["state"] == "ok"
    assert journal["steps"]["greet.configure.flaky"]["reason"] == "done"


def test_an_engine_that_cannot_start_says_why(tmp_path: Path) -> None:
    from textual.widgets import Static

    from tui_installer.secrets import SecretStore

    session = session_for(tmp_path, 1)
    SecretStore.open(session.state_dir, passphrase=PASSPHRASE)
    session.passphrase = "not-the-passphrase"

    async def walk() -> str:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen), what="progress")
            notice = app.screen.query_one("#engine-dead", Static)
            await wait_until(pilot, lambda: notice.has_class("-visible"), what="the reason")
            return str(notice.render())

    text = asyncio.run(walk())
    assert "did not start" in text and "wrong passphrase" in text, text


def test_a_headless_run_whose_engine_died_is_resumed_from_its_plan(tmp_path: Path) -> None:
    session = session_for(tmp_path, 300)
    state, work = session.state_dir, tmp_path / "work"
    answers = Path(str(session.answers_source))
    subprocess_env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    engine = subprocess.Popen([sys.executable, "-m", "tui_installer", "install", "-a", str(answers), "--yes",
                               "--on-failure", "skip", "--state-dir", str(state), "--quiet"],
                              env=subprocess_env, start_new_session=True)
    run = client.wait_for_run(client.Launch(engine.pid, state, state / "none.log", None, 0.0))
    journal_path = state / "runs" / run / "journal.json"
    deadline = time.monotonic() + 30
    while json.loads(journal_path.read_text())["steps"]["greet.start.slow"]["status"] != "running":
        assert time.monotonic() < deadline, "the slow step never started"
        time.sleep(0.1)
    engine.kill()
    engine.wait()
    (work / "go").touch()

    resumed = asyncio.run(accept_resume_and_skip(state, f"Run {run} of tuidemo did not finish"))
    journal = json.loads((state / "runs" / resumed / "journal.json").read_text())
    assert journal["state"] == "ok"
    assert journal["steps"]["greet.install.hello"]["reason"] == "done", "same plan rebuilt: done stays done"


async def accept_resume_and_skip(state_dir: Path, offer: str) -> str:
    """Start the TUI again, accept its offer to resume the unfinished run, skip the step that fails
    again, and return the id of the resumed run once it is over."""
    app = InstallerApp(Session(state_dir=state_dir, passphrase=PASSPHRASE), mode="flow")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="offer")
        assert offer and offer in app.screen.question, app.screen.question
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="broken again")
        await pilot.press("s")
        progress = next(s for s in app.screen_stack if isinstance(s, ProgressScreen))
        await wait_until(pilot, lambda: progress.state.over, what="resumed run over")
        return progress.state.run
