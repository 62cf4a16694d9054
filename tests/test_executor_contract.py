"""The executor's promises that tools/mutation.py found unchecked, each on a real process: CRLF output read as
lines, a symlink planted at the log path refused, a tail line exactly at the cap kept whole, TERM=dumb by
default, the last words of a killed step kept, a step whose background child holds the terminal still ends
when it exits, and the log's closing summary."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tui_installer.executor import Executor, Result
from tui_installer.executor_io import TAIL_LINE_CAP
from tui_installer.model import Step


def step(cmd: str, **kw: Any) -> Step:
    return Step(id="test.install.x", service="test", phase="install", name="x", argv=("bash", "-c", cmd),
                shell=cmd, **kw)


def run(tmp_path: Path, s: Step) -> tuple[Result, list[str]]:
    lines: list[str] = []
    result = Executor(kill_grace=1.0).run(s, secrets={}, log_path=tmp_path / "step.log", on_output=lines.append)
    return result, lines


def test_crlf_output_is_read_as_plain_lines(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step(r"printf 'one\r\ntwo\r\r\n'"))
    assert result.ok and lines == ["one", "two"]
    assert "one\ntwo\n" in (tmp_path / "step.log").read_text()


def test_a_symlink_planted_at_the_log_path_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "step.log").symlink_to(victim)
    with pytest.raises(OSError):
        run(tmp_path, step("echo hello"))
    assert victim.read_text() == "precious\n"


def test_a_tail_line_exactly_at_the_cap_is_kept_whole(tmp_path: Path) -> None:
    result, _ = run(tmp_path, step(f"head -c {TAIL_LINE_CAP} /dev/zero | tr '\\0' a; echo; "
                                   f"head -c {TAIL_LINE_CAP + 1} /dev/zero | tr '\\0' b; echo"))
    assert result.ok
    assert result.tail[-2] == "a" * TAIL_LINE_CAP
    assert result.tail[-1] == "b" * TAIL_LINE_CAP + " [...]"


def test_a_step_gets_term_dumb_unless_told_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read with printenv, not bash: bash sets TERM=dumb itself when it is unset."""
    monkeypatch.delenv("TERM", raising=False)
    printenv = Step(id="test.install.x", service="test", phase="install", name="x", argv=("printenv", "TERM"))
    result, lines = run(tmp_path, printenv)
    assert result.ok and lines == ["dumb"]
    result, lines = run(tmp_path, step('echo "term=$TERM"', env={"TERM": "vt100"}))
    assert lines == ["term=vt100"]


def test_the_last_words_of_a_step_killed_on_timeout_are_kept(tmp_path: Path) -> None:
    """After the kill the executor keeps reading briefly: what the dying step prints is in its tail and log."""
    s = step("trap 'echo last-words; exit 7' TERM; echo ready; while :; do sleep 0.1; done", timeout=1.0)
    result, lines = run(tmp_path, s)
    assert result.timed_out and not result.ok
    assert "last-words" in result.tail and "last-words" in lines
    log = (tmp_path / "step.log").read_text()
    assert "last-words" in log
    assert log.rstrip("\n").splitlines()[-1].startswith("[exit 7, timed out: ") or \
        log.rstrip("\n").splitlines()[-1].startswith("[signal ")


def test_a_background_child_holding_the_terminal_does_not_keep_the_step_running(tmp_path: Path) -> None:
    """The step's shell exits while a child it left in the background still holds the pty: the step is
    over (exit 0, not killed) — the executor does not wait for that child's EOF."""
    pidfile = tmp_path / "bg.pid"
    started = time.monotonic()
    try:
        result, lines = run(tmp_path, step(f"sleep 300 & echo $! > {pidfile}; echo started"))
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
    took = time.monotonic() - started
    assert result.ok and result.exit_code == 0 and result.signal is None and not result.timed_out, result
    assert lines == ["started"]
    assert took < 120, "the executor waited for the background child (it sleeps 300 s)"


def test_the_log_ends_with_the_summary_of_the_run(tmp_path: Path) -> None:
    result, _ = run(tmp_path, step("echo a; echo b; exit 3"))
    last = (tmp_path / "step.log").read_text().rstrip("\n").splitlines()[-1]
    assert last == f"[exit 3 after {result.duration:.2f}s, 2 lines]"
    result, _ = run(tmp_path, step("sleep 30", timeout=0.5))
    last = (tmp_path / "step.log").read_text().rstrip("\n").splitlines()[-1]
    assert last.startswith(("[exit ", "[signal ")) and ", timed out: " in last and last.endswith(", 0 lines]")
