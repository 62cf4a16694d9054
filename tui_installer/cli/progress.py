"""Plain, line-oriented rendering of engine events: for a log file, CI, or a terminal without the TUI.

It is one more client of the event stream: it receives the same records the TUI reads.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: print a "still running" line at most this often for a long step
HEARTBEAT = 15.0


class Printer:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self._step_started: dict[str, float] = {}
        self._last_line: dict[str, str] = {}
        self._last_print = time.monotonic()
        self._total = 0
        self._index: dict[str, int] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        handler = getattr(self, "on_" + event.get("type", ""), None)
        if handler:
            handler(event)

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.stream.write(f"[{_clock(elapsed)}] {text}\n")
        self.stream.flush()
        self._last_print = time.monotonic()

    def _pos(self, step: str) -> str:
        return f"[{self._index.get(step, 0)}/{self._total}]"

    def on_run_started(self, e: dict[str, Any]) -> None:
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
        if e["lines"]:
            self._last_line[e["step"]] = e["lines"][-1]
        self._heartbeat(e["step"])

    def on_resources(self, e: dict[str, Any]) -> None:
        if e.get("step"):
            self._heartbeat(e["step"])

    def _heartbeat(self, step: str) -> None:
        if time.monotonic() - self._last_print < HEARTBEAT or step not in self._step_started:
            return
        running = time.monotonic() - self._step_started[step]
        last = self._last_line.get(step, "").strip()[:100]
        self._print(f"      ... {step} running for {running:.0f}s" + (f": {last}" if last else ""))

    def on_step_finished(self, e: dict[str, Any]) -> None:
        self._print(f"  ok   {e['step']} ({e['duration']:.1f}s)")

    def on_step_skipped(self, e: dict[str, Any]) -> None:
        why = {"done": "done in an earlier run", "creates": "already there", "unless": "check says done",
               "user": "skipped after failure"}.get(e["reason"], e["reason"])
        self._print(f"  skip {e['step']} ({why})")

    def on_step_retrying(self, e: dict[str, Any]) -> None:
        self._print(f"  retry {e['step']}: attempt {e['attempt']} in {e['delay']:.0f}s")

    def on_step_failed(self, e: dict[str, Any]) -> None:
        self._print(f"  FAIL {e['step']}: {e['message']}")
        self._print(f"       log: {e['log']}")
        for line in e.get("tail", [])[-10:]:
            self.stream.write(f"       | {line}\n")
        self.stream.flush()

    def on_decision_needed(self, e: dict[str, Any]) -> None:
        self._print(f"  waiting for a decision on {e['step']}: tui-installer answer {e['step']} "
                    f"retry|skip|abort (or tui-installer attach)")

    def on_decision(self, e: dict[str, Any]) -> None:
        self._print(f"  decision on {e['step']}: {e['choice']} (by {e['by']})")

    def on_run_finished(self, e: dict[str, Any]) -> None:
        self._print(f"run {e['run']} finished: {e['state']} in {e['duration']:.1f}s")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"
