"""The Progress screen: a live view of one run, rebuilt from its event stream alone.

A worker thread follows ``events.jsonl`` and posts batches; only this (main) thread touches widgets.
The screen answers failures by writing decision files, notices a dead engine (free ``engine.lock``
while the run is unfinished) and offers to resume, and never runs install work itself.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, ProgressBar, RichLog, Static
from tui_installer.screens.failure import FailureScreen
from tui_installer.screens.messages import EditSettingsAndRetry, EngineStartFailed, ResumeInstall, RunStarted
from tui_installer.screens.runstate import RunState, fmt_duration, run_title, step_history
from tui_installer.screens.widgets.phases import HostSummary, PhaseList
from tui_installer.screens.widgets.resources import ResourcePanel
from tui_installer.screens.widgets.steps import StepList, log_tail

from tui_installer import client
from tui_installer.statedir import StateDir

STALL_SECONDS = 30.0
LOG_LINES = 1000
#: other running steps listed above the live log (the rest are counted)
MAX_ALSO = 3


class ProgressScreen(Screen[None]):
    BINDINGS = [
        Binding("f", "show_failure", "Failure", show=False),
        Binding("R", "resume", "Resume", show=False),
        Binding("u", "summary", "Summary"),  # not ``s``: that is Skip in the failure dialog over it
        Binding("l", "log_end", "Live output", show=False),
    ]

    # From the follower thread to this screen (only the main thread touches widgets).
    @dataclass
    class Started(Message):
        """The engine began run ``run``."""

        run: str

    @dataclass
    class StartFailed(Message):
        """The engine did not start: ``error`` says why."""

        error: str

    @dataclass
    class Events(Message):
        """A batch of event records; the first batch also carries the earlier runs' step durations."""

        batch: list[dict[str, Any]]
        history: dict[str, float] | None = None

    def __init__(self, state_dir: Path, *, run: str | None = None, launch: client.Launch | None = None,
                 stall_seconds: float = STALL_SECONDS, can_edit_settings: Callable[[], bool] = lambda: False) -> None:
        """``can_edit_settings`` tells whether the failure dialog may offer "edit settings and retry" (the
        app knows whether this run's settings can be loaded); it is asked each time the dialog opens."""
        super().__init__()
        self.can_edit_settings = can_edit_settings
        self.state_dir, self.run, self.launch = state_dir, run, launch
        self.state = RunState()
        self.history: dict[str, float] = {}
        self.stall_seconds = stall_seconds
        self.stop = threading.Event()
        self.failure_open: tuple[str, int] | None = None
        self.hidden: set[tuple[str, int]] = set()
        self.edit_after_abort = False
        self.log_step: str | None = None
        #: the step the operator selected in the step list: its log stays shown until ``l``
        self.pinned: str | None = None
        self.opened = time.time()
        self.engine_dead = False
        self.summary_shown = False

    def compose(self) -> ComposeResult:
        yield Label("tui-installer: starting the engine...", id="prog-title", classes="title")
        with Horizontal(id="prog-top"):
            with Vertical(id="phase-box") as box:
                box.border_title = "Phases"
                yield PhaseList(id="phases")
                yield HostSummary(id="host-summary")
                yield StepList(id="steps")
            with Vertical(id="step-box") as box:
                box.border_title = "Step"
                yield Label("", id="step-title")
                yield Label("", id="step-command")
                yield Static("", id="also-running")
                yield Static("", id="stall")
                yield Static("", id="engine-dead")
                yield RichLog(id="output", max_lines=LOG_LINES, markup=False, wrap=False, auto_scroll=True)
        with Horizontal(id="overall"):
            yield ProgressBar(id="bar", show_eta=False)
            yield Label("", id="eta")
        yield ResourcePanel()
        yield Footer()

    def on_mount(self) -> None:
        self.follow_run()
        self.set_interval(1.0, self.tick)

    def on_unmount(self) -> None:
        self.stop.set()

    # -- the follower (a thread: it only posts messages) -------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="follow")
    def follow_run(self) -> None:
        run = self.run
        if run is None:
            assert self.launch is not None
            try:
                run = client.wait_for_run(self.launch)
            except RuntimeError as exc:
                self.post_message(self.StartFailed(str(exc)))
                return
            self.post_message(self.Started(run))
        history = step_history(self.state_dir, exclude=run)
        first = True
        for batch in StateDir(self.state_dir).run(run).follow(self.stop):
            self.post_message(self.Events(batch, history if first else None))
            first = False

    def on_progress_screen_started(self, message: Started) -> None:
        self.run = message.run
        self.post_message(RunStarted(message.run))

    def on_progress_screen_start_failed(self, message: StartFailed) -> None:
        self.query_one("#prog-title", Label).update("The engine did not start.")
        dead = self.query_one("#engine-dead", Static)
        log = StateDir(self.state_dir).console_log
        dead.update(f"{message.error}\nIts whole output: {log}. Ctrl+Q quits.")
        dead.add_class("-visible")
        self.post_message(EngineStartFailed(message.error))

    def on_progress_screen_events(self, message: Events) -> None:
        if message.history is not None:
            self.history = message.history
        lines: list[str] = []
        for event in message.batch:
            kind = event.get("type")
            if kind == "step_started":
                lines = []
            elif kind == "decision":
                self.decision_arrived(event)
            new = self.state.apply(event)
            if kind == "step_started":
                self.log_step = None
            if self.state.switched is not None:  # the shown step ended, another still runs: its log
                self.state.switched = None
                if self.pinned is None:
                    self.show_step_log(self.state.current or "")
                lines = []
                continue
            lines.extend(new)
        self.show_step(lines)
        self.refresh_view()
        self.check_failure()
        if self.state.over:
            self.run_over()

    # -- rendering ---------------------------------------------------------------------------------
    def show_step(self, lines: list[str]) -> None:
        if self.pinned is not None:
            return  # the operator reads another step's log
        st = self.state.steps.get(self.state.current or "")
        out = self.query_one("#output", RichLog)
        if st is not None and self.log_step != st.id:
            out.clear()
            self.log_step = st.id
            self.show_step_header(st.id)
        for line in lines[-LOG_LINES:]:
            out.write(line)

    def show_step_header(self, step_id: str) -> None:
        st = self.state.steps[step_id]
        attempt = f" (attempt {st.attempt})" if st.attempt > 1 else ""
        duration = f" ({fmt_duration(st.duration)})" if st.duration is not None else ""
        where = f"{st.id.partition('@')[0]} on host {st.host}" if st.host else st.id
        self.query_one("#step-title", Label).update(f"{st.status} {where}{attempt}{duration}: {st.title}")
        self.query_one("#step-command", Label).update(f"$ {st.command}" if st.command else "")

    def show_step_log(self, step_id: str) -> None:
        """A step's whole output from its log file (the events carry only what came while following)."""
        if step_id not in self.state.steps or not self.state.run:
            return
        out = self.query_one("#output", RichLog)
        out.clear()
        self.log_step = step_id
        self.show_step_header(step_id)
        run = StateDir(self.state_dir).run(self.state.run)
        for line in log_tail(run, step_id, LOG_LINES) or [f"(no output: {self.state.steps[step_id].status})"]:
            out.write(line)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        """The operator moved in the step list: show that step (a rebuild of the list does not count)."""
        if event.option_list.id == "steps" and event.option_list.has_focus and event.option.id:
            self.pinned = event.option.id
            self.show_step_log(event.option.id)

    def show_also_running(self) -> None:
        """One line per other running step (steps run at once): its id, time and last output line."""
        also = self.query_one("#also-running", Static)
        others = [sid for sid in self.state.running if sid != self.state.current]
        if not others:
            also.remove_class("-visible")
            return
        now = time.time()
        rows = []
        for sid in others[-MAX_ALSO:]:
            st = self.state.steps.get(sid)
            took = fmt_duration(now - st.started) if st is not None and st.started else ""
            rows.append(f">> {sid} {took}: {self.state.recent.get(sid, '')}".rstrip(": "))
        more = len(others) - MAX_ALSO
        header = f"also running ({len(others)}" + (f", {more} not shown" if more > 0 else "") + "):"
        also.update(Text("\n".join([header, *rows])))
        also.add_class("-visible")

    def refresh_view(self) -> None:
        s = self.state
        if self.log_step in s.steps:  # its status and duration change while it stays shown (it ended)
            self.show_step_header(self.log_step)
        self.show_also_running()
        self.query_one("#phases", PhaseList).show(s)
        self.query_one("#host-summary", HostSummary).show(s)
        self.query_one("#steps", StepList).show(s)
        done, total = s.counts()
        bar = self.query_one("#bar", ProgressBar)
        bar.update(total=max(total, 1), progress=done)
        self.query_one("#eta", Label).update(self.eta_text(done, total))
        self.query_one(ResourcePanel).show(s.resources)
        self.query_one("#prog-title", Label).update(self.title_text())

    def title_text(self) -> str:
        s = self.state
        elapsed = s.duration if s.duration is not None else (time.time() - s.started if s.started else 0)
        state = {"failed": "FAILED", "aborted": "aborted"}.get(s.state, s.state)
        if s.state == "ok":
            skipped = len(s.skipped_undone)
            state = f"finished, {skipped} skipped" if skipped else "finished"
        if s.failure is not None and s.failure.needs_decision and not s.over:
            state = "waiting for your decision"
        if self.engine_dead:
            state = "ENGINE STOPPED"
        what = f"Remove host {s.node}" if s.kind == "remove-node" else run_title(s).replace(" of ", " ", 1)
        return f"{what} | {state} | {fmt_duration(elapsed)} | run {s.run}"  # the id may be cut

    def eta_text(self, done: int, total: int) -> str:
        text = f"{done}/{total} steps"
        if self.app.has_class("ascii"):  # the bar's glyphs do not exist on the Linux console
            filled = 20 * done // max(total, 1)
            text = f"[{'#' * filled}{'-' * (20 - filled)}] " + text
        if self.state.over:
            return text + " - u: summary"
        left = self.state.remaining(self.history)
        if left is None:
            return text + " | no estimate yet"
        return text + (f" | about {fmt_duration(left)} left" if left >= 1 else " | less than 1s left")

    def tick(self) -> None:
        if not self.state.run:
            return
        self.query_one("#phases", PhaseList).show(self.state)
        self.query_one("#prog-title", Label).update(self.title_text())
        done, total = self.state.counts()
        self.query_one("#eta", Label).update(self.eta_text(done, total))
        self.show_also_running()
        self.show_stall()
        self.check_engine()

    def show_stall(self) -> None:
        stall = self.query_one("#stall", Static)
        silent = self.state.silent_for()
        if silent < self.stall_seconds:
            stall.remove_class("-visible")
            return
        waiting = client.waiting_for(self.state.pid)
        what = f"waiting for: {waiting}" if waiting else "no child process is running"
        stall.update(f"No output for {fmt_duration(silent)}; {what}")
        stall.add_class("-visible")

    def check_engine(self) -> None:
        if self.state.over or time.time() - self.opened < 3 or client.engine_alive(self.state_dir):
            return
        if not self.engine_dead:
            self.engine_dead = True
            dead = self.query_one("#engine-dead", Static)
            dead.update(f"The engine (pid {self.state.pid}) stopped without finishing this run. "
                        "Press R to resume from the journal.")
            dead.add_class("-visible")
            self.query_one("#prog-title", Label).update(self.title_text())

    # -- failures and decisions --------------------------------------------------------------------
    def check_failure(self) -> None:
        f = self.state.failure
        if f is None or not f.needs_decision or self.failure_open or (f.step, f.attempt) in self.hidden:
            return
        if self.state.over:  # a finished run's history: nobody waits for this answer any more
            return
        self.failure_open = (f.step, f.attempt)
        run = StateDir(self.state_dir).run(self.state.run)
        self.app.push_screen(FailureScreen(f, run, can_edit=self.can_edit_settings()), self.answer)

    def answer(self, choice: str | None) -> None:
        key, self.failure_open = self.failure_open, None
        if key is None or choice is None:
            if key is not None:
                self.hidden.add(key)
            return
        if choice == "edit":
            self.edit_after_abort = True
        decision = "abort" if choice == "edit" else choice
        won, record = client.write_decision(self.state_dir, self.state.run, key[0], key[1], decision)
        if not won:
            self.notify(f"Another client answered first: {record.choice} (by {record.by})",
                        severity="warning", timeout=10)
            self.edit_after_abort = False

    def decision_arrived(self, event: dict[str, Any]) -> None:
        key = (str(event.get("step")), int(event.get("attempt", 1)))
        if self.failure_open == key and isinstance(self.app.screen, FailureScreen):
            self.failure_open = None
            self.app.pop_screen()
        f = self.state.failure
        pending = f is not None and f.needs_decision and (f.step, f.attempt) == key
        # only an answer given while this screen is open: replaying an attached run's history is silent
        fresh = float(event.get("ts") or 0) >= self.opened
        if pending and fresh and event.get("by") != f"tui:{os.getpid()}":
            self.notify(f"{key[0]}: answered {event.get('choice')} by {event.get('by')}", timeout=10)

    def action_show_failure(self) -> None:
        f = self.state.failure
        if f is not None:
            self.hidden.discard((f.step, f.attempt))
            self.check_failure()

    # -- end of run, resume, summary ---------------------------------------------------------------
    def run_over(self) -> None:
        self.query_one("#stall", Static).remove_class("-visible")
        if self.pinned is None and (self.log_step is None or self.is_attached_replay):
            self.show_last_step()
        if self.edit_after_abort:
            self.edit_after_abort = False
            self.post_message(EditSettingsAndRetry())
        elif self.state.finished_ok and not self.summary_shown and self.is_current:
            self.summary_shown = True
            self.action_summary()

    def action_summary(self) -> None:
        if not self.state.run:
            return
        from tui_installer.screens.summary import SummaryScreen

        self.app.push_screen(SummaryScreen(self.state_dir, self.state))

    def action_resume(self) -> None:
        if self.engine_dead:
            self.post_message(ResumeInstall(self.state.run))

    @property
    def is_attached_replay(self) -> bool:
        """This screen opened on a run that was already over: nothing was shown live."""
        return self.state.finished is not None and float(self.state.finished) < self.opened

    def show_last_step(self) -> None:
        """A run seen only when over: show the failed step, else the last one that ran, selected in
        the step list so Up/Down go on from there."""
        step = self.state.step_to_show()
        if step is None:
            return
        steps = self.query_one("#steps", StepList)
        steps.show(self.state)
        steps.select_step(step)
        self.show_step_log(step)

    def action_log_end(self) -> None:
        """Back to the live step's output, at its newest line."""
        if self.pinned is not None:
            self.pinned = None
            if self.state.current:
                self.show_step_log(self.state.current)
        self.query_one("#output", RichLog).scroll_end(animate=False)

    @property
    def install_running(self) -> bool:
        return bool(self.state.run) and not self.state.over and not self.engine_dead
