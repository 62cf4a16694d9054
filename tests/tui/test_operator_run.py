"""The operator's walk past Review (issue 8, "Operator defects" 5, 6, 8, 9, 10): a wrong passphrase is
asked again, a skipped step never reads as success, attaching to a finished run shows every step and its
output, "run again" reopens the failed run's profile, and the failure dialog and summary read right."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from textual.widgets import Label, RichLog, Static
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.dialogs import PassphraseScreen
from tui_installer.screens.failure import FailureScreen, wrap_path
from tui_installer.screens.progress import ProgressScreen
from tui_installer.screens.runstate import RunState
from tui_installer.screens.session import Session
from tui_installer.screens.summary import SummaryScreen, next_steps, title
from tui_installer.screens.widgets.phases import render_phases
from tui_installer.screens.widgets.steps import StepList
from tuihelpers import PASSPHRASE, PROFILE, make_state, screen_text, wait_until

from tui_installer.statedir import StateDir

pytestmark = pytest.mark.tui
THREE = """
name: three
description: three steps that print their names; the second fails unless {{ fix }} exists
services: [t]
settings: {fix: /nonexistent}
service_definitions:
  t:
    phases:
      install:
        - {name: first, run: "echo output of first"}
        - {name: second, run: "echo output of second; test -e {{ fix }}"}
        - {name: third, run: "echo output of third"}
