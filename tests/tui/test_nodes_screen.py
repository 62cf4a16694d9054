"""The Summary's "Add host" and "Remove host" against real lab hosts (tests/lab), at 80x24: after an install
on lab1 and lab2, `n` opens the dialog, an unreachable host is refused in it by name, lab3 is tested through
Ansible and added, and the install that adds it runs under Progress (only lab3's steps and the controller's
step naming the compute hosts); then `x`, lab3 picked, confirmed: `node remove` runs detached, lab3 leaves
the inventory and is cleaned."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab.fixture import Lab
from test_multihost import NODES_PROFILE
from textual.widgets import Input
from tui_installer.screens.app import InstallerApp
from tui_installer.screens.dialogs import ConfirmScreen
from tui_installer.screens.nodes import AddNodeScreen, RemoveNodeScreen
from tui_installer.screens.progress import ProgressScreen
from tui_installer.screens.session import Session
from tui_installer.screens.summary import SummaryScreen
from tuihelpers import PASSPHRASE, make_state, screen_text, wait_until

from tui_installer import client, hosts

pytestmark = [pytest.mark.tui, pytest.mark.lab]
CLI = [sys.executable, "-m", "tui_installer"]


def _ran(run: Path) -> set[str]:
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    return {str(e["step"]) for e in events if e["type"] == "step_finished"}


def test_summary_adds_and_removes_a_compute_host(lab: Lab, tmp_path: Path) -> None:
    profile = tmp_path / "lab-nodes.yaml"
    profile.write_text(NODES_PROFILE)
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("".join(line for line in lab.inventory.read_text().splitlines(keepends=True)
                                 if not line.startswith("lab3 ")))
    state = make_state(tmp_path)
    env = {**os.environ, "TUI_INSTALLER_KEYRING_PASSPHRASE": PASSPHRASE}
    first = subprocess.run([*CLI, "install", "-p", str(profile), "--inventory", str(inventory), "--yes",
                            "--state-dir", str(state)], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    lab3 = next(h for h in lab.hosts if h.name == "lab3")
    try:
        asyncio.run(walk(state, lab3.address, inventory))
    finally:
        for host in ("lab1", "lab2", "lab3"):
            lab.ssh(host, "rm -rf /var/lib/lab-agent /var/tmp/hub-* /opt/tui-installer", check=False)


async def walk(state: Path, address: str, inventory: Path) -> None:
    runs = state / "runs"
    app = InstallerApp(Session(state_dir=state, passphrase=PASSPHRASE), mode="attach")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SummaryScreen) and "n Add host" in screen_text(app),
                         what="summary of the install")
        assert "x Remove host" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, AddNodeScreen) and "Test and add" in screen_text(app),
                         what="add dialog")
        text = screen_text(app)
        assert "Add a compute host to the running cloud" in text and "Test and add (Enter)" in text

        # nothing listens on port 1 of this machine: refused in the dialog, by name; the inventory untouched
        before = inventory.read_text()
        for name, value in (("name", "lab9"), ("address", "127.0.0.1"), ("port", "1")):
            app.screen.query_one(f"#n-{name}", Input).value = value
        await pilot.press("enter")
        await wait_until(pilot, lambda: "lab9 (127.0.0.1) cannot be reached" in screen_text(app), timeout=120,
                         what="the refusal")
        assert isinstance(app.screen, AddNodeScreen) and inventory.read_text() == before

        for name, value in (("name", "lab3"), ("address", address), ("port", "22")):
            app.screen.query_one(f"#n-{name}", Input).value = value
        app.screen.query_one("#n-name", Input).focus()
        count = len(list(runs.iterdir()))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, (ProgressScreen, SummaryScreen))
                         and len(list(runs.iterdir())) > count, timeout=180, what="the add's progress")
        add_run = sorted(runs.iterdir())[-1]
        await wait_until(pilot, lambda: isinstance(app.screen, SummaryScreen)
                         and app.screen.state.run == add_run.name, timeout=300, what="the add finished")
        assert _ran(add_run) == {"agent.install.files@lab3", "agent.start.run@lab3", "hub.verify.computes@lab1"}
        assert "lab3" in hosts.load_inventory(inventory).groups["compute"]

        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, RemoveNodeScreen) and "lab3" in screen_text(app),
                         what="remove dialog")
        assert "lab2" in screen_text(app) and "lab3" in screen_text(app) and "lab1" not in screen_text(app)
        await pilot.press("down", "enter")  # lab3
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and "lab3?" in screen_text(app),
                         what="confirm")
        assert "Remove compute host lab3?" in screen_text(app)
        count = len(list(runs.iterdir()))
        await pilot.press("y")
        await wait_until(pilot, lambda: len(list(runs.iterdir())) > count, timeout=60, what="the removal run")
        removal = sorted(runs.iterdir())[count]
        assert removal.name == sorted(runs.iterdir())[-1].name
        await wait_until(pilot, lambda: isinstance(app.screen, SummaryScreen) and app.screen.state.run == removal.name,
                         timeout=300, what="the removal finished")
        record = json.loads((removal / "journal.json").read_text())
        assert (record["kind"], record["node"], record["state"]) == ("remove-node", "lab3", "ok")
        await wait_until(pilot, lambda: "Remove host" not in screen_text(app) and "Quit" in screen_text(app),
                         what="the removal's summary offers no add or remove: its plan is the removal")
    def after_removal() -> dict[str, object] | None:  # the engine then installs the smaller cloud's record
        newest = sorted(runs.iterdir())[-1]
        if newest == removal or not (newest / "journal.json").exists():
            return None
        record = json.loads((newest / "journal.json").read_text())
        return record if record["state"] != "running" else None

    for _ in range(600):
        if after_removal():
            break
        await asyncio.sleep(0.2)
    record = after_removal()
    assert record is not None and (record["kind"], record["state"]) == ("install", "ok"), record
    assert not client.engine_alive(state) or await _gone(state)
    assert hosts.load_inventory(inventory).hosts == ("lab1", "lab2")
    assert _ran(sorted(runs.iterdir())[-1]) == {"hub.verify.computes@lab1"}


async def _gone(state: Path) -> bool:
    for _ in range(100):
        if not client.engine_alive(state):
            return True
        await asyncio.sleep(0.1)
    return False
