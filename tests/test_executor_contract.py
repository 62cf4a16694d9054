"""The executor's promises that tools/mutation.py found unchecked, each on a real process: CRLF output read as
lines, a symlink planted at the log path refused, a tail line exactly at the cap kept whole, TERM=dumb by
default, the last words of a killed step kept, a step whose background child holds the terminal still ends
when it exits, and the log's closing summary (of a cancelled step too); the prompt scanner's order, offset
and loop guard; a question on a complete line; the end of output; the log appended to and not inherited; a
process that escaped the kill not holding the step."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tui_installer.executor import Executor, Result
from tui_installer.executor_io import TAIL_LINE_CAP, Prompter
from tui_installer.model import Prompt, Step

SECRET = "Tr0ub4dor&3-horse/staple"


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


# --- the prompt scanner (Prompter.scan, _earliest): which answers, in which order, how many -------------------

def test_prompts_in_one_read_are_answered_in_the_order_they_appear(tmp_path: Path) -> None:
    """Both prompts arrive in one read; the rules are declared in the other order: the answers follow the
    output, not the rule list (the earliest match first, then the scan goes on after it)."""
    s = step('printf "Username: Password: "; read -r u; read -r p; echo "$u/$p"',
             prompts=(Prompt(expect="Password:", secret="pw"), Prompt(expect="Username:", answer="admin")))
    lines: list[str] = []
    result = Executor(kill_grace=1.0).run(s, secrets={"pw": SECRET}, log_path=tmp_path / "step.log",
                                          on_output=lines.append)
    assert result.ok and not result.answered_wrong, (result, lines)
    assert lines == ["Username: Password: admin/***"]


def test_a_prompt_is_answered_once_while_its_line_grows(tmp_path: Path) -> None:
    """The answered prompt stays in the pending partial line while more text joins it over several reads:
    it is not found (and answered) again."""
    s = step('printf "Continue? [y/N] "; read -r a; for i in 1 2 3 4 5; do printf "."; sleep 0.1; done; '
             'read -t 1 -r b; echo " a=$a b=${b:-none}"',
             prompts=(Prompt(expect=r"\[y/N\]", answer="y"),))
    result, lines = run(tmp_path, s)
    assert result.ok and not result.answered_wrong, (result, lines)
    assert lines == ["Continue? [y/N] ..... a=y b=none"]


def prompter(*rules: tuple[str, str], max_answers: int = 3) -> Prompter:
    return Prompter([Prompt(expect=e, answer=a) for e, a in rules], {}, max_answers)


def test_the_scanner_answers_every_occurrence_up_to_the_limit_then_stops() -> None:
    """The loop guard: ``max_answers`` answers to one prompt are fine, one more is a wrong-answer loop; after
    it nothing more is answered, not even another prompt found later in the same text."""
    p = prompter(("Password:", "pw"))
    assert p.scan("Password: Password: Password: ") == ["pw", "pw", "pw"] and not p.looping
    p = prompter(("Password:", "pw"), ("Token:", "tk"))
    assert p.scan("Password: Password: Password: Password: Token: ") == ["pw", "pw", "pw"]
    assert p.looping and p.scan("Token: ") == []
    p = prompter(("Name:", "n"), ("Password:", "pw"), max_answers=1)
    assert p.scan("Name: Password: ") == ["n", "pw"] and not p.looping  # counted per prompt


def test_the_scanner_goes_on_from_where_it_stopped() -> None:
    """The text is scanned once: the same text again (the partial line kept for the next read) finds
    nothing new; text passed on (``consumed``) moves the offset back, so what follows is still found."""
    p = prompter(("Name:", "n"), ("Password:", "pw"))
    text = "Name: "
    assert p.scan(text) == ["n"]
    assert p.scan(text) == []
    text += "Password: "
    assert p.scan(text) == ["pw"] and p.scan(text) == []
    p.consumed(len("Name: "))
    text = text[len("Name: "):] + "Name: "
    assert p.scan(text) == ["n"] and not p.looping


def test_a_zero_width_prompt_pattern_is_answered_once_per_occurrence() -> None:
    """A lookahead (``(?=Password)``) matches nothing: the scan still moves past it, so it is answered
    once where it occurs, not again and again at the same place until the loop guard stops everything."""
    p = prompter(("(?=Password)", "pw"))
    assert p.scan("Password: ") == ["pw"] and not p.looping
    assert p.scan("Password: ") == []


def test_rules_matching_at_the_same_place_the_first_declared_wins() -> None:
    p = prompter(("Pass", "first"), ("Password:", "second"))
    assert p.scan("Password: ") == ["first"]


# --- the closing summary of a cancelled step (_summary) -------------------------------------------------------

def summary(r: Result, extras: str) -> str:
    how = f"exit {r.exit_code}" if r.signal is None else f"signal {r.signal}"
    return f"[{how}{extras} after {r.duration:.2f}s, {r.lines} lines]"


def last_log_line(tmp_path: Path) -> str:
    return (tmp_path / "step.log").read_text().rstrip("\n").splitlines()[-1]


def test_the_summary_of_a_cancelled_step(tmp_path: Path) -> None:
    cancel = threading.Event()

    def on_output(line: str) -> None:
        if line == "ready":
            cancel.set()

    result = Executor(kill_grace=1.0).run(step("echo ready; sleep 30"), secrets={}, log_path=tmp_path / "step.log",
                                          on_output=on_output, cancel=cancel)
    assert result.cancelled and not result.timed_out and not result.answered_wrong
    assert result.lines == 1 and last_log_line(tmp_path) == summary(result, ", cancelled")


def test_the_summary_names_every_reason_a_step_was_stopped(tmp_path: Path) -> None:
    """A wrong-answer loop noticed and a cancel in the same pass (the listener cancels on the looping
    prompt's line, which it gets right after the scan found the loop): both are named, in order."""
    cancel = threading.Event()
    seen: list[str] = []

    def on_output(line: str) -> None:
        seen.append(line)
        if seen.count("Password:") == 4:
            cancel.set()

    s = step('for i in 1 2 3 4 5 6; do echo "Password:"; read -r p; done; sleep 30',
             prompts=(Prompt(expect="Password:", secret="pw"),))
    result = Executor(kill_grace=1.0).run(s, secrets={"pw": SECRET}, log_path=tmp_path / "step.log",
                                          on_output=on_output, cancel=cancel)
    assert result.cancelled and result.answered_wrong and not result.timed_out, result
    assert last_log_line(tmp_path) == summary(result, ", cancelled, wrong answer loop")


def test_lines_are_counted_across_reads(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step("echo a; sleep 0.3; echo b; sleep 0.3; echo c"))
    assert lines == ["a", "b", "c"] and result.lines == 3
    assert last_log_line(tmp_path) == summary(result, "")


# --- the question heuristic (_check_question) and the end of output (Splitter.finish) ------------------------

def test_a_question_on_a_complete_line_is_announced_once_and_redacted(tmp_path: Path) -> None:
    """The question is the last *complete* line (the output tail, nothing pending): found, redacted, announced
    once however long the silence lasts, then the step is stopped on it."""
    seen: list[str] = []
    s = step('echo "Use the password $PW for admin? [y/N]"; read -r x', secret_env={"PW": "pw"})
    result = Executor(kill_grace=1.0, question_idle=1.5, waiting_notice=0.2).run(
        s, secrets={"pw": SECRET}, log_path=tmp_path / "step.log", on_waiting=seen.append)
    assert result.timed_out == "input", result
    assert result.waiting == "Use the password *** for admin? [y/N]"
    assert seen == [result.waiting]


def test_a_step_silent_after_closing_its_output_is_not_a_question(tmp_path: Path) -> None:
    """After EOF (the step closed the pty) the executor still watches the running child; the question check
    then sees no pending text (``finish`` left it empty) and the step ends on its own."""
    seen: list[str] = []
    s = step("echo bye; exec >/dev/null 2>&1 </dev/null; sleep 1.5; exit 4")
    result = Executor(kill_grace=1.0, question_idle=0.6, waiting_notice=0.2).run(
        s, secrets={}, log_path=tmp_path / "step.log", on_waiting=seen.append)
    assert result.exit_code == 4 and not result.timed_out and seen == [], result
    assert result.tail == ["bye"]


def test_the_last_partial_line_is_a_line_with_an_unfinished_character_replaced(tmp_path: Path) -> None:
    result, lines = run(tmp_path, step(r"echo first; printf 'no end caf\xc3'"))
    assert result.ok and lines == ["first", "no end caf\ufffd"] and result.lines == 2


# --- the log file: appended to, not inherited by the step ---------------------------------------------------

def test_runs_append_to_one_log_and_the_step_does_not_inherit_it(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    run(tmp_path, step("echo first-run-output-that-is-long"))
    first = log.read_text()
    result, lines = run(tmp_path, step("ls -l /proc/$$/fd/"))
    assert result.ok
    assert not [x for x in lines if "step.log" in x], lines  # a daemon of the step would hold it open
    text = log.read_text()
    assert text.startswith(first) and len(text) > len(first)
    assert text.count("[exit 0 after ") == 2


def test_an_argument_that_is_not_utf8_is_logged_with_a_replacement(tmp_path: Path) -> None:
    """A file name from the disk may hold bytes that are not UTF-8 (``os.fsdecode``: a lone surrogate): the
    step runs with the raw bytes, and its log header shows a replacement instead of failing."""
    name = os.fsdecode(b"caf\xe9")
    s = Step(id="test.install.x", service="test", phase="install", name="x", argv=("printf", "%s\\n", name))
    result, lines = run(tmp_path, s)
    assert result.ok and lines == ["caf\ufffd"]
    header = (tmp_path / "step.log").read_bytes().split(b"\n", 1)[0]
    assert header.startswith(b"$ printf ") and b"caf?" in header


def test_a_process_that_escaped_the_kill_does_not_hold_a_stopped_step(tmp_path: Path) -> None:
    """A process that left the step's session, cleared its environment (no step marker) and was re-parented
    holds the pty but stays silent: after the timeout's kill the executor reads only until 50 ms of quiet,
    it does not wait for that process (20 s) to close the pty."""
    pidfile = tmp_path / "escaped.pid"
    s = step(f"setsid -f env -i /bin/sh -c 'echo $$ > {pidfile}; exec /bin/sleep 20'; "
             f"while [ ! -s {pidfile} ]; do sleep 0.05; done; echo ready; sleep 30", timeout=1.0)
    try:
        result, lines = run(tmp_path, s)
    finally:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert result.timed_out == "overall" and lines == ["ready"], result
    assert result.duration < 12, "the executor waited for the escaped `sleep 20` to close the pty"


def test_a_background_process_holding_the_terminal_keeps_running_after_a_successful_step(tmp_path: Path) -> None:
    """Only cancel, timeouts and a wrong-answer loop kill: when the step's own process exits normally, what it
    left running on the terminal (a daemon started without redirecting its output) is not killed."""
    pidfile = tmp_path / "bg.pid"
    # the daemon writes its pid once it ignores SIGHUP, and the step waits for that: else, on a loaded machine,
    # the step's exit can hang up the terminal before the background subshell has run its `trap`
    result, lines = run(tmp_path, step(f"(trap '' HUP; echo $BASHPID > {pidfile}; exec sleep 60) & "
                                       f"while [ ! -s {pidfile} ]; do sleep 0.02; done; echo started"))
    pid = int(pidfile.read_text())
    try:
        assert result.ok and lines == ["started"], result
        time.sleep(0.5)  # a kill would have been sent before run() returned; give it time to land
        proc = psutil.Process(pid)
        assert proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE, "the step's daemon was killed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
