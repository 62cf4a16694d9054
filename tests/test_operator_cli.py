"""What an operator reads from the headless commands: a skipped step never reads as success, and the
read-only commands (``status``, ``passwords list``) change nothing and exit 0 on a fresh host."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PASSPHRASE = "operator-cli-passphrase"


def cli(*args: str, state: Path, passphrase: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TUI_INSTALLER_KEYRING_PASSPHRASE"}
    if passphrase:
        env["TUI_INSTALLER_KEYRING_PASSPHRASE"] = PASSPHRASE
    return subprocess.run([sys.executable, "-m", "tui_installer", "--state-dir", str(state), *args],
                          capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)


def skipping_profile(tmp_path: Path) -> Path:
    path = tmp_path / "skips.yaml"
    path.write_text(textwrap.dedent("""
        name: skips
        description: one step fails and is skipped by the policy
        services: [s]
        service_definitions:
          s:
            phases:
              install:
                - name: good
                  run: "echo fine"
                - name: broken
                  run: "echo broken; exit 7"
                - name: after
                  run: "echo after"
        """))
    return path


def test_skipped_step_is_named_in_the_last_line_and_in_status(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = cli("install", "-p", str(skipping_profile(tmp_path)), "--yes", "--on-failure", "skip", state=state)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert "finished with 1 skipped step(s)" in last and last.endswith(": s.install.broken"), last
    assert "finished: ok" not in done.stdout
    status = cli("status", state=state)
    first = status.stdout.splitlines()[0]
    assert first.endswith("install of skips: finished with 1 skipped step(s): s.install.broken"), first


def test_clean_run_still_reads_ok(tmp_path: Path) -> None:
    state = tmp_path / "state"
    profile = tmp_path / "clean.yaml"
    profile.write_text("name: clean\ndescription: d\nservices: [c]\nservice_definitions:\n"
                       "  c:\n    phases:\n      install:\n        - {name: one, run: 'echo one'}\n")
    done = cli("install", "-p", str(profile), "--yes", state=state)
    assert done.returncode == 0, done.stderr
    assert " finished: ok in " in done.stdout.strip().splitlines()[-1]
    assert cli("status", state=state).stdout.splitlines()[0].endswith("install of clean: ok")


def test_status_without_runs_says_so_exits_0_and_creates_nothing(tmp_path: Path) -> None:
    fresh = tmp_path / "never-made"
    status = cli("status", state=fresh)
    assert (status.returncode, status.stderr) == (0, "")
    assert status.stdout.strip() == f"no runs in {fresh}"
    assert not fresh.exists()
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    status = cli("status", state=empty)
    assert status.returncode == 0 and status.stdout.startswith("no runs")
    assert list(empty.iterdir()) == []


def test_passwords_list_on_a_fresh_state_dir_creates_no_keyring(tmp_path: Path) -> None:
    for state, passphrase in ((tmp_path / "never-made", False), (tmp_path / "empty", True)):
        if state.name == "empty":
            state.mkdir(mode=0o700)
        listed = cli("passwords", "list", state=state, passphrase=passphrase)
        assert (listed.returncode, listed.stderr) == (0, ""), listed.stderr
        assert listed.stdout.startswith("no secrets")
        assert not state.exists() or list(state.iterdir()) == []
    shown = cli("passwords", "show", "x", state=tmp_path / "never-made", passphrase=False)
    assert shown.returncode == 2 and "no secret named x" in shown.stderr
    assert not (tmp_path / "never-made").exists()
