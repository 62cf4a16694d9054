"""The step list of the Progress screen: every step of the run with its state and time.

Selecting a step (Up/Down once the list has the focus) shows that step's output from its log file, so
a finished run, or one attached to later, can be read step by step; ``l`` goes back to the live step.
"""

from __future__ import annotations

from textual.widgets.option_list import Option
from tui_installer.screens.runstate import RunState, StepState, fmt_duration
from tui_installer.screens.widgets.marked import MarkedOptionList

from tui_installer.statedir import DONE_REASONS, RunFiles

#: text marks: the state reads on a monochrome terminal and in a screen capture
MARKS = {"pending": "  ", "running": ">>", "retrying": ">>", "ok": "ok", "failed": "!!"}
NAME_WIDTH = 16


def mark(step: StepState) -> str:
    if step.status == "skipped":
        return "--" if step.reason in DONE_REASONS else "sk"
    return MARKS.get(step.status, "  ")


def row(step: StepState) -> str:
    """`` ok service.name   12s``; a step on an inventory host ends its name with ``@host`` (the host
    kept whole up to 8 characters, the name cut first)."""
    service, _, rest = step.id.partition("@")[0].partition(".")
    name = f"{service}.{rest.partition('.')[2] or rest}"
    suffix = f"@{step.host if len(step.host) <= 8 else step.host[:7] + '~'}" if step.host else ""
    room = NAME_WIDTH - 1 - len(suffix) if suffix else NAME_WIDTH  # a long run's scrollbar takes a column
    if len(name) > room:
        name = name[:room - 1] + "~"
    width = NAME_WIDTH - 1 if suffix else NAME_WIDTH
    return f" {mark(step)} {name + suffix:<{width}}{fmt_duration(step.duration):>6}"  # cell 0: the cursor


class StepList(MarkedOptionList):
    """Rebuilt from a :class:`RunState` only when a row changed (a hundred rows, many batches)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, compact=True, markup=False)
        self.rows: list[tuple[str, str]] = []

    def show(self, state: RunState) -> None:
        rows = [(st.id, row(st)) for st in state.steps.values()]
        if rows == self.rows:
            return
        keep = self.highlighted
        self.rows = rows
        self.set_options([Option(text, id=step_id) for step_id, text in rows])
        if keep is not None and keep < len(rows):
            self.highlighted = keep

    def select_step(self, step_id: str) -> None:
        index = next((i for i, (sid, _) in enumerate(self.rows) if sid == step_id), None)
        if index is not None:
            self.highlighted = index


def log_tail(run: RunFiles, step_id: str, lines: int) -> list[str]:
    """The last ``lines`` lines of a step's log file (already redacted by the engine); none if absent."""
    try:
        text = run.step_log(step_id).read_text(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
