"""A client that attaches to a running install: it replays the history, shows a failure answered by
another client, and notices a dead engine and resumes it from the journal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from textual.widgets import Static
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.failure import FailureScreen
from tui_installer.screens.progress import ProgressScreen
from tui_installer.screens.session import Session
from tuihelpers import PASSPHRASE, PROFILE, make_state, retry_skip_to_slow_step, wait_until

from tui_installer import client

pytestmark = pytest.mark.tui


def write_answers(path: Path, work: Path, slow: int) -> Path:
    path.write_text(f"profile: {PROFILE}\nsettings: {{work_dir: {work}, slow_seconds: {slow}}}\n")
    return path


def progress_of(app: InstallerApp) -> ProgressScreen:
    return next(s for s in app.screen_stack if isinstance(s, ProgressScreen))


def test_attach_sees_history_and_another_clients_answer(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    answers = write_answers(tmp_path / "answers.yaml", tmp_path / "work", 1)
    run = client.wait_for_run(client.start_engine(answers, state, passphrase=PASSPHRASE))

    async def attach() -> list[str]:
        app = InstallerApp(Session(state_dir=state), mode="attach")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="failure modal")
            assert progress_of(app).state.steps["base.install.prepare"].status == "ok", "history replayed"
            other = subprocess.run([sys.executable, "-m", "tui_installer", "answer", "greet.configure.flaky",
                                    "retry", "--state-dir", str(state)], capture_output=True, text=True)
            assert other.returncode == 0, other.stderr
            await wait_until(pilot, lambda: not isinstance(app.screen, FailureScreen)
                             or app.screen.failure.step != "greet.configure.flaky", what="modal closed")
            await wait_until(pilot, lambda: any("answered retry by cli:" in n.message
                                                for n in app._notifications), what="notification")
            notes = [n.message for n in app._notifications]
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="second failure")
            await pilot.press("s")
            await wait_until(pilot, lambda: progress_of(app).state.over, what="run over")
            return notes

    notes = asyncio.run(attach())
    assert any("answered retry by cli:" in n for n in notes), notes
    journal = json.loads((state / "runs" / run / "journal.json").read_text())
    assert journal["state"] == "ok"
    assert journal["steps"]["greet.configure.flaky"]["attempts"] == 2
    assert journal["steps"]["greet.configure.broken"]["reason"] == "user"


def test_dead_engine_is_noticed_and_resumed(tmp_path: Path) -> None:
    state, work = make_state(tmp_path), tmp_path / "work"
    session = Session(state_dir=state, passphrase=PASSPHRASE)
    session.load_answers(str(write_answers(tmp_path / "answers.yaml", work, 120)))

    async def run() -> tuple[str, str]:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            first = await retry_skip_to_slow_step(app, pilot)
            engine = psutil.Process(first.state.pid)
            assert not any(PASSPHRASE in part for part in engine.cmdline() + list(engine.environ().values()))
            os.kill(first.state.pid, signal.SIGKILL)
            (work / "go").touch()  # lets the orphaned step end
            dead = first.query_one("#engine-dead", Static)
            await wait_until(pilot, lambda: dead.has_class("-visible"), what="engine-dead notice")
            assert "stopped without finishing" in str(dead.render())
            await pilot.press("R")
            await wait_until(pilot, lambda: progress_of(app) is not first and progress_of(app).state.run,
                             what="resumed run")
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), what="broken again")
            await pilot.press("s")
            second = progress_of(app)
            await wait_until(pilot, lambda: second.state.over, what="resumed run over")
            return first.state.run, second.state.run

    first, second = asyncio.run(run())
    old = json.loads((state / "runs" / first / "journal.json").read_text())
    new = json.loads((state / "runs" / second / "journal.json").read_text())
    assert old["state"] == "running", "the killed engine never finished its journal"
    assert new["state"] == "ok"
    assert new["steps"]["greet.configure.flaky"] == {**new["steps"]["greet.configure.flaky"],
                                                      "status": "skipped", "reason": "done"}
    assert new["steps"]["greet.start.slow"]["status"] == "ok"
