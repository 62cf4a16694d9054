"""The console script in a real terminal (tmux at 80x24): typed through, read back from the screen.

Also the disconnect test: the terminal (and the TUI with it) is killed mid-step; the install goes on,
finishes, and `tui-installer attach` shows it. Each test uses its own tmux server (-L).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from tuihelpers import PASSPHRASE, PASSWORD, PROFILE, leaked, make_state

from tui_installer import client, priority

pytestmark = [pytest.mark.tui, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]
SCRIPT = Path(sys.executable).parent / "tui-installer"


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True).stdout

    def start(self, command: list[str], env: dict[str, str] | None = None) -> None:
        """Run ``command`` in a new 80x24 session (``env`` is set inside the pane: tmux sets TERM)."""
        envs = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-s", "t", "-x", "80", "-y", "24",
                        " ".join(envs + command) + "; sleep 600"], check=True)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "t", key)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)
        time.sleep(0.3)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def kill(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"tui-test-{os.getpid()}-{time.monotonic_ns()}")
    yield term
    term.kill()


def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    path.chmod(0o600)
    return path


def test_typed_through_in_tmux(terminal: Terminal, tmp_path: Path) -> None:
    state, work = make_state(tmp_path), tmp_path / "work"
    terminal.start([str(SCRIPT), "--state-dir", str(state), "-p", str(PROFILE),
                    "--keyring-passphrase-file", str(passphrase_file(tmp_path))], {"TERM": "xterm-256color"})
    terminal.wait("Step 1/6: Host check")
    terminal.keys("Enter")
    terminal.wait("Step 2/6: Profile")
    terminal.keys("Enter")
    screen = terminal.wait("Step 3/6: Services")
    assert "[x] base" in screen and "[x] greet" in screen and "[ ] mariadb" in screen, screen
    assert "services selected (1 added: required by others)" in screen
    terminal.keys("C-n")
    screen = terminal.wait("Step 4/6: Settings")
    assert "advanced (1)" in screen and "this host's name" in screen, "folded, and described"
    time.sleep(1.0)  # a Tab that arrives before the screen has focused its first field would count once less
    # host_name, host_ip, the folded group's title, greeting, slow_seconds: then password_sha
    terminal.keys("Tab", "Tab", "Tab", "Tab", "Tab")
    terminal.type(hashlib.sha256(PASSWORD.encode()).hexdigest())
    terminal.keys("Tab")  # the next group: base's work_dir
    terminal.type(str(work))
    terminal.keys("C-n")
    terminal.wait("Status: unlocked")
    terminal.type(PASSWORD)
    terminal.keys("Tab")
    terminal.type(PASSWORD)
    assert PASSWORD not in terminal.screen()
    terminal.keys("C-n")
    screen = terminal.wait("Step 6/6: Review")
    assert f"$ mkdir -p {str(work)[:20]}" in screen
    terminal.keys("C-r")
    screen = terminal.wait("Install on this host now?")
    assert "Install (y)" in screen and "Cancel (n, Esc)" in screen and "Debian packages: 0" in screen
    terminal.keys("Enter")  # the default is No: back on Review, nothing started
    terminal.wait("Step 6/6: Review")
    assert client.last_run(state) is None
    terminal.keys("C-r")
    terminal.wait("Install on this host now?")
    terminal.keys("y")
    screen = terminal.wait("Step failed: greet.configure.flaky")
    assert "Retry (r)" in screen and "Skip (s)" in screen
    terminal.keys("r")
    terminal.wait("Step failed: greet.configure.broken")
    terminal.keys("s")
    screen = terminal.wait("Install of tuidemo finished", timeout=60)
    assert "configure" in screen and "1 ran, 1 skipped" in screen
    terminal.keys("Escape")
    assert "| finished, 1 skipped |" in terminal.wait("| finished, 1 skipped |")
    run = client.last_run(state)
    assert run is not None
    journal = json.loads((state / "runs" / run / "journal.json").read_text())
    assert journal["state"] == "ok" and journal["steps"]["greet.verify.check"]["status"] == "ok"
    assert (work / "flaky").exists(), "the typed work_dir reached the plan"
    assert leaked(state, PASSWORD, PASSPHRASE) == []
    panes = terminal.tmux("list-panes", "-a", "-F", "#{pane_pid}").split()
    tuis = _tui_processes(panes)
    assert tuis and all(_autogroup_nice(t.pid) == _boosted() for t in tuis)
    terminal.keys("C-q")
    _gone, alive = psutil.wait_procs(tuis, timeout=10)
    assert not alive, terminal.screen()
    # the pane's `sleep 600`, in the session the TUI ran in: the session's priority is what it was
    deadline, sleeps = time.monotonic() + 10, []
    while not sleeps and time.monotonic() < deadline:
        time.sleep(0.1)
        sleeps = [c for pid in panes for c in [psutil.Process(int(pid)), *psutil.Process(int(pid)).children(True)]
                  if c.name() == "sleep"]  # the pane's shell may exec its last command
    assert sleeps and all(_autogroup_nice(c.pid) == 0 for c in sleeps)


def test_linux_console_ascii_borders_and_a_shell(terminal: Terminal, tmp_path: Path) -> None:
    state = make_state(tmp_path)
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"profile: {PROFILE}\nsettings: {{work_dir: {tmp_path / 'work'}}}\n")
    terminal.start([str(SCRIPT), "--state-dir", str(state), "-a", str(answers), "--start",
                    "--keyring-passphrase-file", str(passphrase_file(tmp_path))],
                   {"TERM": "linux", "SHELL": "/bin/sh"})
    screen = terminal.wait("Step failed: greet.configure.flaky")
    assert "+- Phases -" in screen and "╭" not in screen, screen
    marker = tmp_path / "shell-was-here"
    terminal.keys("o")  # a shell in the failed step's environment, then back to the same dialog
    terminal.wait("type `exit` to return")
    terminal.type(f"echo $TUI_INSTALLER_STEP > {marker}; exit")
    terminal.keys("Enter")
    terminal.wait("Step failed: greet.configure.flaky")
    assert marker.read_text().strip() == "greet.configure.flaky"
    terminal.keys("a")
    terminal.wait("| FAILED |")  # the engine ends an aborted step's run as failed


def test_install_survives_the_terminal(terminal: Terminal, tmp_path: Path) -> None:
    state, work = make_state(tmp_path), tmp_path / "work"
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"profile: {PROFILE}\nsettings: {{work_dir: {work}, slow_seconds: 300}}\n")
    terminal.start([str(SCRIPT), "--state-dir", str(state), "-a", str(answers), "--start",
                    "--keyring-passphrase-file", str(passphrase_file(tmp_path))])
    terminal.wait("Step failed: greet.configure.flaky")
    terminal.keys("r")
    terminal.wait("Step failed: greet.configure.broken")
    terminal.keys("s")
    terminal.wait("tick 2")
    tuis = _tui_processes(terminal.tmux("list-panes", "-a", "-F", "#{pane_pid}").split())
    assert tuis, "the TUI process under the pane was not found"
    # the TUI's session has priority over the steps' (bench/tui.py); the engine and the steps do not
    assert all(_autogroup_nice(t.pid) == _boosted() for t in tuis)
    engine = psutil.Process(json.loads((state / "runs" / str(client.last_run(state)) / "journal.json")
                                       .read_text())["pid"])
    steps = engine.children()
    assert steps and _autogroup_nice(engine.pid) == 0 and all(_autogroup_nice(c.pid) == 0 for c in steps)
    terminal.kill()  # the "SSH session" is gone: tmux hangs up on the TUI
    _gone, alive = psutil.wait_procs(tuis, timeout=10)
    assert not alive, f"the TUI itself (not only the pane's shell) should be gone: {alive}"
    assert client.engine_alive(state), "the engine must outlive the terminal"
    run = client.last_run(state)
    assert run is not None
    journal_path = state / "runs" / run / "journal.json"
    assert json.loads(journal_path.read_text())["steps"]["greet.start.slow"]["status"] == "running"
    (work / "go").touch()
    deadline = time.monotonic() + 30
    while json.loads(journal_path.read_text())["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    journal = json.loads(journal_path.read_text())
    assert journal["state"] == "ok" and journal["steps"]["greet.start.slow"]["status"] == "ok"

    again = Terminal(terminal.socket + "-again")
    try:
        again.start([str(SCRIPT), "attach", "--state-dir", str(state)])
        screen = again.wait("Install of tuidemo finished")
        assert "start" in screen
        again.keys("Escape")
        screen = again.wait("| finished, 1 skipped |")
        assert "ok start" in screen and "password ok" in screen, screen
    finally:
        again.kill()


def _autogroup_nice(pid: int) -> int:
    """A process's session's autogroup nice (0 on a kernel without autogroup)."""
    found = priority.current(Path(f"/proc/{pid}/autogroup"))
    return 0 if found is None else found


def _boosted() -> int:
    """What the TUI's session runs at: raised where the kernel weighs sessions and we may raise it."""
    with contextlib.suppress(OSError):
        if priority.ENABLED.read_text().strip() == "1" and os.geteuid() == 0:
            return priority.INTERACTIVE_NICE
    return 0