"""


def headless(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    return subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install",
                           "--yes", *args], capture_output=True, text=True, env=env, timeout=120)


def three(tmp_path: Path) -> Path:
    path = tmp_path / "three.yaml"
    path.write_text(textwrap.dedent(THREE))
    return path


def test_wrong_passphrase_at_start_is_asked_again_with_this_attempts_error(tmp_path: Path) -> None:
    from tui_installer.secrets import SecretStore

    answers = tmp_path / "answers.yaml"
    answers.write_text(f"profile: {PROFILE}\nsettings: {{work_dir: {tmp_path / 'work'}, slow_seconds: 0}}\n")
    session = Session(state_dir=make_state(tmp_path))
    session.load_answers(str(answers))
    SecretStore.open(session.state_dir, passphrase=PASSPHRASE)
    (session.state_dir / "engine-console.log").write_text("OLD RUN: a line of an earlier engine\n")

    async def walk() -> tuple[str, str]:
        app = InstallerApp(session, mode="start")
        async with app.run_test(size=(80, 24)) as pilot:
            prompt = lambda: isinstance(app.screen, PassphraseScreen) and app.focused is not None  # noqa: E731
            await wait_until(pilot, prompt, what="first prompt")
            await pilot.press(*"wrong-passphrase-1", "enter")
            await wait_until(pilot, lambda: prompt() and app.screen.error, timeout=60, what="asked again")
            error = str(app.screen.query_one("#passphrase-error", Static).render())
            await pilot.press(*PASSPHRASE, "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), timeout=60,
                             what="the run goes on")
            return error, app.screen.failure.step

    error, failed = asyncio.run(walk())
    assert "wrong passphrase" in error and "OLD RUN" not in error, error
    assert failed == "greet.configure.flaky"


def test_skipped_step_never_reads_as_success_in_the_tui() -> None:
    state = RunState()
    for event in [
        {"type": "run_started", "ts": 1.0, "run": "r", "profile": "p",
         "phases": [{"name": "install", "steps": ["a.install.x", "a.install.y"]},
                    {"name": "start", "steps": ["a.start.z"]}]},
        {"type": "phase_started", "ts": 1.0, "phase": "install"},
        {"type": "step_skipped", "ts": 1.0, "step": "a.install.x", "reason": "done"},
        {"type": "step_skipped", "ts": 2.0, "step": "a.install.y", "reason": "user"},
        {"type": "phase_finished", "ts": 2.0, "phase": "install", "duration": 1.0},
        {"type": "phase_started", "ts": 2.0, "phase": "start"},
        {"type": "step_skipped", "ts": 2.0, "step": "a.start.z", "reason": "done"},
        {"type": "phase_finished", "ts": 2.0, "phase": "start", "duration": 0.0},
        {"type": "run_finished", "ts": 3.0, "state": "ok", "duration": 2.0}]:
        state.apply(event)
    assert title(state) == "Install of p finished with 1 skipped step(s) in 2s"
    assert state.verdict == "finished with 1 skipped step(s): a.install.y"
    phases = render_phases(state).plain.splitlines()
    assert phases[0].startswith("sk install") and phases[1].startswith("-- start"), phases
    assert "run again" in next_steps(Path("/nonexistent"), state)


def test_summary_mid_run_says_running_and_does_not_advise_to_run_again() -> None:
    state = RunState()
    state.apply({"type": "run_started", "ts": time.time() - 65, "run": "r", "profile": "demo", "phases": []})
    assert title(state).startswith("Install of demo: still running (1m0")
    text = next_steps(Path("/nonexistent"), state)
    assert "still running" in text and "run again" not in text


def test_failure_dialog_log_path_breaks_only_between_names() -> None:
    path = "/var/lib/tui-installer/runs/20260101-000000-1/logs/neutron-agent.configure.ovs-bridges.log"
    text = wrap_path("Log: ", path, 72)
    assert all(len(line) <= 72 for line in text.splitlines())
    assert "neutron-agent.configure.ovs-bridges.log" in text.splitlines()[-1]
    assert text.replace("\n     ", "") == "Log: " + path


def test_attach_to_a_finished_run_lists_every_step_with_its_output(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    fix = tmp_path / "fix"
    fix.touch()
    done = headless(state, "-p", str(three(tmp_path)), "--set", f"fix={fix}")
    assert done.returncode == 0, done.stderr

    async def walk() -> tuple[list[str], list[str], str, str]:
        app = InstallerApp(Session(state_dir=state), mode="attach")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, SummaryScreen), what="summary first")
            await pilot.press("escape")  # back to the run, step by step
            await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen), what="progress")
            progress = app.screen
            await pilot.pause(0.3)
            rows = [text for _, text in progress.query_one("#steps", StepList).rows]
            shown = [str(s.text) for s in progress.query_one("#output", RichLog).lines]
            await pilot.press("tab")
            while not progress.query_one("#steps", StepList).has_focus:
                await pilot.press("tab")
            await pilot.press("up")
            await pilot.pause(0.2)
            second = [str(s.text) for s in progress.query_one("#output", RichLog).lines]
            header = str(progress.query_one("#step-title", Label).render())
            return rows, shown, "\n".join(second), header + "\n" + screen_text(app)

    rows, shown, second, screen = asyncio.run(walk())
    assert [r.split()[:2] for r in rows] == [["ok", "t.first"], ["ok", "t.second"], ["ok", "t.third"]], rows
    assert all(r.rstrip()[-1] == "s" for r in rows), "each step shows its duration"
    assert "output of third" in shown, "the last step's output is shown on attach"
    assert "output of second" in second and "output of third" not in second
    assert screen.startswith("ok t.install.second"), screen


def test_run_again_after_a_failure_opens_the_failed_runs_profile(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    profile = three(tmp_path)
    failed = headless(state, "-p", str(profile), "--set", "fix=/nope")
    assert failed.returncode == 1

    async def walk() -> tuple[str | None, object]:
        app = InstallerApp(Session(state_dir=state), mode="flow")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.5)
            return app.session.profile_arg, app.session.settings.get("fix")

    chosen, fix = asyncio.run(walk())
    assert chosen is not None and Path(chosen).resolve() == profile.resolve(), chosen
    assert fix == "/nope", "the failed run's settings come back too"


def test_attach_does_not_replay_old_decisions_as_toasts(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    owner = StateDir(state)
    run = owner.run("20260101-000000-1")
    from tui_installer.model import Plan

    run.create(Plan(profile="p", profile_source="", services=(), added={}, secrets=(), phases=(), settings={}))
    now = time.time() - 5  # answered by another client five seconds before this TUI opened
    events = [
        {"type": "run_started", "ts": now, "run": run.id, "profile": "p",
         "phases": [{"name": "install", "steps": ["a.install.x"]}]},
        {"type": "step_started", "ts": now, "step": "a.install.x", "attempt": 1, "title": "x", "command": "x"},
        {"type": "step_failed", "ts": now, "step": "a.install.x", "attempt": 1, "exit_code": 1,
         "message": "m", "log": "l", "tail": []},
        {"type": "decision_needed", "ts": now, "step": "a.install.x", "attempt": 1, "choices": ["retry"]},
        {"type": "decision", "ts": now, "step": "a.install.x", "attempt": 1, "choice": "retry", "by": "cli:x"}]
    run.events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    owner.mark_last_run(run)

    async def walk() -> int:
        app = InstallerApp(Session(state_dir=state), mode="attach")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ProgressScreen)
                             and app.screen.state.decisions, what="replayed")
            await pilot.pause(0.3)
            return len(app._notifications)

    assert asyncio.run(walk()) == 0


def test_a_removal_and_an_uninstall_are_titled_as_what_they_do() -> None:
    removal = RunState()
    removal.apply({"type": "run_started", "ts": 1.0, "run": "r", "profile": "multi-node", "kind": "remove-node",
                   "node": "lab3", "phases": []})
    removal.apply({"type": "run_finished", "ts": 3.0, "state": "ok", "duration": 2.0})
    assert title(removal) == "Removal of host lab3 finished in 2s"
    uninstall = RunState()
    uninstall.apply({"type": "run_started", "ts": time.time() - 5, "run": "r", "profile": "demo",
                     "kind": "uninstall", "phases": []})
    assert title(uninstall).startswith("Uninstall of demo: still running")
