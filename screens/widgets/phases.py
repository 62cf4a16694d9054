"""The phase list of the Progress screen: one line per phase with its state, step count and time."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static
from tui_installer.screens.runstate import RunState, fmt_duration

#: ASCII-only markers: they read the same on the Linux console as in any terminal
MARKS = {"pending": ("  ", "dim"), "running": (">>", "bold yellow"), "ok": ("ok", "green"),
         "failed": ("!!", "bold red"), "skipped": ("--", "dim"), "partial": ("sk", "bold yellow")}


class PhaseList(Static):
    """Phases with state and duration, rebuilt from a :class:`RunState` (cheap: a dozen lines)."""

    def show(self, state: RunState) -> None:
        self.update(render_phases(state))


def render_phases(state: RunState, now: float | None = None) -> Text:
    text = Text()
    undone = set(state.skipped_undone)
    for phase in state.phases.values():
        steps = [state.steps[s] for s in phase.steps if s in state.steps]
        done = sum(1 for s in steps if s.status in ("ok", "skipped"))
        status = phase.status
        if status == "ok" and any(s.id in undone for s in steps):
            status = "partial"  # a step was skipped after failing: the phase did not do all its work
        elif status == "ok" and steps and all(s.status == "skipped" for s in steps):
            status = "skipped"
        mark, style = MARKS.get(status, ("  ", ""))
        duration = phase.duration
        if status == "running" and phase.started:
            duration = (now or time.time()) - phase.started
        text.append(f"{mark} ", style)
        text.append(f"{phase.name:<10}", style if status != "pending" else "dim")
        text.append(f"{done:>3}/{len(steps):<3}", "dim")
        text.append(f"{fmt_duration(duration):>6}\n")
    return text


class HostSummary(Static):
    """Per host: steps done, running, failed (a run on inventory hosts; hidden for one host)."""

    def show(self, state: RunState) -> None:
        counts = state.host_counts()
        self.display = bool(counts)
        if counts:
            self.update(render_hosts(counts))


def render_hosts(counts: dict[str, dict[str, int]]) -> Text:
    """``host      done/all  >>running !!failed``, one line per host: 26 columns (the phase box's)."""
    text = Text()
    for host, c in counts.items():
        name = host if len(host) <= 9 else host[:8] + "~"
        failed, running = c["failed"], c["running"]
        state = "bold red" if failed else ("bold yellow" if running else ("green" if c["done"] == c["total"] else ""))
        text.append(f"{name:<9} ", state)
        text.append(f"{c['done']:>3}/{c['total']:<3}", "dim")
        text.append(f" >>{running}" if running else "    ", "bold yellow")
        text.append(f" !!{failed}" if failed else "", "bold red")
        text.append("\n")
    text.rstrip()
    return text