def _tui_processes(pane_pids: list[str]) -> list[psutil.Process]:
    """The tui-installer processes under the panes' shells (the TUI, not the engine it started detached)."""
    found = []
    for pid in pane_pids:
        for proc in psutil.Process(int(pid)).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if str(SCRIPT) in " ".join(proc.cmdline()):
                    found.append(proc)
    return found


def test_two_terminals_first_answer_wins(tmp_path: Path) -> None:
    """Console and SSH at once: both show the failure; one answers; the other shows who did."""
    state = make_state(tmp_path)
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"profile: {PROFILE}\nsettings: {{work_dir: {tmp_path / 'work'}}}\n")
    first, second = (Terminal(f"tui-test-{os.getpid()}-{time.monotonic_ns()}-{n}") for n in (1, 2))
    try:
        first.start([str(SCRIPT), "--state-dir", str(state), "-a", str(answers), "--start",
                     "--keyring-passphrase-file", str(passphrase_file(tmp_path))])
        first.wait("Step failed: greet.configure.flaky")
        second.start([str(SCRIPT), "attach", "--state-dir", str(state)])
        second.wait("Step failed: greet.configure.flaky")
        first.keys("r")
        screen = second.wait("retry by tui:")  # the toast wraps: "...flaky: answered / retry by tui:N"
        assert "Step failed: greet.configure.flaky" not in screen
        second.wait("Step failed: greet.configure.broken")
        first.wait("Step failed: greet.configure.broken")
        second.keys("s")
        first.wait("skip by tui:")
        second.wait("Install of tuidemo finished", timeout=60)
    finally:
        first.kill()
        second.kill()
