"""A step waiting for input nobody gives (issue 8.6), with real scripts in a real pty: stopped after
the question timeout only when it is silent *and* its last output looks like a question; the failure
quotes the pending line, and the headless "still running" output shows it."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from tui_installer import engine, questions
from tui_installer.cli.progress import Printer
from tui_installer.executor import Executor
from tui_installer.model import Phase, Plan, Step


def step(script: str, name: str = "s") -> Step:
    return Step(id=f"svc.install.{name}", service="svc", phase="install", name=name,
                argv=("bash", "-c", script), fingerprint=f"fp-{name}-{script}")


def run(script: str, tmp_path: Path, **kw: float):
    seen: list[str] = []
    result = Executor(kill_grace=1.0, **kw).run(step(script), secrets={}, log_path=tmp_path / "s.log",
                                                on_waiting=seen.append)
    return result, seen


def test_a_question_nobody_answers_is_stopped_and_quoted(tmp_path):
    started = time.monotonic()
    result, seen = run('read -r -p "Continue? [y/N] " answer; echo "got $answer"', tmp_path,
                       question_idle=1.0, waiting_notice=0.2)
    assert result.timed_out == "input" and not result.ok
    assert result.waiting == "Continue? [y/N]"
    assert seen == ["Continue? [y/N]"]
    assert time.monotonic() - started < 6


def test_a_question_on_its_own_line_counts_too(tmp_path):
    result, _seen = run('echo "Overwrite the existing configuration?"; read -r x', tmp_path,
                        question_idle=0.8, waiting_notice=0.2)
    assert result.timed_out == "input" and result.waiting == "Overwrite the existing configuration?"


@pytest.mark.parametrize("script", [
    'echo "Running migrations..."; sleep 2; echo done',       # silent, but not on a question
    'printf "Downloading: 10%%\\n"; sleep 2',                  # ends with a newline: a log line
    'printf "Name: "; sleep 0.4; echo; echo "answered itself"',  # a question, but not silent long
])
def test_silence_alone_or_a_short_pause_is_not_stopped(tmp_path, script):
    result, _seen = run(script, tmp_path, question_idle=0.8, waiting_notice=0.2)
    assert result.ok, (result.timed_out, result.tail)


@pytest.mark.parametrize(("partial", "tail", "expected"), [
    ("Password: ", [], "Password:"),
    ("Do you want to continue? [Y/n] ", [], "Do you want to continue? [Y/n]"),
    ("Proceed (yes/no) ", [], "Proceed (yes/no)"),
    ("mysql> ", [], "mysql>"),
    ("", ["Are you sure?"], "Are you sure?"),
    ("", ["Unpacking foo (1.2) ..."], None),
    ("45%", [], None),
    ("", [], None),
])
def test_the_heuristic(partial, tail, expected):
    assert questions.pending(partial, tail) == expected


def test_engine_fails_quoting_the_line_and_the_printer_shows_it(tmp_path):
    plan = Plan(profile="t", profile_source="test", services=("svc",), added={}, settings={}, secrets=(),
                phases=(Phase("install", (step('read -r -p "Continue? [y/N] " x'),)),))
    (tmp_path / "state").mkdir(mode=0o700)
    out = io.StringIO()
    eng = engine.Engine(plan, state_dir=tmp_path / "state", secrets={}, listener=Printer(out), durable=False,
                        executor=Executor(kill_grace=1.0, question_idle=1.0, waiting_notice=0.2))
    assert eng.run() == "failed"
    text = out.getvalue()
    assert "svc.install.s running for 0s, waiting for input: `Continue? [y/N]`" in text
    assert "FAIL svc.install.s: step svc.install.s was stopped, waiting for input: `Continue? [y/N]`" in text
    assert "it asked a question nobody answers" in text
