"""A headless install outlives its terminal (issue 8.3): a real pty closed under it (an SSH session or
a tmux server gone) and a pipe whose reader left (``| head -1``). The install finishes, its output goes
on into the run's console log, and ``status`` names that log."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import termios
from pathlib import Path

import pytest

STEPS = ["one", "two", "three", "four", "five", "six"]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    steps = "".join(f"        - name: {name}\n          run: \"sleep 0.3; echo {name} done\"\n" for name in STEPS)
    path = tmp_path / "profile.yaml"
    path.write_text("name: lost\nservices: [k]\nservice_definitions:\n"  # k adds two: two lines before the run
                    "  base1: {phases: {install: [{name: b, run: 'true'}]}}\n"
                    "  base2: {phases: {install: [{name: b, run: 'true'}]}}\n"
                    "  k:\n    requires: [base1, base2]\n    phases:\n      install:\n" + steps)
    return path


def command(state: Path, profile: Path) -> list[str]:
    return [sys.executable, "-m", "tui_installer", "--state-dir", str(state), "install", "-p", str(profile), "--yes"]


def check_finished(state: Path, noticed: bool | None = True) -> None:
    run = (state / "last-run").read_text().strip()
    journal = json.loads((state / "runs" / run / "journal.json").read_text())
    assert journal["state"] == "ok"
    assert all(journal["steps"][f"k.install.{name}"]["status"] == "ok" for name in STEPS)
    console = (state / "runs" / run / "console.log").read_text()
    assert f"run {run} finished: ok" in console
    if noticed is not None:
        assert noticed == ("terminal lost" in console)
    status = subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), "status"],
                            capture_output=True, text=True, timeout=60)
    assert f"console log {state / 'runs' / run / 'console.log'}" in status.stdout
    if "terminal lost" in console:
        assert "    | [" in status.stdout and f"run {run} finished: ok" in status.stdout


def _controlling_tty() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_install_survives_its_pty_being_closed(tmp_path, profile):
    state = tmp_path / "state"
    master, slave = os.openpty()
    proc = subprocess.Popen(command(state, profile), stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=_controlling_tty)
    os.close(slave)
    seen = b""
    while b"k.install.one" not in seen:  # the run is under way: its first step has started
        seen += os.read(master, 4096)
    os.close(master)  # the terminal is gone: SIGHUP, then EIO on every write
    assert proc.wait(60) == 0
    check_finished(state)


def test_install_survives_a_pipe_closed_early(tmp_path, profile):
    state = tmp_path / "state"
    proc = subprocess.Popen(command(state, profile), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    assert proc.stdout.readline()  # what `| head -1` reads, then it exits
    proc.stdout.close()
    assert proc.wait(60) == 0
    # the pipe broke before the run (its printer then writes to /dev/null) or, when the first lines were
    # already in the pipe's buffer, during it
    check_finished(state, noticed=None)


def test_install_survives_a_pipe_closed_mid_run(tmp_path, profile):
    state = tmp_path / "state"
    proc = subprocess.Popen(command(state, profile), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    while b"k.install.one" not in proc.stdout.readline():  # the printer is writing to the pipe
        pass
    proc.stdout.close()
    assert proc.wait(60) == 0
    check_finished(state)  # the printer hit EPIPE, and said so in the console log
