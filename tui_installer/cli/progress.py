"""Plain, line-oriented rendering of engine events: for a log file, CI, or a terminal without the TUI.

It is one more client of the event stream: it receives the same records the TUI reads. Every line
also goes to the run's console log (``runs/<id>/console.log``), and when the terminal goes away (SSH
dropped, tmux killed: ``EIO``; a reader such as ``| head -1`` gone: ``EPIPE``) the printer stops
writing to it and points the process's stdout and stderr at that log: the install goes on, and
``status`` names the log to read.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tui_installer.errors import UserError
from tui_installer.journal import DONE_REASONS, finished_verdict
from tui_installer.statedir import StateDir

#: print a "still running" line at most this often for a long step
HEARTBEAT = 15.0


class Printer:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream: TextIO | None = stream or sys.stdout
        self.console: int | None = None
        self.started = time.monotonic()
        self._step_started: dict[str, float] = {}
        self._last_line: dict[str, str] = {}
        self._waiting: dict[str, str] = {}
        self._last_print = time.monotonic()
        self._total = 0
        self._index: dict[str, int] = {}
        self._skipped: list[str] = []

    def __call__(self, event: dict[str, Any]) -> None:
        handler = getattr(self, "on_" + event.get("type", ""), None)
        if handler:
            handler(event)

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self._write(f"[{_clock(elapsed)}] {text}\n")
        self._last_print = time.monotonic()

    def _write(self, text: str) -> None:
        if self.console is not None:
            try:
                os.write(self.console, text.encode("utf-8", "replace"))
            except OSError:
                pass  # a full disk: the journal's write ends the run with its own line
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # EIO (terminal gone), EPIPE (reader gone), closed stream
            self._lost_terminal()

    def _open_console(self, state_dir: str, run: str) -> None:
        try:
            self.console = StateDir(Path(state_dir)).run(run).open_console()
        except (OSError, UserError):
            self.console = None

    def _lost_terminal(self) -> None:
        """From now on write only to the console log; stdout and stderr point there too, so a later
        ``print`` (or the interpreter's flush at exit) cannot fail and stop the install."""
        lost, self.stream = self.stream, None
        if self.console is not None:
            os.write(self.console, b"[terminal lost: output goes on in this log]\n")
        if lost is not sys.stdout:
            return  # a stream of our caller's (a test): not the process's terminal
        target = self.console if self.console is not None else os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            try:
                os.dup2(target, fd)
            except OSError:
                pass

    def _pos(self, step: str) -> str:
        return f"[{self._index.get(step, 0)}/{self._total}]"

    def on_run_started(self, e: dict[str, Any]) -> None:
        if e.get("state_dir"):
            self._open_console(e["state_dir"], e["run"])
        ids = [s for phase in e["phases"] for s in phase["steps"]]
        self._total, self._index = len(ids), {s: i + 1 for i, s in enumerate(ids)}
        resumed = f", resuming from run {e['resumed_from']}" if e.get("resumed_from") else ""
        self._print(f"run {e['run']}: {e.get('kind', 'install')} of profile {e['profile']}, "
                    f"{self._total} steps{resumed}")

    def on_phase_started(self, e: dict[str, Any]) -> None:
        self._print(f"==> phase {e['phase']}")

    def on_phase_finished(self, e: dict[str, Any]) -> None:
        self._print(f"<== phase {e['phase']} done in {e['duration']:.1f}s")

    def on_step_started(self, e: dict[str, Any]) -> None:
        self._step_started[e["step"]] = time.monotonic()
        again = f" (attempt {e['attempt']})" if e.get("attempt", 1) > 1 else ""
        self._print(f"  {self._pos(e['step'])} {e['step']}: {e['title']}{again}")

    def on_output(self, e: dict[str, Any]) -> None:
        self._waiting.pop(e["step"], None)
        if e["lines"]:
            self._last_line[e["step"]] = e["lines"][-1]
        self._heartbeat(e["step"])

    def on_resources(self, e: dict[str, Any]) -> None:
        running = e.get("steps") or ([e["step"]] if e.get("step") else [])
        if running and time.monotonic() - self._last_print >= HEARTBEAT:
            for step in running:  # steps at once: a "still running" line for each
                self._heartbeat(step, force=True)

    def _heartbeat(self, step: str, force: bool = False) -> None:
        quiet = force or time.monotonic() - self._last_print >= HEARTBEAT
        if not quiet or step not in self._step_started:
            return
        running = time.monotonic() - self._step_started[step]
        if step in self._waiting:
            self._print(f"      ... {step} running for {running:.0f}s, waiting for input: `{self._waiting[step]}`")
            return
        last = self._last_line.get(step, "").strip()[:100]
        self._print(f"      ... {step} running for {running:.0f}s" + (f": {last}" if last else ""))

    def on_step_waiting(self, e: dict[str, Any]) -> None:
        """Silent on a question (the executor's heuristic): shown at once, and in "still running"."""
        self._waiting[e["step"]] = e["line"]
        running = time.monotonic() - self._step_started.get(e["step"], time.monotonic())
        self._print(f"      ... {e['step']} running for {running:.0f}s, waiting for input: `{e['line']}`")

    def on_step_finished(self, e: dict[str, Any]) -> None:
        self._print(f"  ok   {e['step']} ({e['duration']:.1f}s)")

    def on_step_skipped(self, e: dict[str, Any]) -> None:
        why = {"done": "done in an earlier run", "creates": "already there", "unless": "check says done",
               "user": "skipped after failure"}.get(e["reason"], e["reason"])
        self._print(f"  skip {e['step']} ({why})")
        if e["reason"] not in DONE_REASONS and e["step"] not in self._skipped:
            self._skipped.append(e["step"])

    def on_step_retrying(self, e: dict[str, Any]) -> None:
        self._print(f"  retry {e['step']}: attempt {e['attempt']} in {e['delay']:.0f}s")

    def on_step_failed(self, e: dict[str, Any]) -> None:
        self._print(f"  FAIL {e['step']}: {e['message']}")
        self._print(f"       log: {e['log']}")
        self._write("".join(f"       | {line}\n" for line in e.get("tail", [])[-10:]))

    def on_decision_needed(self, e: dict[str, Any]) -> None:
        self._print(f"  waiting for a decision on {e['step']}: tui-installer answer {e['step']} "
                    f"retry|skip|abort (or tui-installer attach)")

    def on_decision(self, e: dict[str, Any]) -> None:
        self._print(f"  decision on {e['step']}: {e['choice']} (by {e['by']})")

    def on_run_finished(self, e: dict[str, Any]) -> None:
        took = f"in {e['duration']:.1f}s"
        if e["state"] == "ok" and self._skipped:  # a skipped step did not do its work: never "ok"
            self._print(f"run {e['run']} {finished_verdict(self._skipped).replace(':', f' {took}:', 1)}")
            return
        self._print(f"run {e['run']} finished: {e['state']} {took}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"
